//! The device, its queue and the compiled kernels, built once and shared by every fit.

use std::sync::Arc;

use super::shaders::{Kernel, Variant};
use crate::backend::GpuOptions;
use crate::error::{Error, Result};

/// A GPU device ready to fit: device, queue, adapter description and the four compiled kernels.
///
/// Cloning is cheap (the device is shared). Build one with [`GpuContext::new`] (scalemix picks
/// an adapter, honouring `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF`), or wrap a
/// device the application already has with [`GpuContext::from_device`].
#[derive(Clone)]
pub struct GpuContext {
    pub(super) inner: Arc<Inner>,
    pub(super) max_binding_bytes: u64,
}

pub(super) struct Inner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: wgpu::AdapterInfo,
    /// Whether the kernels accumulate in f64.
    pub f64: bool,
    /// Whether the adapter offers `SHADER_F64` (whether or not the kernels use it).
    pub adapter_f64: bool,
    pub storage_alignment: u64,
    pub kernels: [Pipeline; Kernel::COUNT],
}

/// One compiled kernel.
pub(super) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.inner.adapter.name)
            .field("backend", &self.inner.adapter.backend)
            .field("f64", &self.inner.f64)
            .field("max_binding_bytes", &self.max_binding_bytes)
            .finish()
    }
}

fn backend_error(reason: impl std::fmt::Display) -> Error {
    Error::Backend { backend: "gpu".into(), reason: reason.to_string() }
}

impl GpuContext {
    /// Picks an adapter (high-performance preference; `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
    /// `WGPU_POWER_PREF` are honoured), opens a device with the adapter's own limits and compiles
    /// the kernels.
    ///
    /// # Errors
    /// [`Error::Backend`] with wgpu's reason when no adapter is found, the device cannot be
    /// opened or a kernel fails to compile.
    pub fn new(options: GpuOptions) -> Result<Self> {
        pollster::block_on(async {
            let instance = wgpu::Instance::new(
                wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
            );
            let adapter = match wgpu::util::initialize_adapter_from_env(&instance, None).await {
                Ok(named) => named,
                Err(_) => instance
                    .request_adapter(&wgpu::RequestAdapterOptions {
                        power_preference: wgpu::PowerPreference::from_env()
                            .unwrap_or(wgpu::PowerPreference::HighPerformance),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| backend_error(format!("no GPU adapter: {e}")))?,
            };
            let wanted = if options.use_f64 {
                adapter.features() & wgpu::Features::SHADER_F64
            } else {
                wgpu::Features::empty()
            };
            let (device, queue) = adapter
                .request_device(&wgpu::DeviceDescriptor {
                    label: Some("scalemix"),
                    required_features: wanted,
                    required_limits: adapter.limits(),
                    ..Default::default()
                })
                .await
                .map_err(|e| {
                    backend_error(format!("cannot open {}: {e}", adapter.get_info().name))
                })?;
            // Every call scalemix makes runs inside error scopes; this only keeps an error that
            // escapes one from reaching wgpu's default handler, which panics.
            device.on_uncaptured_error(std::sync::Arc::new(|e| log::error!("wgpu: {e}")));
            let adapter_f64 = adapter.features().contains(wgpu::Features::SHADER_F64);
            Self::build(device, queue, adapter.get_info(), adapter_f64, options).await
        })
    }

    /// Wraps a device and queue the application already has. The f64 kernels are used when
    /// `options.use_f64` is set and the device was opened with `SHADER_F64`.
    ///
    /// # Errors
    /// [`Error::Backend`] when a kernel fails to compile on this device.
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: GpuOptions,
    ) -> Result<Self> {
        let info = device.adapter_info();
        let adapter_f64 = device.features().contains(wgpu::Features::SHADER_F64);
        pollster::block_on(Self::build(device, queue, info, adapter_f64, options))
    }

    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter: wgpu::AdapterInfo,
        adapter_f64: bool,
        options: GpuOptions,
    ) -> Result<Self> {
        let f64 = options.use_f64 && device.features().contains(wgpu::Features::SHADER_F64);
        let variant = if f64 { Variant::F64 } else { Variant::F32 };
        let limits = device.limits();
        // A validation error inside the scope (a kernel the device rejects) becomes an Err.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let kernels = Kernel::ALL.map(|kernel| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.name()),
                source: wgpu::ShaderSource::Wgsl(kernel.source(variant).into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name()),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            Pipeline { pipeline, layout }
        });
        if let Some(error) = scope.pop().await {
            return Err(backend_error(format!("a kernel failed to compile: {error}")));
        }
        let device_limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            // Keep every element index inside u32 (the kernels index with u32).
            .min(u64::from(u32::MAX));
        let max_binding_bytes = options.max_binding_bytes.unwrap_or(device_limit).min(device_limit);
        Ok(Self {
            inner: Arc::new(Inner {
                device,
                queue,
                adapter,
                f64,
                adapter_f64,
                storage_alignment: u64::from(limits.min_storage_buffer_offset_alignment),
                kernels,
            }),
            max_binding_bytes,
        })
    }

    /// The adapter's name, e.g. `"NVIDIA H200"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub fn adapter_name(&self) -> &str {
        &self.inner.adapter.name
    }

    /// The adapter's description as wgpu reports it (name, vendor, driver, graphics API, type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.adapter
    }

    /// Whether the kernels accumulate sums in f64 (`SHADER_F64` present and allowed).
    pub fn uses_f64(&self) -> bool {
        self.inner.f64
    }

    /// Whether the adapter offers `SHADER_F64` (for a device given to
    /// [`GpuContext::from_device`]: whether the device was opened with it), whether or not these
    /// kernels use it.
    pub fn adapter_has_f64(&self) -> bool {
        self.inner.adapter_f64
    }

    /// Whether the adapter is a software rasterizer on the CPU (e.g. lavapipe): correct, but
    /// never faster than the CPU backend.
    pub fn is_software(&self) -> bool {
        self.inner.adapter.device_type == wgpu::DeviceType::Cpu
    }

    /// The largest storage buffer bound at once, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.max_binding_bytes
    }

    /// The same device and kernels with a lower binding limit (for X split into more slices).
    pub fn with_max_binding_bytes(&self, bytes: u64) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            max_binding_bytes: bytes.min(self.max_binding_bytes),
        }
    }

    /// A one-line description for fit results and logs.
    pub fn describe(&self) -> String {
        let a = &self.inner.adapter;
        format!(
            "{} ({:?}, {}, {} sums)",
            a.name,
            a.backend,
            if a.driver.is_empty() { "driver unknown" } else { a.driver.as_str() },
            if self.inner.f64 { "f64" } else { "f32" }
        )
    }
}

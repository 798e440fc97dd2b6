//! [`GpuBackend`]: one problem's data on the device, and one E-step per call.
//!
//! Setup (once per fit): X is converted to f32 row-major (with a column of ones appended when
//! an intercept is fitted) and uploaded in row slices that each fit the binding limit; the
//! per-row inputs (y, w) and outputs (the E-step's [`RowStats`]-shaped records) are single
//! buffers bound per slice at the slice's offset. Every bind group and parameter block is built
//! here, so an evaluation only uploads θ, records the dispatches, submits once and reads back
//! once.
//!
//! Per evaluation: estep → gradient (→ gram) for each slice, then the fixed-order Gram
//! reduction; the gradient's block partials and the reduced Gram tiles come back in one
//! mapped buffer and are finished in f64 here.
//!
//! A sparse design goes up as CSR (values in f32, u32 columns and row offsets) plus a CSC copy
//! made once on the host, O(nnz) device memory, never n × p: the E-step runs on each row's
//! stored entries (estep_sparse.wgsl), the gradient on each column's (gradient_sparse.wgsl,
//! one invocation per column: no atomics). The Gram matrix is d × d and dense whatever X's
//! sparsity, so it is tiled as for a dense design, over row slices that densify.wgsl writes
//! into one scratch buffer of at most [`SPARSE_SCRATCH_BYTES`] before gram.wgsl reads them.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use wgpu::util::DeviceExt;

use super::context::{GpuContext, Inner};
use super::layout::{
    self, EstepParams, GradientParams, GramParams, ReduceParams, RowStats, SparseParams,
};
use super::shaders::Kernel;
use crate::backend::{Backend, BackendInfo, Needs, Stats};
use crate::data::Problem;
use crate::error::{Error, Result};
use crate::family::RESIDUAL_FLOOR;

/// Bytes of one E-step record per row ([`RowStats`]).
const ROW_STATS_BYTES: u64 = std::mem::size_of::<RowStats>() as u64;
/// Bytes of one (y, w, offset, 0) record.
const YW_BYTES: u64 = 16;
/// The Gram kernel's tile side and rows per step, as sizes (declared in `layout.rs`).
const TILE: usize = layout::TILE as usize;
const GRAM_STEP: usize = layout::STEP as usize;
/// Slots per workgroup of the gradient kernel, as a size.
const GRADIENT_GROUP: usize = layout::GRADIENT_GROUP as usize;
/// The gradient's row blocks: about this many in all, so the read-back stays O(256 · p) while
/// every block still has enough rows to keep the GPU busy.
const GRADIENT_BLOCKS: usize = 256;
const GRADIENT_MIN_BLOCK_ROWS: usize = 32;
/// Aim for about this many Gram workgroups (tile pairs × row splits) to fill a large GPU…
const GRAM_TARGET_GROUPS: usize = 2048;
/// …without the per-split partial tiles taking more than this much device memory.
const GRAM_PARTIAL_BYTES: usize = 64 << 20;
/// Largest workgroup count along one dispatch dimension (WebGPU's limit).
const MAX_GROUPS: u32 = 65_535;
/// The scratch buffer of a sparse design's densified row slices (the Gram's input) holds at most
/// this many bytes (fewer where the binding limit is lower).
const SPARSE_SCRATCH_BYTES: usize = 64 << 20;
/// f32 unit roundoff.
const F32_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;
/// Roundings per summed term: X and θ stored in f32, the product, and the E-step's f32
/// transcendental functions (≤ 2 ulp), each ≤ 1 unit roundoff of the term's error scale
/// (estep.wgsl). Their errors have random signs, so a sum's error is about ε √(Σ scale²) per
/// rounding; four roundings per term, taken in the worst case as all adding up.
const ROUNDINGS_PER_TERM: f64 = 4.0;
/// What does not average out: the E-step's f32 functions (exp, log, tanh, division) may err in
/// the same direction in every row, so their error adds up linearly over a sum's terms,
/// ε Σ |term| per ulp of bias. WGSL bounds those functions at 2.5 to 3 ulp on the ranges the
/// E-step uses; the terms' sums are scaled by this many ulps (llvmpipe, measured on the sparse
/// statistics tests where the quadrature part is small: up to about 1).
const FUNCTION_BIAS_ULPS: f64 = 2.0;

/// One row slice of X with its ready-made bind groups.
struct Slice {
    /// A dense slice's E-step and gradient ([`SparseRows`] computes a sparse design's for all
    /// rows at once).
    dense: Option<DenseSlice>,
    /// A sparse design's slice: the bind group that writes its rows dense into the scratch
    /// buffer its Gram reads.
    densify: Option<wgpu::BindGroup>,
    /// Rows per workgroup grid of the densify dispatch.
    rows_groups: (u32, u32),
    gram: wgpu::BindGroup,
    gram_splits: u32,
    /// The slice's first row and rows.
    start: usize,
    rows: usize,
}

/// The E-step and gradient of one slice of a dense design.
struct DenseSlice {
    /// Bind groups of the E-step writing ω̂ (index 0) or ℓ'' (index 1).
    estep: [wgpu::BindGroup; 2],
    gradient: wgpu::BindGroup,
    gradient_blocks: u32,
    /// This slice's rows of X (f32, row-major): kept for the bind groups, and written again by
    /// [`GpuBackend::reload`].
    x: wgpu::Buffer,
}

/// A sparse design's E-step and gradient, each one dispatch over all rows or columns.
struct SparseRows {
    /// Bind groups of the E-step writing ω̂ (index 0) or ℓ'' (index 1).
    estep: [wgpu::BindGroup; 2],
    estep_groups: (u32, u32),
    gradient: wgpu::BindGroup,
    gradient_groups: (u32, u32),
}

/// A sparse design on the device: CSR for the E-step and the densified slices, CSC for the
/// gradient, and the scratch buffer the slices are densified into.
struct SparseBuffers {
    csr: [wgpu::Buffer; 3],
    csc: [wgpu::Buffer; 3],
    scratch: wgpu::Buffer,
}

/// An evaluation submitted to the device whose results are not read back yet
/// ([`GpuBackend::begin_evaluate`]).
pub(crate) struct Submitted {
    read_bytes: u64,
    index: wgpu::SubmissionIndex,
    gram: bool,
}

/// The GPU backend: SM-EM's E-step, gradient and weighted Gram in WGSL (see the module docs).
pub struct GpuBackend {
    context: GpuContext,
    /// Columns on the device: p, plus one with an intercept.
    cols: usize,
    /// W as the device sees it: the problem's W times `weight_scale`.
    weight_sum: f64,
    /// The factor the weights are scaled by before they become f32 (n / Σ wᵢ: mean weight 1),
    /// so any overall scale of the caller's weights gives the same f32 values and the same fit
    /// (the objective divides by W, so it does not change).
    weight_scale: f64,
    theta: wgpu::Buffer,
    slices: Vec<Slice>,
    /// A sparse design's E-step and gradient (`None`: dense, per slice).
    sparse: Option<SparseRows>,
    gradient_partial: wgpu::Buffer,
    gradient_blocks: usize,
    /// Rows per gradient block, for the error scale of f32 sums.
    gradient_block_rows: usize,
    tiles: usize,
    pairs: usize,
    reduce: wgpu::BindGroup,
    reduce_groups: (u32, u32),
    gram_out: wgpu::Buffer,
    staging: wgpu::Buffer,
    theta_f32: Vec<f32>,
    /// The E-step's per-row records (written by the host instead in [`GpuBackend::gram_with_weights`]).
    rows: wgpu::Buffer,
    /// (y, w, offset, 0) per row.
    inputs: wgpu::Buffer,
    rows_count: usize,
    _keep: Vec<wgpu::Buffer>,
}

/// What one submission computes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// E-step (with ω̂, or ℓ'' when `curvature` is 1) and gradient, plus S when `gram` is set.
    Estep { curvature: usize, gram: bool },
    /// S alone, from row weights the host has written.
    GramOnly,
}

fn backend_error(reason: impl std::fmt::Display) -> Error {
    Error::Backend { backend: "gpu".into(), reason: reason.to_string() }
}

/// A value the f32 kernels cannot hold: named, not silently turned into ±inf.
fn out_of_f32_range(what: &str, value: f64) -> Error {
    backend_error(format!(
        "{what} = {value:e} is outside the f32 range of the GPU kernels ({:e} ≤ |v| ≤ {:e}, or 0); \
         rescale the data or use the CPU backend",
        f32::MIN_POSITIVE,
        f32::MAX
    ))
}

fn to_f32(value: f64, what: impl FnOnce() -> String) -> Result<f32> {
    let v = value as f32;
    if v.is_finite() { Ok(v) } else { Err(out_of_f32_range(&what(), value)) }
}

/// A data value (X, y, an offset) as f32: beyond f32's range is an error as in [`to_f32`], and
/// so is a nonzero value that f32 can only hold as a subnormal or as zero (below about 1.2e-38),
/// since that silently changes the data the kernels fit.
fn data_to_f32(value: f64, what: impl FnOnce() -> String) -> Result<f32> {
    let v = value as f32;
    if v.is_normal() || value == 0.0 { Ok(v) } else { Err(out_of_f32_range(&what(), value)) }
}

/// A 1-D count of workgroups as a grid within the per-dimension limit (x · y ≥ count).
fn grid(count: usize) -> (u32, u32) {
    let count = count.max(1);
    let x = count.min(MAX_GROUPS as usize);
    (x as u32, count.div_ceil(x) as u32)
}

/// How one problem is laid out on the device: the sizes and counts of every dispatch, from the
/// problem's shape and the device's limits, before anything is allocated.
struct Layout {
    n: usize,
    /// Columns on the device: p, plus one with an intercept.
    cols: usize,
    /// Columns of X: p.
    features: usize,
    /// estep.wgsl's family code and its parameters (a, b) in f32.
    family: u32,
    a: f32,
    b: f32,
    /// Rows per slice of X (each slice bound at once), and each slice's first row.
    slice_rows: usize,
    slice_starts: Vec<usize>,
    /// Gram tiles per side, and the tile pairs of its upper triangle.
    tiles: usize,
    pairs: usize,
    gradient_block_rows: usize,
    gram_split_rows: usize,
    /// Gradient blocks and Gram splits over all slices.
    gradient_blocks: usize,
    gram_splits: usize,
    /// Bytes of one accumulator (f64 sums where the device has them).
    acc_bytes: u64,
    /// Whether X is sparse (CSR on the device; slices are densified for the Gram only).
    sparse: bool,
}

impl Layout {
    /// The layout of `problem` on `context`'s device.
    ///
    /// # Errors
    /// [`Error::Backend`] for a family parameter beyond f32, a row too wide for the binding
    /// limit, or more Gram tile pairs than one dispatch allows.
    fn new(context: &GpuContext, problem: &Problem<'_>, intercept: bool) -> Result<Self> {
        let ctx = &context.inner;
        let (n, p) = (problem.nrows(), problem.ncols());
        let cols = p + usize::from(intercept);
        let (family, a, b) = problem.family.gpu_code();
        // The family's parameters must stay normal numbers in f32: ν or σ beyond its range or
        // below its smallest normal would make the kernel divide by zero or infinity.
        let parameter = |value: f64, name: &str| -> Result<f32> {
            let v = to_f32(value, || format!("the family parameter {name}"))?;
            if v == 0.0 && value == 0.0 || v.is_normal() {
                Ok(v)
            } else {
                Err(out_of_f32_range(&format!("the family parameter {name}"), value))
            }
        };
        let (a, b) = (parameter(a, "a (q or ν)")?, parameter(b, "b (σ)")?);

        // Slices: as many rows as fit the binding limit, in whole multiples of the rows that
        // keep every per-row binding offset aligned.
        let quantum = (ctx.storage_alignment / 4).max(1) as usize;
        let sparse = problem.x.is_sparse();
        let limit = if sparse {
            // A sparse design's slices are densified one at a time into one scratch buffer.
            (context.max_binding_bytes as usize).min(SPARSE_SCRATCH_BYTES)
        } else {
            context.max_binding_bytes as usize
        };
        let by_x = limit / (cols * 4);
        let by_rows = limit / ROW_STATS_BYTES as usize;
        let slice_rows = by_x.min(by_rows) / quantum * quantum;
        if slice_rows == 0 {
            return Err(backend_error(format!(
                "{quantum} rows of X ({cols} columns in f32) exceed the storage binding limit of \
                 {limit} bytes"
            )));
        }
        let slice_rows = slice_rows.min(n.next_multiple_of(quantum));

        let tiles = cols.div_ceil(TILE);
        let pairs = tiles * (tiles + 1) / 2;
        if pairs > MAX_GROUPS as usize {
            return Err(backend_error(format!(
                "{cols} columns need {pairs} Gram tile pairs, more than one dispatch allows \
                 ({MAX_GROUPS})"
            )));
        }
        // A sparse design's gradient is one record: each column's (and the intercept's and
        // the loss's) sum runs over up to n rows in sequence.
        let gradient_block_rows = if sparse {
            n.max(1)
        } else {
            n.div_ceil(GRADIENT_BLOCKS).max(GRADIENT_MIN_BLOCK_ROWS)
        };
        let split_target = GRAM_TARGET_GROUPS.div_ceil(pairs);
        let split_cap = (GRAM_PARTIAL_BYTES / (pairs * TILE * TILE * 4)).max(1);
        let gram_split_rows = n.div_ceil(split_target.min(split_cap)).next_multiple_of(GRAM_STEP);
        let slice_starts: Vec<usize> = (0..n).step_by(slice_rows).collect();
        let gradient_blocks = if sparse {
            1
        } else {
            slice_starts.iter().map(|&s| slice_rows.min(n - s).div_ceil(gradient_block_rows)).sum()
        };
        let gram_splits =
            slice_starts.iter().map(|&s| slice_rows.min(n - s).div_ceil(gram_split_rows)).sum();
        Ok(Self {
            n,
            cols,
            features: p,
            family,
            a,
            b,
            slice_rows,
            slice_starts,
            tiles,
            pairs,
            gradient_block_rows,
            gram_split_rows,
            gradient_blocks,
            gram_splits,
            acc_bytes: if ctx.f64 { 8 } else { 4 },
            sparse,
        })
    }

    /// Values in the Gram's tiled upper triangle.
    fn gram_len(&self) -> usize {
        self.pairs * TILE * TILE
    }

    /// Bytes of the gradient's partial sums: per block, d + 1 sums, d + 1 sums of squared error
    /// scales and d + 1 sums of magnitudes.
    fn gradient_bytes(&self) -> u64 {
        (self.gradient_blocks * 3 * (self.cols + 1)) as u64 * self.acc_bytes
    }
}

/// The buffers every slice's dispatches share.
struct Shared {
    /// (y, w, offset, 0) per row.
    yw: wgpu::Buffer,
    /// The E-step's per-row records.
    rows: wgpu::Buffer,
    theta: wgpu::Buffer,
    gradient_partial: wgpu::Buffer,
    gram_partial: wgpu::Buffer,
    gram_out: wgpu::Buffer,
    staging: wgpu::Buffer,
}

impl Shared {
    /// The shared buffers for `layout`, y, weights and offsets uploaded (weights scaled by
    /// `scale`).
    ///
    /// # Errors
    /// [`Error::Backend`] for a response, weight or offset beyond f32.
    fn create(
        device: &wgpu::Device,
        layout: &Layout,
        problem: &Problem<'_>,
        scale: f64,
    ) -> Result<Self> {
        let usage = wgpu::BufferUsages::STORAGE;
        let buffer = |label: &'static str, size: u64, usage: wgpu::BufferUsages| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let yw = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("y, w, offset"),
            contents: bytemuck::cast_slice(&row_inputs(problem, scale)?),
            usage: usage | wgpu::BufferUsages::COPY_DST,
        });
        let copy_src = usage | wgpu::BufferUsages::COPY_SRC;
        let gram_bytes = layout.gram_len() as u64 * layout.acc_bytes;
        Ok(Self {
            yw,
            rows: buffer(
                "row stats",
                (layout.n as u64 * ROW_STATS_BYTES).max(ROW_STATS_BYTES),
                usage | wgpu::BufferUsages::COPY_DST,
            ),
            theta: buffer(
                "theta (hi, lo)",
                (2 * layout.cols * 4) as u64,
                usage | wgpu::BufferUsages::COPY_DST,
            ),
            gradient_partial: buffer("gradient partials", layout.gradient_bytes(), copy_src),
            gram_partial: buffer(
                "gram partials",
                (layout.gram_splits * layout.gram_len() * 4) as u64,
                usage,
            ),
            gram_out: buffer("gram", gram_bytes, copy_src),
            staging: buffer(
                "readback",
                layout.gradient_bytes() + gram_bytes,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
        })
    }
}

/// Makes bind groups: every kernel takes its parameter block at binding 0, then its buffers in
/// order; the parameter buffers live as long as the backend (`keep`).
struct Binder<'c> {
    ctx: &'c Inner,
    keep: Vec<wgpu::Buffer>,
}

impl Binder<'_> {
    /// `kernel`'s bind group with parameters `params` and `buffers`.
    fn bind(
        &mut self,
        kernel: Kernel,
        params: &[u8],
        buffers: &[wgpu::BindingResource<'_>],
    ) -> wgpu::BindGroup {
        let device = &self.ctx.device;
        let params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(kernel.name()),
            contents: params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let entries: Vec<_> = std::iter::once(params.as_entire_binding())
            .chain(buffers.iter().cloned())
            .enumerate()
            .map(|(i, resource)| wgpu::BindGroupEntry { binding: i as u32, resource })
            .collect();
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name()),
            layout: &self.ctx.kernels[kernel as usize].layout,
            entries: &entries,
        });
        self.keep.push(params);
        group
    }

    /// The slice of rows from `start`: its X uploaded, its E-step (both curvatures), gradient
    /// and Gram bind groups, writing from gradient block `block_offset` and Gram split
    /// `split_offset` on.
    ///
    /// # Errors
    /// [`Error::Backend`] for a value of X beyond f32.
    #[allow(clippy::too_many_arguments)]
    fn slice(
        &mut self,
        layout: &Layout,
        shared: &Shared,
        problem: &Problem<'_>,
        intercept: bool,
        start: usize,
        block_offset: usize,
        split_offset: usize,
    ) -> Result<Slice> {
        let (rows, cols) = (layout.slice_rows.min(layout.n - start), layout.cols);
        let x = upload_rows(&self.ctx.device, problem, start, rows, cols, intercept)?;
        let estep = [0u32, 1].map(|curvature| {
            self.bind(
                Kernel::Estep,
                bytemuck::bytes_of(&EstepParams {
                    rows: rows as u32,
                    cols: cols as u32,
                    family: layout.family,
                    curvature,
                    a: layout.a,
                    b: layout.b,
                    floor: RESIDUAL_FLOOR as f32,
                    pad: 0,
                }),
                &[
                    x.as_entire_binding(),
                    shared.theta.as_entire_binding(),
                    range(&shared.yw, start, rows, YW_BYTES),
                    range(&shared.rows, start, rows, ROW_STATS_BYTES),
                ],
            )
        });
        let blocks = rows.div_ceil(layout.gradient_block_rows);
        let gradient = self.bind(
            Kernel::Gradient,
            bytemuck::bytes_of(&GradientParams {
                rows: rows as u32,
                cols: cols as u32,
                block_rows: layout.gradient_block_rows as u32,
                block_offset: block_offset as u32,
            }),
            &[
                x.as_entire_binding(),
                range(&shared.rows, start, rows, ROW_STATS_BYTES),
                shared.gradient_partial.as_entire_binding(),
            ],
        );
        let (gram, gram_splits) = self.gram(layout, shared, &x, start, rows, split_offset);
        Ok(Slice {
            dense: Some(DenseSlice { estep, gradient, gradient_blocks: blocks as u32, x }),
            densify: None,
            rows_groups: grid(rows.div_ceil(layout::LINEAR_GROUP as usize)),
            gram,
            gram_splits,
            start,
            rows,
        })
    }

    /// The Gram bind group of the `rows` rows from `start`, read from `x` (that slice's rows,
    /// row-major), writing from Gram split `split_offset` on; and its split count.
    fn gram(
        &mut self,
        layout: &Layout,
        shared: &Shared,
        x: &wgpu::Buffer,
        start: usize,
        rows: usize,
        split_offset: usize,
    ) -> (wgpu::BindGroup, u32) {
        let splits = rows.div_ceil(layout.gram_split_rows);
        let group = self.bind(
            Kernel::Gram,
            bytemuck::bytes_of(&GramParams {
                rows: rows as u32,
                cols: layout.cols as u32,
                split_rows: layout.gram_split_rows as u32,
                split_offset: split_offset as u32,
                tiles: layout.tiles as u32,
                pairs: layout.pairs as u32,
                pad0: 0,
                pad1: 0,
            }),
            &[
                x.as_entire_binding(),
                range(&shared.rows, start, rows, ROW_STATS_BYTES),
                shared.gram_partial.as_entire_binding(),
            ],
        );
        (group, splits as u32)
    }

    /// The parameter block of the sparse kernels for `rows` rows from `start`.
    fn sparse_params(layout: &Layout, start: usize, rows: usize, curvature: u32) -> SparseParams {
        SparseParams {
            rows: rows as u32,
            cols: layout.cols as u32,
            features: layout.features as u32,
            start: start as u32,
            family: layout.family,
            curvature,
            a: layout.a,
            b: layout.b,
            floor: RESIDUAL_FLOOR as f32,
            pad0: 0,
            pad1: 0,
            pad2: 0,
        }
    }

    /// A sparse design's slice from `start`: densified into the scratch buffer, then tiled by
    /// the Gram kernel from split `split_offset` on.
    fn sparse_slice(
        &mut self,
        layout: &Layout,
        shared: &Shared,
        sparse: &SparseBuffers,
        start: usize,
        split_offset: usize,
    ) -> Slice {
        let rows = layout.slice_rows.min(layout.n - start);
        let [values, columns, row_start] = &sparse.csr;
        let densify = self.bind(
            Kernel::Densify,
            bytemuck::bytes_of(&Self::sparse_params(layout, start, rows, 0)),
            &[
                values.as_entire_binding(),
                columns.as_entire_binding(),
                row_start.as_entire_binding(),
                sparse.scratch.as_entire_binding(),
            ],
        );
        let (gram, gram_splits) =
            self.gram(layout, shared, &sparse.scratch, start, rows, split_offset);
        Slice {
            dense: None,
            densify: Some(densify),
            rows_groups: grid(rows.div_ceil(layout::LINEAR_GROUP as usize)),
            gram,
            gram_splits,
            start,
            rows,
        }
    }

    /// A sparse design's E-step (both curvatures, over every row) and gradient (over every
    /// column) bind groups.
    fn sparse_rows(
        &mut self,
        layout: &Layout,
        shared: &Shared,
        sparse: &SparseBuffers,
    ) -> SparseRows {
        let [values, columns, row_start] = &sparse.csr;
        let estep = [0u32, 1].map(|curvature| {
            self.bind(
                Kernel::EstepSparse,
                bytemuck::bytes_of(&Self::sparse_params(layout, 0, layout.n, curvature)),
                &[
                    values.as_entire_binding(),
                    columns.as_entire_binding(),
                    row_start.as_entire_binding(),
                    shared.theta.as_entire_binding(),
                    shared.yw.as_entire_binding(),
                    shared.rows.as_entire_binding(),
                ],
            )
        });
        let [values, row_index, column_start] = &sparse.csc;
        let gradient = self.bind(
            Kernel::GradientSparse,
            bytemuck::bytes_of(&Self::sparse_params(layout, 0, layout.n, 0)),
            &[
                values.as_entire_binding(),
                row_index.as_entire_binding(),
                column_start.as_entire_binding(),
                shared.rows.as_entire_binding(),
                shared.gradient_partial.as_entire_binding(),
            ],
        );
        SparseRows {
            estep,
            estep_groups: grid(layout.n.div_ceil(layout::LINEAR_GROUP as usize)),
            gradient,
            gradient_groups: grid((layout.cols + 1).div_ceil(GRADIENT_GROUP)),
        }
    }
}

impl GpuBackend {
    /// Uploads the problem (X once, in f32) and prepares every dispatch: the layout from the
    /// problem's shape and the device's limits, the shared buffers, then each row slice's X and
    /// bind groups.
    ///
    /// # Errors
    /// [`Error::Backend`] when a value does not fit in f32, a row of X exceeds the binding
    /// limit, p is beyond what one dispatch can tile, or the device runs out of memory.
    pub fn new(context: &GpuContext, problem: &Problem<'_>, intercept: bool) -> Result<Self> {
        let ctx = &context.inner;
        let device = &ctx.device;
        let layout = Layout::new(context, problem, intercept)?;
        let scale = weight_scale(problem);
        let scope_oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope_valid = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let shared = Shared::create(device, &layout, problem, scale)?;
        let mut binder = Binder { ctx, keep: Vec::new() };
        let mut slices = Vec::with_capacity(layout.slice_starts.len());
        let (mut block_offset, mut split_offset) = (0usize, 0usize);
        let mut sparse = None;
        if layout.sparse {
            let buffers = upload_sparse(context, problem, &layout)?;
            sparse = Some(binder.sparse_rows(&layout, &shared, &buffers));
            for &start in &layout.slice_starts {
                let slice = binder.sparse_slice(&layout, &shared, &buffers, start, split_offset);
                split_offset += slice.gram_splits as usize;
                slices.push(slice);
            }
            binder.keep.extend(buffers.csr);
            binder.keep.extend(buffers.csc);
            binder.keep.push(buffers.scratch);
        } else {
            for &start in &layout.slice_starts {
                let slice = binder.slice(
                    &layout,
                    &shared,
                    problem,
                    intercept,
                    start,
                    block_offset,
                    split_offset,
                )?;
                block_offset += slice.dense.as_ref().map_or(0, |d| d.gradient_blocks as usize);
                split_offset += slice.gram_splits as usize;
                slices.push(slice);
            }
        }
        let reduce = binder.bind(
            Kernel::Reduce,
            bytemuck::bytes_of(&ReduceParams {
                len: layout.gram_len() as u32,
                splits: layout.gram_splits as u32,
                pad0: 0,
                pad1: 0,
            }),
            &[shared.gram_partial.as_entire_binding(), shared.gram_out.as_entire_binding()],
        );
        let Binder { mut keep, .. } = binder;
        keep.push(shared.gram_partial);

        let valid = pollster::block_on(scope_valid.pop());
        let oom = pollster::block_on(scope_oom.pop());
        if let Some(e) = oom.or(valid) {
            return Err(backend_error(format!("uploading the problem failed: {e}")));
        }
        log::debug!(
            "gpu backend: {} rows × {} columns in {} slice(s), {} gradient blocks of {} rows, {} \
             Gram tile pairs × {} splits",
            layout.n,
            layout.cols,
            slices.len(),
            layout.gradient_blocks,
            layout.gradient_block_rows,
            layout.pairs,
            layout.gram_splits
        );
        Ok(Self {
            context: context.clone(),
            cols: layout.cols,
            weight_sum: problem.weight_sum * scale,
            weight_scale: scale,
            theta: shared.theta,
            slices,
            sparse,
            gradient_partial: shared.gradient_partial,
            gradient_blocks: layout.gradient_blocks,
            gradient_block_rows: layout.gradient_block_rows,
            tiles: layout.tiles,
            pairs: layout.pairs,
            reduce,
            reduce_groups: grid(layout.gram_len().div_ceil(layout::LINEAR_GROUP as usize)),
            gram_out: shared.gram_out,
            staging: shared.staging,
            theta_f32: vec![0.0; 2 * layout.cols],
            rows_count: layout.n,
            rows: shared.rows,
            inputs: shared.yw,
            _keep: keep,
        })
    }

    /// The number of row slices X was bound in.
    pub fn slices(&self) -> usize {
        self.slices.len()
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.context.inner
    }

    /// Writes the reduced Gram tiles (read back as f64) into the symmetric `gram`, over W.
    fn unpack_gram(&self, tiles: &[f64], gram: &mut DMatrix<f64>) {
        let d = self.cols;
        let inv_w = 1.0 / self.weight_sum;
        for ti in 0..self.tiles {
            for tj in 0..=ti {
                let q = ti * (ti + 1) / 2 + tj;
                let tile = &tiles[q * TILE * TILE..(q + 1) * TILE * TILE];
                for r in 0..TILE.min(d - ti * TILE) {
                    let row = ti * TILE + r;
                    // Diagonal tiles: the lower triangle only, so S is exactly symmetric.
                    let cmax = if ti == tj { r + 1 } else { TILE.min(d - tj * TILE) };
                    for c in 0..cmax {
                        let col = tj * TILE + c;
                        let v = tile[r * TILE + c] * inv_w;
                        gram[(row, col)] = v;
                        gram[(col, row)] = v;
                    }
                }
            }
        }
    }

    /// Uploads θ as f32 pairs: the rounded values, then what rounding left out (θ − hi, in
    /// f32). The kernels add both parts' products, so θ's own rounding, which is the same in
    /// every row and would add up linearly over the rows of a sum (not in quadrature, as the
    /// error scales assume), stays below f32's resolution of each η.
    fn upload_theta(&mut self, theta: &[f64]) -> Result<()> {
        let d = self.cols;
        for (j, &v) in theta.iter().enumerate().take(d) {
            let hi = to_f32(v, || "a coefficient".into())?;
            self.theta_f32[j] = hi;
            self.theta_f32[d + j] = (v - f64::from(hi)) as f32;
        }
        self.inner().queue.write_buffer(&self.theta, 0, bytemuck::cast_slice(&self.theta_f32));
        Ok(())
    }

    /// Runs `work` inside validation and out-of-memory error scopes, so any device error it
    /// causes comes back as an [`Error::Backend`] instead of reaching wgpu's panicking default
    /// handler.
    fn guarded<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let ctx = Arc::clone(self.inner());
        let scope_oom = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let scope_valid = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work(self);
        let valid = pollster::block_on(scope_valid.pop());
        let oom = pollster::block_on(scope_oom.pop());
        match oom.or(valid) {
            Some(e) => Err(backend_error(format!("the device reported: {e}"))),
            None => result,
        }
    }

    /// Runs one submission and returns the raw read-back converted to f64: for
    /// [`Pass::Estep`] the gradient partials, then the Gram tiles when asked; for
    /// [`Pass::GramOnly`] the Gram tiles alone.
    fn run(&mut self, what: Pass) -> Result<Vec<f64>> {
        let submitted = self.submit(what)?;
        self.read_back(&submitted)
    }

    /// Records and submits one pass ([`GpuBackend::run`]'s first half); the results are read
    /// back by [`GpuBackend::read_back`].
    fn submit(&mut self, what: Pass) -> Result<Submitted> {
        let (estep, curvature, gram) = match what {
            Pass::Estep { curvature, gram } => (true, curvature, gram),
            Pass::GramOnly => (false, 0, true),
        };
        let ctx = Arc::clone(self.inner());
        let device = &ctx.device;
        let mut encoder = device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("e-step") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("e-step"),
                timestamp_writes: None,
            });
            let gradient_x = (self.cols + 1).div_ceil(GRADIENT_GROUP) as u32;
            if let (true, Some(sparse)) = (estep, &self.sparse) {
                pass.set_pipeline(&ctx.kernels[Kernel::EstepSparse as usize].pipeline);
                pass.set_bind_group(0, &sparse.estep[curvature], &[]);
                pass.dispatch_workgroups(sparse.estep_groups.0, sparse.estep_groups.1, 1);
                pass.set_pipeline(&ctx.kernels[Kernel::GradientSparse as usize].pipeline);
                pass.set_bind_group(0, &sparse.gradient, &[]);
                pass.dispatch_workgroups(sparse.gradient_groups.0, sparse.gradient_groups.1, 1);
            }
            for slice in &self.slices {
                if let (true, Some(dense)) = (estep, &slice.dense) {
                    pass.set_pipeline(&ctx.kernels[Kernel::Estep as usize].pipeline);
                    pass.set_bind_group(0, &dense.estep[curvature], &[]);
                    pass.dispatch_workgroups(slice.rows_groups.0, slice.rows_groups.1, 1);
                    pass.set_pipeline(&ctx.kernels[Kernel::Gradient as usize].pipeline);
                    pass.set_bind_group(0, &dense.gradient, &[]);
                    pass.dispatch_workgroups(gradient_x, dense.gradient_blocks, 1);
                }
                if let (true, Some(densify)) = (gram, &slice.densify) {
                    // The slice's rows, dense, into the scratch buffer the Gram reads (wgpu
                    // orders this write after the previous slice's Gram read it).
                    pass.set_pipeline(&ctx.kernels[Kernel::Densify as usize].pipeline);
                    pass.set_bind_group(0, densify, &[]);
                    pass.dispatch_workgroups(slice.rows_groups.0, slice.rows_groups.1, 1);
                }
                if gram {
                    pass.set_pipeline(&ctx.kernels[Kernel::Gram as usize].pipeline);
                    pass.set_bind_group(0, &slice.gram, &[]);
                    pass.dispatch_workgroups(self.pairs as u32, slice.gram_splits, 1);
                }
            }
            if gram {
                pass.set_pipeline(&ctx.kernels[Kernel::Reduce as usize].pipeline);
                pass.set_bind_group(0, &self.reduce, &[]);
                pass.dispatch_workgroups(self.reduce_groups.0, self.reduce_groups.1, 1);
            }
        }
        let gradient_bytes = if estep { self.gradient_partial.size() } else { 0 };
        if estep {
            encoder.copy_buffer_to_buffer(
                &self.gradient_partial,
                0,
                &self.staging,
                0,
                gradient_bytes,
            );
        }
        let mut read_bytes = gradient_bytes;
        if gram {
            let gram_bytes = self.gram_out.size();
            encoder.copy_buffer_to_buffer(
                &self.gram_out,
                0,
                &self.staging,
                gradient_bytes,
                gram_bytes,
            );
            read_bytes += gram_bytes;
        }
        let index = ctx.queue.submit([encoder.finish()]);
        Ok(Submitted { read_bytes, index, gram })
    }

    /// Waits for `submitted` alone (later submissions may still run) and returns its read-back
    /// converted to f64.
    fn read_back(&mut self, submitted: &Submitted) -> Result<Vec<f64>> {
        let ctx = Arc::clone(self.inner());
        let device = &ctx.device;
        let read_bytes = submitted.read_bytes;
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        let slice = self.staging.slice(..read_bytes);
        slice.map_async(wgpu::MapMode::Read, move |result| {
            // The receiver only goes away if this call already returned with an error.
            let _ = sender.send(result);
        });
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submitted.index.clone()),
                timeout: None,
            })
            .map_err(|e| backend_error(format!("waiting for the device: {e}")))?;
        match pollster::block_on(receiver.receive()) {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(backend_error(format!("reading results back: {e}"))),
            None => return Err(backend_error("the device dropped the read-back")),
        }
        let values = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| backend_error(format!("reading results back: {e}")))?;
            if ctx.f64 {
                view.chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunk")))
                    .collect()
            } else {
                view.chunks_exact(4)
                    .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4-byte chunk"))))
                    .collect()
            }
        };
        self.staging.unmap();
        Ok(values)
    }

    /// Submits the evaluation at `theta` without waiting for it: a streamed fit prepares and
    /// uploads the next block while the device computes this one. [`GpuBackend::end_evaluate`]
    /// reads it back.
    ///
    /// # Errors
    /// As [`Backend::evaluate`].
    pub(crate) fn begin_evaluate(&mut self, theta: &[f64], needs: Needs) -> Result<Submitted> {
        let (curvature, gram) = match needs {
            Needs::Gradient => (0, false),
            Needs::GradientAndGram => (0, true),
            Needs::GradientAndHessian => (1, true),
        };
        self.guarded(|this| {
            this.upload_theta(theta)?;
            this.submit(Pass::Estep { curvature, gram })
        })
    }

    /// The statistics of a submitted evaluation, into `out`.
    ///
    /// # Errors
    /// As [`Backend::evaluate`].
    pub(crate) fn end_evaluate(&mut self, submitted: &Submitted, out: &mut Stats) -> Result<()> {
        let gram = submitted.gram;
        let values = self.guarded(|this| this.read_back(submitted))?;
        let d = self.cols;
        let record = 3 * (d + 1);
        // Blocks in order, in f64.
        let mut sums = vec![0.0; record];
        for block in values[..self.gradient_blocks * record].chunks_exact(record) {
            for (s, v) in sums.iter_mut().zip(block) {
                *s += v;
            }
        }
        // An f32 sum that left the range is a failed evaluation, never a value: the solver
        // would read an infinite error scale as "no measurable change".
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            let what = if k < self.gradient_blocks * record {
                match k % record {
                    j if j < d => format!("the gradient's sum for coordinate {j}"),
                    j if j == d => "the loss's sum".to_string(),
                    j if j <= 2 * d + 1 => {
                        format!("the rounding-error sum for coordinate {}", j - d - 1)
                    }
                    j => format!("the magnitude sum for coordinate {}", j - 2 * d - 2),
                }
            } else {
                "a sum of the weighted Gram matrix".to_string()
            };
            let reason = if values[k].is_nan() {
                "a kernel computed no value (NaN: a family code the E-step kernel has no case \
                 for, or data beyond f32)"
            } else {
                "the data's values are beyond what they can sum (the CPU backend computes in f64)"
            };
            return Err(backend_error(format!(
                "{what} is {} in the f32 kernels: {reason}",
                values[k]
            )));
        }
        let inv_w = 1.0 / self.weight_sum;
        let unit = self.error_per_unit() * inv_w;
        let bias = self.error_per_magnitude() * inv_w;
        let (squares, magnitudes) = (&sums[d + 1..2 * d + 2], &sums[2 * d + 2..]);
        out.loss = sums[d] * inv_w;
        out.loss_error = squares[d].sqrt() * unit + magnitudes[d] * bias;
        if out.gradient_error.len() != d {
            out.gradient_error = DVector::zeros(d);
        }
        for j in 0..d {
            out.gradient[j] = sums[j] * inv_w;
            out.gradient_error[j] = squares[j].sqrt() * unit + magnitudes[j] * bias;
        }
        if gram {
            self.unpack_gram(&values[self.gradient_blocks * record..], &mut out.gram);
        }
        Ok(())
    }

    /// Replaces the rows on the device with `problem`'s (the same number of rows and columns,
    /// family and intercept): X written into the existing buffers, y, weights and offsets as
    /// [`Backend::set_rows`]. The write is queued behind the work already submitted, so it may
    /// be issued while that work runs (a streamed fit's double buffering).
    ///
    /// # Errors
    /// [`Error::Backend`] for another shape or a value beyond f32.
    pub(crate) fn reload(&mut self, problem: &Problem<'_>, intercept: bool) -> Result<()> {
        if problem.ncols() + usize::from(intercept) != self.cols {
            return Err(backend_error(format!(
                "reload got {} columns for a backend holding {}",
                problem.ncols() + usize::from(intercept),
                self.cols
            )));
        }
        if self.sparse.is_some() || problem.x.is_sparse() {
            // Streamed blocks are dense; a backend holding a sparse design is never reloaded.
            return Err(backend_error("reload takes dense blocks on a dense backend"));
        }
        self.set_rows(problem)?;
        let cols = self.cols;
        let data: Vec<Vec<f32>> = self
            .slices
            .iter()
            .map(|s| rows_f32(problem, s.start, s.rows, cols, intercept))
            .collect::<Result<_>>()?;
        self.guarded(|this| {
            for (slice, data) in this.slices.iter().zip(&data) {
                if let Some(dense) = &slice.dense {
                    this.inner().queue.write_buffer(&dense.x, 0, bytemuck::cast_slice(data));
                }
            }
            Ok(())
        })
    }

    /// The rounding-error scale of one accumulated sum per unit of √(Σ scale²): the terms' own
    /// roundings, of random sign, in quadrature.
    fn error_per_unit(&self) -> f64 {
        F32_ROUNDOFF * ROUNDINGS_PER_TERM
    }

    /// The rounding-error scale of one accumulated sum per unit of Σ |term|: the f32 functions'
    /// bias ([`FUNCTION_BIAS_ULPS`]), plus, with f32 accumulators, the sequential sum over a
    /// block of B rows, whose k-th addition rounds a partial sum of size up to Σᵢ≤ₖ |termᵢ|
    /// (a sum without cancellation grows that fast): at most √B · Σ |term| roundings in
    /// quadrature. Blocks are added in f64 on the host.
    fn error_per_magnitude(&self) -> f64 {
        let summation =
            if self.inner().f64 { 0.0 } else { (self.gradient_block_rows as f64).sqrt() };
        F32_ROUNDOFF * (FUNCTION_BIAS_ULPS + summation)
    }
}

/// The factor that brings the weights to mean 1 before they become f32 (exactly 1 for unit
/// weights).
fn weight_scale(problem: &Problem<'_>) -> f64 {
    let total: f64 = problem.weights.iter().sum();
    if total > 0.0 && total.is_finite() { problem.nrows() as f64 / total } else { 1.0 }
}

/// (y, w · `scale`, offset, 0) per row in f32.
fn row_inputs(problem: &Problem<'_>, scale: f64) -> Result<Vec<f32>> {
    let mut inputs = Vec::with_capacity(4 * problem.nrows());
    for i in 0..problem.nrows() {
        inputs.push(data_to_f32(problem.y[i], || format!("y[{i}]"))?);
        inputs.push(to_f32(problem.weights[i] * scale, || format!("weight[{i}]"))?);
        inputs.push(data_to_f32(problem.offset_at(i), || format!("offset[{i}]"))?);
        inputs.push(0.0);
    }
    Ok(inputs)
}

/// Rows `start .. start + len` of a per-row buffer with `bytes` per row.
fn range(buf: &wgpu::Buffer, start: usize, len: usize, bytes: u64) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: buf,
        offset: start as u64 * bytes,
        size: std::num::NonZeroU64::new(len as u64 * bytes),
    })
}

/// Uploads a sparse design: CSR (f32 values, u32 columns and row offsets) and a CSC copy made
/// here in one pass over the rows, and the scratch buffer of the densified slices.
///
/// # Errors
/// [`Error::Backend`] for a value beyond f32 (named by row and column), or more stored values
/// than the device binds at once or u32 indexes.
fn upload_sparse(
    context: &GpuContext,
    problem: &Problem<'_>,
    layout: &Layout,
) -> Result<SparseBuffers> {
    let device = &context.inner.device;
    let (n, p) = (layout.n, layout.features);
    let nnz = problem.x.stored_values();
    let limit = context.max_binding_bytes;
    if nnz as u64 * 4 > limit || nnz >= u32::MAX as usize {
        return Err(backend_error(format!(
            "the sparse design's {nnz} stored values take {} bytes in f32, more than the device              binds at once ({limit} bytes); use the CPU backend",
            nnz as u64 * 4
        )));
    }
    // The sparse E-step and gradient bind every row's records at once.
    let row_bytes = n as u64 * ROW_STATS_BYTES.max(YW_BYTES);
    if row_bytes > limit {
        return Err(backend_error(format!(
            "the sparse design's {n} rows take {row_bytes} bytes of per-row records, more than \
             the device binds at once ({limit} bytes); use the CPU backend"
        )));
    }
    let mut values = Vec::with_capacity(nnz);
    let mut columns = Vec::with_capacity(nnz);
    let mut row_start = Vec::with_capacity(n + 1);
    let mut column_count = vec![0u32; p + 1];
    row_start.push(0u32);
    let mut bad = None;
    for i in 0..n {
        problem.x.for_row(i, |j, v| {
            match data_to_f32(v, || format!("X[{i}, {j}]")) {
                Ok(v) => values.push(v),
                Err(e) => {
                    bad.get_or_insert(e);
                    values.push(0.0);
                }
            }
            columns.push(j as u32);
            column_count[j + 1] += 1;
        });
        row_start.push(values.len() as u32);
    }
    if let Some(e) = bad {
        return Err(e);
    }
    // CSC: each column's entries in row order (rows are visited in order).
    for j in 0..p {
        column_count[j + 1] += column_count[j];
    }
    let column_start = column_count.clone();
    let mut next = column_count;
    let (mut csc_values, mut row_index) = (vec![0f32; values.len()], vec![0u32; values.len()]);
    for i in 0..n {
        for k in row_start[i] as usize..row_start[i + 1] as usize {
            let j = columns[k] as usize;
            let at = next[j] as usize;
            csc_values[at] = values[k];
            row_index[at] = i as u32;
            next[j] += 1;
        }
    }
    let storage = wgpu::BufferUsages::STORAGE;
    // A binding is never empty: an all-zero design still uploads one (unread) word.
    let upload = |label: &'static str, contents: &[u8]| {
        let padded = [0u8; 4];
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if contents.is_empty() { &padded } else { contents },
            usage: storage,
        })
    };
    let scratch_bytes = (layout.slice_rows.min(n) * layout.cols * 4).max(4) as u64;
    Ok(SparseBuffers {
        csr: [
            upload("X values (CSR)", bytemuck::cast_slice(&values)),
            upload("X columns (CSR)", bytemuck::cast_slice(&columns)),
            upload("X row offsets (CSR)", bytemuck::cast_slice(&row_start)),
        ],
        csc: [
            upload("X values (CSC)", bytemuck::cast_slice(&csc_values)),
            upload("X rows (CSC)", bytemuck::cast_slice(&row_index)),
            upload("X column offsets (CSC)", bytemuck::cast_slice(&column_start)),
        ],
        scratch: device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("densified X slice"),
            size: scratch_bytes,
            usage: storage,
            mapped_at_creation: false,
        }),
    })
}

/// Converts rows `start .. start + rows` of X to f32 row-major (appending the intercept's ones)
/// and uploads them.
fn upload_rows(
    device: &wgpu::Device,
    problem: &Problem<'_>,
    start: usize,
    rows: usize,
    cols: usize,
    intercept: bool,
) -> Result<wgpu::Buffer> {
    Ok(device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("X slice"),
        contents: bytemuck::cast_slice(&rows_f32(problem, start, rows, cols, intercept)?),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    }))
}

/// Rows `start .. start + rows` of X in f32, row-major, the intercept's ones appended.
fn rows_f32(
    problem: &Problem<'_>,
    start: usize,
    rows: usize,
    cols: usize,
    intercept: bool,
) -> Result<Vec<f32>> {
    let p = problem.ncols();
    let mut data = vec![0f32; rows * cols];
    for (r, row) in data.chunks_exact_mut(cols).enumerate() {
        let i = start + r;
        for (j, v) in row[..p].iter_mut().enumerate() {
            *v = data_to_f32(problem.x.get(i, j), || format!("X[{i}, {j}]"))?;
        }
        if intercept {
            row[p] = 1.0;
        }
    }
    Ok(data)
}

impl Backend for GpuBackend {
    fn dim(&self) -> usize {
        self.cols
    }

    fn evaluate(&mut self, theta: &[f64], needs: Needs, out: &mut Stats) -> Result<()> {
        let submitted = self.begin_evaluate(theta, needs)?;
        self.end_evaluate(&submitted, out)
    }

    fn loss(&mut self, theta: &[f64]) -> Result<f64> {
        let mut stats = Stats::new(self.cols);
        self.evaluate(theta, Needs::Gradient, &mut stats)?;
        Ok(stats.loss)
    }

    fn info(&self) -> BackendInfo {
        BackendInfo { kind: "gpu", device: self.context.describe() }
    }

    /// f32 kernels: the driver recomputes the KKT violation in f64 and finishes hinge and
    /// quantile fits with [`super::super::PolishBackend`].
    fn exact(&self) -> bool {
        false
    }

    /// One O(n) upload of y, the weights and the offset; X stays on the device.
    fn set_rows(&mut self, problem: &Problem<'_>) -> Result<()> {
        if problem.nrows() != self.rows_count {
            return Err(backend_error(format!(
                "set_rows got {} rows for a backend holding {}",
                problem.nrows(),
                self.rows_count
            )));
        }
        self.weight_scale = weight_scale(problem);
        let inputs = row_inputs(problem, self.weight_scale)?;
        self.weight_sum = problem.weight_sum * self.weight_scale;
        self.guarded(|this| {
            this.inner().queue.write_buffer(&this.inputs, 0, bytemuck::cast_slice(&inputs));
            Ok(())
        })
    }

    /// The weights go up as f32; only the Gram kernel runs.
    fn gram_with_weights(&mut self, weights: &[f64], gram: &mut DMatrix<f64>) -> Result<()> {
        let mut records = vec![RowStats::default(); weights.len()];
        for (i, (record, &c)) in records.iter_mut().zip(weights).enumerate() {
            record.gram_weight = to_f32(c * self.weight_scale, || format!("row weight {i}"))?;
        }
        let values = self.guarded(|this| {
            this.inner().queue.write_buffer(&this.rows, 0, bytemuck::cast_slice(&records));
            this.run(Pass::GramOnly)
        })?;
        self.unpack_gram(&values, gram);
        Ok(())
    }
}

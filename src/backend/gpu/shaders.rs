//! The WGSL kernels (one per file in `shaders/`, embedded at compile time) and their variants.
//!
//! Every kernel is compiled with the prelude of `layout.rs` (the structs and constants it shares
//! with the host, generated from the host's own declarations) in front of it, and the two
//! E-step kernels with the families' moments (`shaders/moments.wgsl`) after the prelude; the
//! tests below validate each combination with naga.

/// Which accumulator the kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    /// f32 sums: runs on every adapter.
    F32,
    /// f64 sums (`SHADER_F64`); the per-element work stays in f32.
    F64,
}

/// The kernels: the dense path's four in the order they run, then the sparse path's three
/// (whose Gram is the dense `Gram` over row slices `Densify` writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    Estep,
    Gradient,
    Gram,
    Reduce,
    EstepSparse,
    GradientSparse,
    Densify,
}

/// The families' moments, shared by the two E-step kernels.
const MOMENTS: &str = include_str!("../../../shaders/moments.wgsl");

/// The line that fixes the accumulator type in the kernels that have one.
const ACC_F32: &str = "alias Acc = f32;";
const ACC_F64: &str = "alias Acc = f64;";

impl Kernel {
    pub const COUNT: usize = 7;
    pub const ALL: [Kernel; Self::COUNT] = [
        Kernel::Estep,
        Kernel::Gradient,
        Kernel::Gram,
        Kernel::Reduce,
        Kernel::EstepSparse,
        Kernel::GradientSparse,
        Kernel::Densify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Estep => "estep",
            Kernel::Gradient => "gradient",
            Kernel::Gram => "gram",
            Kernel::Reduce => "reduce",
            Kernel::EstepSparse => "estep_sparse",
            Kernel::GradientSparse => "gradient_sparse",
            Kernel::Densify => "densify",
        }
    }

    /// The file as written (valid WGSL after the prelude, f32 accumulators).
    pub fn file(self) -> &'static str {
        match self {
            Kernel::Estep => include_str!("../../../shaders/estep.wgsl"),
            Kernel::Gradient => include_str!("../../../shaders/gradient.wgsl"),
            Kernel::Gram => include_str!("../../../shaders/gram.wgsl"),
            Kernel::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            Kernel::EstepSparse => include_str!("../../../shaders/estep_sparse.wgsl"),
            Kernel::GradientSparse => include_str!("../../../shaders/gradient_sparse.wgsl"),
            Kernel::Densify => include_str!("../../../shaders/densify.wgsl"),
        }
    }

    /// Whether the kernel computes the families' moments (and so is compiled with
    /// `moments.wgsl`).
    fn needs_moments(self) -> bool {
        matches!(self, Kernel::Estep | Kernel::EstepSparse)
    }

    /// The source for a variant: the prelude, the moments where the kernel needs them, then the
    /// file; the f64 variant swaps the accumulator alias, nothing else.
    pub fn source(self, variant: Variant) -> String {
        let file = match variant {
            Variant::F32 => self.file().to_owned(),
            Variant::F64 => self.file().replace(ACC_F32, ACC_F64),
        };
        let moments = if self.needs_moments() { MOMENTS } else { "" };
        format!("{}\n{moments}\n{file}", super::layout::prelude())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(kernel: Kernel, variant: Variant) {
        let source = kernel.source(variant);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(&source)));
        let capabilities = match variant {
            Variant::F32 => naga::valid::Capabilities::empty(),
            Variant::F64 => naga::valid::Capabilities::FLOAT64,
        };
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
            .validate(&module)
            .unwrap_or_else(|e| {
                panic!("{} ({variant:?}): {}", kernel.name(), e.emit_to_string(&source))
            });
    }

    /// Every kernel parses and validates in both variants, with no GPU; the f32 variant needs no
    /// capability at all (it is what Metal and the GL-class adapters run).
    #[test]
    fn every_kernel_validates_in_both_variants() {
        for kernel in Kernel::ALL {
            validate(kernel, Variant::F32);
            validate(kernel, Variant::F64);
        }
    }

    /// Every family code the host sends has its own case in the E-step's `moments_of`, and an
    /// unknown code runs no family's moments (it gives NaN, a failed evaluation).
    #[test]
    fn every_family_code_has_its_case_and_an_unknown_code_runs_none() {
        let source = MOMENTS;
        let body = &source[source.find("fn moments_of").expect("moments_of")..];
        let body = &body[..body.find("\n}\n").expect("the end of moments_of")];
        for (name, _) in crate::family::GPU_FAMILY_CODES {
            assert!(body.contains(&format!("case {name}:")), "no case for {name}");
        }
        let default = &body[body.find("default:").expect("a default case")..];
        assert!(!default.contains("_moments("), "the default case runs a family: {default}");
    }

    /// The f64 variant really changes the accumulator where there is one (a renamed alias would
    /// otherwise silently leave every adapter on f32 sums).
    #[test]
    fn f64_variant_swaps_the_accumulator() {
        for kernel in [Kernel::Gradient, Kernel::Reduce, Kernel::GradientSparse] {
            assert!(kernel.file().contains(ACC_F32), "{} has no Acc alias", kernel.name());
            assert!(kernel.source(Variant::F64).contains(ACC_F64));
        }
    }
}

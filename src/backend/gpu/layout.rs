//! What the kernels share with the host, declared once: the structs the host uploads or reads
//! (each kernel's parameter block, the E-step's per-row record) and the sizes both sides must
//! agree on. The Rust types below are what the host writes; [`prelude`] generates the WGSL
//! declarations of the same structs and constants (and the E-step's family codes from
//! [`crate::family`]), which [`super::shaders`] prepends to every kernel. A test checks that
//! naga lays out each generated struct in exactly the bytes of its Rust twin.

use std::fmt::Write as _;

use bytemuck::{Pod, Zeroable};

/// Declares `#[repr(C)]` structs of `u32`/`f32` fields (one Rust type per WGSL type of the same
/// name) and [`STRUCTS`], their WGSL declarations.
macro_rules! shared_structs {
    ($($(#[doc = $doc:literal])* struct $name:ident {
        $($(#[doc = $field_doc:literal])* $field:ident: $ty:ident,)*
    })*) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
            pub(super) struct $name {
                $($(#[doc = $field_doc])* pub(super) $field: $ty,)*
            }
        )*
        /// The WGSL declarations of the shared structs, field for field.
        const STRUCTS: &str = concat!($(
            "struct ", stringify!($name), " {\n",
            $("    ", stringify!($field), ": ", stringify!($ty), ",\n",)*
            "}\n\n",
        )*);
        /// The shared structs' names, Rust sizes and field offsets, for the layout test.
        #[cfg(test)]
        pub(super) const LAYOUTS: &[(&str, usize, &[(&str, usize)])] = &[$((
            stringify!($name),
            std::mem::size_of::<$name>(),
            &[$((stringify!($field), std::mem::offset_of!($name, $field)),)*],
        ),)*];
    };
}

shared_structs! {
    /// The E-step's output for one row (estep.wgsl writes it; gradient.wgsl and gram.wgsl read
    /// it; [`super::super::Backend::gram_with_weights`] writes `gram_weight` from the host).
    struct RowStats {
        /// w · ω̂ (or w · ℓ''): the row's weight in the Gram matrix.
        gram_weight: f32,
        /// w · ℓ'(η): the row's weight in the gradient.
        derivative: f32,
        /// w · ℓ(η).
        loss: f32,
        /// The rounding-error scale of `derivative` (estep.wgsl's header).
        derivative_error: f32,
        /// The rounding-error scale of `loss`.
        loss_error: f32,
    }

    /// estep.wgsl's parameters.
    struct EstepParams {
        rows: u32,
        cols: u32,
        /// A `FAMILY_*` code ([`crate::Family`]'s `gpu_code`).
        family: u32,
        /// 0: the EM weight ω̂; 1: the exact curvature ℓ''.
        curvature: u32,
        /// The family's parameters (quantile q; Student-t ν, σ).
        a: f32,
        b: f32,
        /// The residual floor of hinge and quantile.
        floor: f32,
        pad: u32,
    }

    /// gradient.wgsl's parameters.
    struct GradientParams {
        rows: u32,
        cols: u32,
        block_rows: u32,
        block_offset: u32,
    }

    /// gram.wgsl's parameters.
    struct GramParams {
        rows: u32,
        cols: u32,
        split_rows: u32,
        split_offset: u32,
        tiles: u32,
        pairs: u32,
        pad0: u32,
        pad1: u32,
    }

    /// The parameters of the sparse kernels (estep_sparse.wgsl, gradient_sparse.wgsl,
    /// densify.wgsl): each reads the fields it needs.
    struct SparseParams {
        /// Rows of the design (densify.wgsl: of the slice).
        rows: u32,
        /// Columns of θ: `features`, plus one with an intercept.
        cols: u32,
        /// Columns of X (stored entries index them).
        features: u32,
        /// densify.wgsl: the slice's first row.
        start: u32,
        /// A `FAMILY_*` code ([`crate::Family`]'s `gpu_code`).
        family: u32,
        /// 0: the EM weight ω̂; 1: the exact curvature ℓ''.
        curvature: u32,
        /// The family's parameters (quantile q; Student-t ν, σ).
        a: f32,
        b: f32,
        /// The residual floor of hinge and quantile.
        floor: f32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }

    /// reduce.wgsl's parameters.
    struct ReduceParams {
        len: u32,
        splits: u32,
        pad0: u32,
        pad1: u32,
    }
}

/// Invocations per workgroup of the one-per-element kernels (estep.wgsl, reduce.wgsl).
pub(super) const LINEAR_GROUP: u32 = 256;
/// Slots (columns) per workgroup of the gradient kernel.
pub(super) const GRADIENT_GROUP: u32 = 64;
/// Side of the Gram kernel's square column tiles.
pub(super) const TILE: u32 = 64;
/// Rows the Gram kernel stages per step; its workgroup is STEP × STEP invocations, each owning
/// a (TILE / STEP)² block of the tile.
pub(super) const STEP: u32 = 16;

/// The WGSL prelude: the shared constants, the E-step's family codes and the shared structs.
pub(super) fn prelude() -> String {
    let mut s = String::from(
        "// Generated by src/backend/gpu/layout.rs from the host's declarations: the structs\n\
         // and constants every kernel shares.\n\n",
    );
    let sizes = [
        ("LINEAR_GROUP", LINEAR_GROUP),
        ("GRADIENT_GROUP", GRADIENT_GROUP),
        ("TILE", TILE),
        ("STEP", STEP),
    ];
    for (name, value) in sizes.into_iter().chain(crate::family::GPU_FAMILY_CODES) {
        let _ = writeln!(s, "const {name}: u32 = {value}u;");
    }
    s.push('\n');
    s.push_str(STRUCTS);
    s
}

#[cfg(test)]
mod tests {
    use super::super::shaders::{Kernel, Variant};

    /// naga's layout of every generated struct (WGSL's alignment rules) is byte for byte the
    /// Rust `#[repr(C)]` layout the host uploads: the same size, and every field at the same
    /// offset (a size check alone would pass two fields swapped or a field moved past padding).
    #[test]
    fn every_shared_struct_has_the_same_layout_in_wgsl_and_rust() {
        let source = Kernel::Estep.source(Variant::F32);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(&source)));
        for &(name, rust_size, fields) in super::LAYOUTS {
            let (_, ty) = module
                .types
                .iter()
                .find(|(_, ty)| ty.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no struct {name} in the prelude"));
            assert_eq!(ty.inner.size(module.to_ctx()) as usize, rust_size, "{name}");
            let naga::TypeInner::Struct { members, .. } = &ty.inner else {
                panic!("{name} is not a struct in WGSL")
            };
            assert_eq!(members.len(), fields.len(), "{name}: field count");
            for &(field, rust_offset) in fields {
                let member = members
                    .iter()
                    .find(|m| m.name.as_deref() == Some(field))
                    .unwrap_or_else(|| panic!("{name}.{field} missing in WGSL"));
                assert_eq!(member.offset as usize, rust_offset, "{name}.{field}: offset");
            }
        }
    }
}

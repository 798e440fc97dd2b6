// Fixed-order reduction of the Gram partial sums: out[e] = Σₛ partial[s · len + e], s = 0, 1, …
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params:  ReduceParams
//   1  storage read  partial: array<f32>  `splits` records of `len` values (gram.wgsl's output)
//   2  storage rw    out:     array<Acc>  `len` values
//
// Dispatch: ceil(len / 256) workgroups of 256 invocations (2-D when that exceeds 65535, as in
// estep.wgsl); one invocation per element, past-the-end invocations return. Neighbouring
// invocations read neighbouring words of each record, so the loads coalesce.
//
// Precision: the sum runs over s in increasing order in `Acc` (f64 where the adapter has
// SHADER_F64, else f32), so every run gives the same bits; the host converts to f64.

// Accumulator type; the host substitutes `f64` for adapters with SHADER_F64.
alias Acc = f32;

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<Acc>;

@compute @workgroup_size(LINEAR_GROUP)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let e = gid.y * (groups.x * LINEAR_GROUP) + gid.x;
    if e >= params.len {
        return;
    }
    var sum = Acc(0.0);
    for (var s = 0u; s < params.splits; s++) {
        sum += Acc(partial[s * params.len + e]);
    }
    out[e] = sum;
}

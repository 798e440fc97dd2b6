// E-step on dense rows: the linear predictor and the per-observation statistics of one row
// slice.
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends, the families' moments from moments.wgsl):
//   0  uniform       params: EstepParams
//   1  storage read  x:      array<f32>        the slice's rows of X, row-major, `cols` per row
//                                              (with an intercept, the last column is all ones)
//   2  storage read  theta:  array<f32>        θ = (β, b₀) as f32 pairs: `cols` rounded values,
//                                              then `cols` remainders (θ − rounded)
//   3  storage read  yw:     array<vec4<f32>>  (yᵢ, wᵢ, offsetᵢ, 0) per row of the slice; η adds
//                                              the offset (0 unless the host sets one)
//   4  storage rw    rows:   array<RowStats>   output, one per row of the slice
//
// Dispatch: one invocation per row, 256 per workgroup; the grid may be 2-D (x · 65535 + y rows
// per layer) when a slice has more than 65535 workgroups of rows. Invocations past the slice's
// last row return at once.
//
// Precision: f32 throughout, with the error scales moments.wgsl describes.
// `params.curvature`: 0 writes the EM weight ω̂ (SM-EM), 1 the exact curvature ℓ'' (Newton).

@group(0) @binding(0) var<uniform> params: EstepParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> theta: array<f32>;
@group(0) @binding(3) var<storage, read> yw: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> rows: array<RowStats>;

@compute @workgroup_size(LINEAR_GROUP)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * (groups.x * LINEAR_GROUP) + gid.x;
    if i >= params.rows {
        return;
    }
    let cols = params.cols;
    let base = i * cols;
    let obs = yw[i];
    var eta = obs.z;
    var magnitude = abs(obs.z);
    for (var j = 0u; j < cols; j++) {
        // Both parts of θⱼ: its rounding, the same in every row, would not average out.
        let xij = x[base + j];
        let term = fma(xij, theta[cols + j], xij * theta[j]);
        eta += term;
        magnitude += abs(term);
    }
    rows[i] = row_record(moments_of(params.family, eta, obs.x), obs.y, magnitude);
}

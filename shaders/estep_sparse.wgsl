// E-step on CSR rows: the linear predictor from each row's stored entries and the
// per-observation statistics, for every row of a sparse design at once.
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends, the families' moments from moments.wgsl):
//   0  uniform       params:    SparseParams
//   1  storage read  values:    array<f32>        X's stored values, row by row (CSR)
//   2  storage read  columns:   array<u32>        the column of each stored value
//   3  storage read  row_start: array<u32>        rows + 1 offsets: row i is
//                                                 [row_start[i], row_start[i + 1])
//   4  storage read  theta:     array<f32>        θ = (β, b₀) as f32 pairs, as in estep.wgsl
//   5  storage read  yw:        array<vec4<f32>>  (yᵢ, wᵢ, offsetᵢ, 0) per row
//   6  storage rw    rows:      array<RowStats>   output, one per row
//
// With an intercept (cols = features + 1) θ's last value is added to every row: the column of
// ones is never stored.
//
// Dispatch: one invocation per row, 256 per workgroup, on a grid that may be 2-D as in
// estep.wgsl. Work per row is its stored entries: O(nnz) in all.
//
// Precision: f32 throughout, with the error scales moments.wgsl describes (the magnitude sums
// |xᵢⱼθⱼ| over the stored entries, the only nonzero terms).

@group(0) @binding(0) var<uniform> params: SparseParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read> columns: array<u32>;
@group(0) @binding(3) var<storage, read> row_start: array<u32>;
@group(0) @binding(4) var<storage, read> theta: array<f32>;
@group(0) @binding(5) var<storage, read> yw: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> rows: array<RowStats>;

@compute @workgroup_size(LINEAR_GROUP)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.y * (groups.x * LINEAR_GROUP) + gid.x;
    if i >= params.rows {
        return;
    }
    let obs = yw[i];
    var eta = obs.z;
    var magnitude = abs(obs.z);
    for (var k = row_start[i]; k < row_start[i + 1u]; k++) {
        // Both parts of θⱼ, as in estep.wgsl.
        let j = columns[k];
        let term = fma(values[k], theta[params.cols + j], values[k] * theta[j]);
        eta += term;
        magnitude += abs(term);
    }
    if params.cols > params.features {
        let b0 = theta[params.features];
        eta += b0 + theta[params.cols + params.features];
        magnitude += abs(b0);
    }
    rows[i] = row_record(moments_of(params.family, eta, obs.x), obs.y, magnitude);
}

// Dense rows from CSR rows: one row slice of a sparse design written row-major into a scratch
// buffer, for gram.wgsl to tile (the weighted Gram is d × d and dense whatever X's sparsity).
//
// Bindings (group 0; the structs and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params:    SparseParams  (`start`: the slice's first row; `rows`: its rows)
//   1  storage read  values:    array<f32>    X's stored values, row by row (CSR)
//   2  storage read  columns:   array<u32>    the column of each stored value
//   3  storage read  row_start: array<u32>    rows + 1 offsets into values and columns
//   4  storage rw    dense:     array<f32>    output: `rows` rows of `cols` values
//
// Each invocation owns one output row: zeros, then its stored entries, then (with an
// intercept, cols = features + 1) a one in the last column. No two invocations write the same
// word, so the result needs no clearing pass and has no order to depend on.
//
// Dispatch: one invocation per row of the slice, 256 per workgroup, on a grid that may be 2-D
// as in estep.wgsl.
//
// Precision: a copy; the values are already f32.

@group(0) @binding(0) var<uniform> params: SparseParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read> columns: array<u32>;
@group(0) @binding(3) var<storage, read> row_start: array<u32>;
@group(0) @binding(4) var<storage, read_write> dense: array<f32>;

@compute @workgroup_size(LINEAR_GROUP)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let r = gid.y * (groups.x * LINEAR_GROUP) + gid.x;
    if r >= params.rows {
        return;
    }
    let cols = params.cols;
    let base = r * cols;
    for (var j = 0u; j < cols; j++) {
        dense[base + j] = 0.0;
    }
    let i = params.start + r;
    for (var k = row_start[i]; k < row_start[i + 1u]; k++) {
        dense[base + columns[k]] = values[k];
    }
    if cols > params.features {
        dense[base + params.features] = 1.0;
    }
}

// Gradient sums of a sparse design: Xᵀ(w ⊙ ℓ') column by column over a CSC copy of X, and
// Σ w ℓ, with their error scales, in one record laid out as gradient.wgsl's (one block).
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params:       SparseParams
//   1  storage read  values:       array<f32>       X's stored values, column by column (CSC)
//   2  storage read  row_index:    array<u32>       the row of each stored value
//   3  storage read  column_start: array<u32>       features + 1 offsets: column j is
//                                                   [column_start[j], column_start[j + 1])
//   4  storage read  rows:         array<RowStats>  the E-step's output, one per row
//   5  storage rw    partial:      array<Acc>       output: 3 · (cols + 1) sums
//
// Dispatch: one invocation per slot j in [0, cols], 64 per workgroup, on a grid that may be
// 2-D (slot = 64 · (y · groups.x + x) + lane) for more than 65535 · 64 slots. Slot j < features
// sums column j's stored entries; with an intercept (cols = features + 1) slot `features` sums
// every row's derivative (the column of ones); slot `cols` sums the loss. Each invocation owns
// its sum, so there are no atomics and no cross-invocation order: two runs give the same bits.
//
// Output, as one block of gradient.wgsl:
//   [0, cols]               Σᵢ xᵢⱼ wᵢℓ'ᵢ per column j (the intercept's Σᵢ wᵢℓ'ᵢ), then Σᵢ wᵢℓᵢ
//   [cols + 1, 2 cols + 1]  Σᵢ (xᵢⱼ · derivative_errorᵢ)², then Σᵢ loss_errorᵢ²
//   [2 cols + 2, 3 cols + 2]  Σᵢ |xᵢⱼ wᵢℓ'ᵢ|, then Σᵢ |wᵢℓᵢ|
//
// Precision: products and squares formed in `Acc`; each slot's sum runs in row order in `Acc`
// (f64 where the adapter has SHADER_F64). A dense slot (the intercept, the loss, a column
// stored in every row) adds up to n terms in sequence, which the host's error scale counts.

// Accumulator type; the host substitutes `f64` for adapters with SHADER_F64.
alias Acc = f32;

@group(0) @binding(0) var<uniform> params: SparseParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;
@group(0) @binding(2) var<storage, read> row_index: array<u32>;
@group(0) @binding(3) var<storage, read> column_start: array<u32>;
@group(0) @binding(4) var<storage, read> rows: array<RowStats>;
@group(0) @binding(5) var<storage, read_write> partial: array<Acc>;

@compute @workgroup_size(GRADIENT_GROUP)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let cols = params.cols;
    let slot = (wg.y * groups.x + wg.x) * GRADIENT_GROUP + lane;
    if slot > cols {
        return;
    }
    var sum = Acc(0.0);
    var error = Acc(0.0);
    var magnitude = Acc(0.0);
    if slot < params.features {
        for (var k = column_start[slot]; k < column_start[slot + 1u]; k++) {
            let r = rows[row_index[k]];
            let xij = Acc(values[k]);
            let term = xij * Acc(r.derivative);
            sum += term;
            magnitude += abs(term);
            let e = xij * Acc(r.derivative_error);
            error += e * e;
        }
    } else if slot < cols {
        for (var i = 0u; i < params.rows; i++) {
            let r = rows[i];
            sum += Acc(r.derivative);
            magnitude += abs(Acc(r.derivative));
            let e = Acc(r.derivative_error);
            error += e * e;
        }
    } else {
        for (var i = 0u; i < params.rows; i++) {
            let r = rows[i];
            sum += Acc(r.loss);
            magnitude += abs(Acc(r.loss));
            let e = Acc(r.loss_error);
            error += e * e;
        }
    }
    partial[slot] = sum;
    partial[cols + 1u + slot] = error;
    partial[2u * (cols + 1u) + slot] = magnitude;
}

// Gradient partial sums: Xᵀ(w ⊙ ℓ') and Σ w ℓ over blocks of rows, with their error scales.
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params:  GradientParams
//   1  storage read  x:       array<f32>       the slice's rows of X, row-major, `cols` per row
//   2  storage read  rows:    array<RowStats>  the E-step's output for the slice
//   3  storage rw    partial: array<Acc>       output, one record per row block (below)
//
// Dispatch: (ceil((cols + 1) / 64), blocks, 1) workgroups of 64 invocations. Workgroup (t, b)
// sums rows [b · block_rows, (b + 1) · block_rows) of the slice; invocation k handles slot
// j = 64 t + k: column j of X for j < cols, the loss for j = cols. Slots past cols return.
// Neighbouring invocations read neighbouring columns of a row, so loads of X coalesce.
//
// Output record of block b, at partial[(block_offset + b) · 3 · (cols + 1)]:
//   [0, cols]                   Σᵢ xᵢⱼ wᵢℓ'ᵢ for each column j, then Σᵢ wᵢℓᵢ
//   [cols + 1, 2 cols + 1]      Σᵢ (xᵢⱼ · derivative_errorᵢ)², then Σᵢ loss_errorᵢ²
//   [2 cols + 2, 3 cols + 2]    Σᵢ |xᵢⱼ wᵢℓ'ᵢ|, then Σᵢ |wᵢℓᵢ|
// The second part holds squares: rounding errors of random sign add in quadrature, so the host
// takes their error scale as ε √(Σ squares). The third bounds what does not average out: the
// f32 functions' bias (each may err in the same direction in every row), ε Σ |term| per ulp.
//
// Precision: products and squares formed in `Acc` (in f64 they cannot leave the range); each
// block's sum runs in a fixed row order in `Acc`, which the host sets to f64 where the adapter
// has SHADER_F64 and leaves f32 otherwise. The host adds the blocks in order in f64. No atomics:
// two runs give the same bits.

// Accumulator type; the host substitutes `f64` for adapters with SHADER_F64.
alias Acc = f32;

@group(0) @binding(0) var<uniform> params: GradientParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<RowStats>;
@group(0) @binding(3) var<storage, read_write> partial: array<Acc>;

@compute @workgroup_size(GRADIENT_GROUP)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let cols = params.cols;
    let slot = wg.x * GRADIENT_GROUP + lane;
    if slot > cols {
        return;
    }
    let start = wg.y * params.block_rows;
    let end = min(start + params.block_rows, params.rows);
    var sum = Acc(0.0);
    var error = Acc(0.0);
    var magnitude = Acc(0.0);
    if slot < cols {
        for (var i = start; i < end; i++) {
            let xij = x[i * cols + slot];
            let r = rows[i];
            // Products and squares formed in Acc: in f64 they cannot leave the range.
            let term = Acc(xij) * Acc(r.derivative);
            sum += term;
            magnitude += abs(term);
            let e = Acc(xij) * Acc(r.derivative_error);
            error += e * e;
        }
    } else {
        for (var i = start; i < end; i++) {
            let r = rows[i];
            sum += Acc(r.loss);
            magnitude += abs(Acc(r.loss));
            let e = Acc(r.loss_error);
            error += e * e;
        }
    }
    let record = (params.block_offset + wg.y) * 3u * (cols + 1u);
    partial[record + slot] = sum;
    partial[record + cols + 1u + slot] = error;
    partial[record + 2u * (cols + 1u) + slot] = magnitude;
}

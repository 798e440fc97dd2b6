// Weighted Gram partial sums: the lower-triangle 64 × 64 tiles of Xᵀ diag(c) X over row splits,
// with cᵢ = the E-step's gram_weight.
//
// Bindings (group 0; the structs, FAMILY_* codes and size constants come from the prelude that
// src/backend/gpu/layout.rs generates and prepends):
//   0  uniform       params:  GramParams
//   1  storage read  x:       array<f32>       the slice's rows of X, row-major, `cols` per row
//   2  storage read  rows:    array<RowStats>  the E-step's output for the slice
//   3  storage rw    partial: array<f32>       output, 64 · 64 values per (split, tile pair)
//
// Dispatch: (pairs, splits, 1) workgroups of 16 × 16 invocations, pairs = T(T + 1)/2 for
// T = ceil(cols / 64) column tiles. Workgroup (q, s) computes tile pair q = (I, J), I ≥ J
// (q = I(I + 1)/2 + J), over rows [s · split_rows, (s + 1) · split_rows) of the slice, and
// writes it row-major at partial[((split_offset + s) · pairs + q) · 4096]. Each invocation
// owns a 4 × 4 block of the tile, rows ly + 16a and columns lx + 16b (a, b < 4), so the reads
// of the shared tiles are broadcasts or consecutive words.
//
// Per step, 16 rows of the two column tiles are staged in workgroup memory (the I tile already
// scaled by cᵢ), then every invocation does 16 × 16 fused multiply-adds from them. Out-of-range
// rows and columns are staged as zeros, so no tail needs a branch in the inner loop.
//
// Precision: f32. S only sets the speed of convergence, never the fixed point (the gradient
// does), so f32 is enough here; the splits are added in a fixed order by reduce.wgsl.

@group(0) @binding(0) var<uniform> params: GramParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<RowStats>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;


var<workgroup> tile_i: array<f32, 1024>; // STEP × TILE, row-major, scaled by cᵢ
var<workgroup> tile_j: array<f32, 1024>; // STEP × TILE, row-major

// The tile pair (I, J), I ≥ J, with index q = I(I + 1)/2 + J.
fn pair_of(q: u32) -> vec2<u32> {
    var ti = u32((sqrt(f32(8u * q + 1u)) - 1.0) * 0.5);
    // The f32 square root may be off by one either way for large q.
    while (ti + 1u) * (ti + 2u) / 2u <= q {
        ti += 1u;
    }
    while ti * (ti + 1u) / 2u > q {
        ti -= 1u;
    }
    return vec2<u32>(ti, q - ti * (ti + 1u) / 2u);
}

@compute @workgroup_size(STEP, STEP)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let cols = params.cols;
    let pair = pair_of(wg.x);
    let col_i = pair.x * TILE;
    let col_j = pair.y * TILE;
    let start = wg.y * params.split_rows;
    let end = min(start + params.split_rows, params.rows);

    var acc: array<array<f32, 4>, 4>;
    for (var a = 0u; a < 4u; a++) {
        for (var b = 0u; b < 4u; b++) {
            acc[a][b] = 0.0;
        }
    }

    for (var r0 = start; r0 < end; r0 += STEP) {
        // 256 invocations stage 2 × 1024 values: 4 of each tile apiece.
        for (var k = 0u; k < 4u; k++) {
            let idx = lane + k * STEP * STEP;
            let rr = idx / TILE;
            let cc = idx % TILE;
            let row = r0 + rr;
            var vi = 0.0;
            var vj = 0.0;
            if row < end {
                let base = row * cols;
                if col_i + cc < cols {
                    vi = x[base + col_i + cc] * rows[row].gram_weight;
                }
                if col_j + cc < cols {
                    vj = x[base + col_j + cc];
                }
            }
            tile_i[idx] = vi;
            tile_j[idx] = vj;
        }
        workgroupBarrier();
        for (var k = 0u; k < STEP; k++) {
            var ai: array<f32, 4>;
            var bj: array<f32, 4>;
            for (var a = 0u; a < 4u; a++) {
                ai[a] = tile_i[k * TILE + lid.y + STEP * a];
                bj[a] = tile_j[k * TILE + lid.x + STEP * a];
            }
            for (var a = 0u; a < 4u; a++) {
                for (var b = 0u; b < 4u; b++) {
                    acc[a][b] = fma(ai[a], bj[b], acc[a][b]);
                }
            }
        }
        workgroupBarrier();
    }

    let out = ((params.split_offset + wg.y) * params.pairs + wg.x) * TILE * TILE;
    for (var a = 0u; a < 4u; a++) {
        for (var b = 0u; b < 4u; b++) {
            partial[out + (lid.y + STEP * a) * TILE + lid.x + STEP * b] = acc[a][b];
        }
    }
}

//! One E-step on the CPU backend (loss, gradient and S = Xᵀ diag(w ω̂) X / W) at real sizes,
//! reported in GFLOP/s of the Gram product (2·n·p² flops for the full p × p matrix), next to
//! a hand-written lower-triangle loop (n·p² flops) that the kernel was chosen against.
//!
//! `cargo bench --bench gram`; `cargo test --benches` runs each case once at a small size as a
//! smoke test.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use scalemix::backend::Problem;
use scalemix::backend::{Backend, CpuBackend, Needs, Stats};
use scalemix::{Design, Family, synthetic};

const SHAPES: [(usize, usize); 2] = [(100_000, 100), (20_000, 300)];

/// The alternative kernel: for each row, a rank-1 update of the lower triangle, exploiting
/// symmetry (half the flops of GEMM) but with no blocking or packing.
fn lower_triangle_gram(x: &[f64], n: usize, p: usize, c: &[f64], s: &mut [f64]) {
    s.fill(0.0);
    for i in 0..n {
        let row = &x[i * p..(i + 1) * p];
        for j in 0..p {
            let cj = c[i] * row[j];
            let out = &mut s[j * p..j * p + j + 1];
            for (o, xk) in out.iter_mut().zip(&row[..=j]) {
                *o += cj * xk;
            }
        }
    }
}

fn gram(c: &mut Criterion) {
    // `cargo test --benches` (no --bench flag) runs each case once, at a small size.
    let measuring = std::env::args().any(|a| a == "--bench");
    let shapes: &[(usize, usize)] = if measuring { &SHAPES } else { &[(2_000, 20)] };
    let mut group = c.benchmark_group("estep_gram");
    group.sample_size(10);
    for &(n, p) in shapes {
        let data = synthetic::ill_conditioned_logistic(n, p, 1e4, 1.0, 1);
        let design = Design::row_major(&data.x, n, p).expect("shape");
        let problem =
            Problem::new(design, data.y.as_slice().into(), None, Family::Logistic).expect("valid");
        let theta: Vec<f64> = data.beta_true.iter().copied().chain([0.1]).collect();
        let mut backend = CpuBackend::new(&problem, true);
        let mut stats = Stats::new(p + 1);
        group.throughput(Throughput::Elements((2 * n * p * p) as u64));
        group.bench_function(BenchmarkId::new("cpu_gemm", format!("{n}x{p}")), |b| {
            b.iter(|| backend.evaluate(&theta, Needs::GradientAndGram, &mut stats).expect("cpu"))
        });
        let weights: Vec<f64> = (0..n).map(|i| 0.1 + (i % 7) as f64 * 0.02).collect();
        let mut s = vec![0.0; p * p];
        group.bench_function(BenchmarkId::new("lower_triangle_loop", format!("{n}x{p}")), |b| {
            b.iter(|| lower_triangle_gram(&data.x, n, p, &weights, &mut s))
        });
    }
    group.finish();
}

/// This machine's dense f64 GEMM rate (the physical limit the Gram kernel is read against):
/// C = A·B with A, B square, through the same packed GEMM (matrixmultiply) the CPU backend
/// calls, its rows split over every core with rayon as the backend splits X's rows;
/// `benches/peers/compare.py` measures numpy's BLAS the same way for a second opinion.
fn peak(c: &mut Criterion) {
    use rayon::prelude::*;
    let measuring = std::env::args().any(|a| a == "--bench");
    let size = if measuring { 2000 } else { 200 };
    let a: Vec<f64> = (0..size * size).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5).collect();
    let mut out = vec![0.0; size * size];
    let rows = size.div_ceil(rayon::current_num_threads()).max(1);
    let mut group = c.benchmark_group("peak_dgemm");
    group.sample_size(10);
    group.throughput(Throughput::Elements((2 * size * size * size) as u64));
    let name = format!("matrixmultiply {} threads", rayon::current_num_threads());
    group.bench_function(BenchmarkId::new(name, format!("{size}x{size}")), |b| {
        b.iter(|| {
            out.par_chunks_mut(rows * size).enumerate().for_each(|(k, block)| {
                let m = block.len() / size;
                // SAFETY: rows [k·rows, k·rows + m) of A (row-major, row stride `size`) times A
                // into this thread's own m × size block of `out`; nothing aliases.
                unsafe {
                    matrixmultiply::dgemm(
                        m,
                        size,
                        size,
                        1.0,
                        a.as_ptr().add(k * rows * size),
                        size as isize,
                        1,
                        a.as_ptr(),
                        size as isize,
                        1,
                        0.0,
                        block.as_mut_ptr(),
                        size as isize,
                        1,
                    )
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, gram, peak);
criterion_main!(benches);

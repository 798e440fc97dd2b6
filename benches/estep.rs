//! One full E-step (loss, gradient and S = Xᵀ diag(w ω̂) X / W, what every SM-EM iteration
//! costs) on each backend that is present, in GFLOP/s of the Gram product (2·n·d² flops,
//! d = p + 1 with the intercept).
//!
//! `cargo bench --bench estep`. Shapes: (100 000, 100) and (20 000, 500); set
//! `SCALEMIX_BENCH_SHAPES=1000000x512,…` for others (the GPU target is S at 40% of the card's
//! FP32 peak at 1 000 000 × 512). The GPU row names its adapter: on a software adapter
//! (lavapipe, llvmpipe) the figure measures a CPU rasterizer, never GPU performance.
//! `cargo test --benches` runs each case once at a small size as a smoke test.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use scalemix::backend::Problem;
use scalemix::backend::{Backend, CpuBackend, GpuBackend, GpuContext, GpuOptions, Needs, Stats};
use scalemix::{Design, Family};

const DEFAULT_SHAPES: [(usize, usize); 2] = [(100_000, 100), (20_000, 500)];

fn shapes() -> Vec<(usize, usize)> {
    let Ok(spec) = std::env::var("SCALEMIX_BENCH_SHAPES") else {
        // `cargo test --benches` (no --bench flag) runs each case once, at a small size.
        if !std::env::args().any(|a| a == "--bench") {
            return vec![(2_000, 20)];
        }
        return DEFAULT_SHAPES.to_vec();
    };
    spec.split(',')
        .map(|s| {
            let (n, p) = s.trim().split_once('x').expect("shape as NxP");
            (n.parse().expect("n"), p.parse().expect("p"))
        })
        .collect()
}

/// A random design with correlated columns (each column mixes its neighbour in) and labels
/// from a logistic model: cheap to generate at any size, realistic weights ω̂ in (0, ¼].
fn problem_data(n: usize, p: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(42);
    let mut x = vec![0.0; n * p];
    for row in x.chunks_exact_mut(p) {
        let mut prev = 0.0;
        for v in row.iter_mut() {
            let z: f64 = rng.random::<f64>() * 2.0 - 1.0;
            *v = 0.8 * prev + z;
            prev = *v;
        }
    }
    let beta: Vec<f64> = (0..p).map(|j| ((j % 7) as f64 - 3.0) / (p as f64).sqrt()).collect();
    let y = x
        .chunks_exact(p)
        .map(|row| {
            let eta: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
            f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp())))
        })
        .collect();
    let theta = beta.iter().map(|b| 0.5 * b).chain([0.1]).collect();
    (x, y, theta)
}

fn estep(c: &mut Criterion) {
    let gpu = match GpuContext::new(GpuOptions::default()) {
        Ok(context) => {
            let kind = if context.is_software() {
                "software adapter: a CPU rasterizer, NOT a GPU figure"
            } else {
                "hardware GPU"
            };
            eprintln!("GPU: {} [{kind}]", context.describe());
            Some(context)
        }
        Err(e) => {
            eprintln!("no GPU row: {e}");
            None
        }
    };
    let mut group = c.benchmark_group("estep");
    group.sample_size(10);
    for (n, p) in shapes() {
        let (x, y, theta) = problem_data(n, p);
        let design = Design::row_major(&x, n, p).expect("shape");
        let problem =
            Problem::new(design, y.as_slice().into(), None, Family::Logistic).expect("valid");
        let d = p + 1;
        let mut stats = Stats::new(d);
        group.throughput(Throughput::Elements((2 * n * d * d) as u64));
        let shape = format!("{n}x{p}");
        let mut cpu = CpuBackend::new(&problem, true);
        group.bench_function(BenchmarkId::new("cpu", &shape), |b| {
            b.iter(|| cpu.evaluate(&theta, Needs::GradientAndGram, &mut stats).expect("cpu"))
        });
        drop(cpu);
        if let Some(context) = &gpu {
            let mut backend = GpuBackend::new(context, &problem, true).expect("upload");
            let name = format!("gpu {}", context.adapter_name());
            group.bench_function(BenchmarkId::new(name, &shape), |b| {
                b.iter(|| {
                    backend.evaluate(&theta, Needs::GradientAndGram, &mut stats).expect("gpu")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, estep);
criterion_main!(benches);

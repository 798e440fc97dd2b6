//! One full fit and one path, end to end (input checks, upload, every iteration, the f64
//! objective), on the CPU and on the GPU when an adapter is present, next to the Adam baseline's
//! tuned grid on the same problem and backend.
//!
//! `cargo bench --bench fit` (the paper's problem: n = 10 000, p = 100, condition 1e4, ridge
//! λ = 1e-4, a 40-point lasso path); `cargo test --benches` runs each case once at a small size.
//! The GPU rows name their adapter: on a software adapter (lavapipe, llvmpipe) they measure a
//! CPU rasterizer, never GPU performance.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use scalemix::backend::{GpuContext, GpuOptions};
use scalemix::baselines::{self, LEARNING_RATE_GRID};
use scalemix::{BackendChoice, Design, Glm, PathOptions, Penalty, synthetic};

fn fit(c: &mut Criterion) {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (n, p) = if measuring { (10_000, 100) } else { (500, 10) };
    let data = synthetic::ill_conditioned_logistic(n, p, 1e4, 1.0, 9);
    let x = Design::row_major(&data.x, n, p).expect("shape");
    let shape = format!("{n}x{p}");

    let mut backends = vec![("cpu".to_string(), Glm::logistic().backend(BackendChoice::Cpu))];
    match GpuContext::new(GpuOptions::default()) {
        // A software adapter runs the smoke test (the kernels must work) but is not timed at
        // the real size: it measures a CPU rasterizer, and slowly.
        Ok(context) if context.is_software() && measuring => {
            eprintln!("no GPU rows: {} is a software adapter", context.describe());
        }
        Ok(context) => {
            let kind = if context.is_software() { " (software: not a GPU figure)" } else { "" };
            eprintln!("GPU: {}{kind}", context.describe());
            let name = format!("gpu {}{kind}", context.adapter_name());
            backends.push((name, Glm::logistic().backend(BackendChoice::Gpu).gpu_context(context)));
        }
        Err(e) => eprintln!("no GPU rows: {e}"),
    }

    let mut group = c.benchmark_group("fit_logistic_ridge");
    group.sample_size(10);
    for (name, glm) in &backends {
        let glm = glm.clone().penalty(Penalty::ridge(1e-4));
        group.bench_function(BenchmarkId::new(format!("sm-em {name}"), &shape), |b| {
            b.iter(|| glm.fit(x, &data.y).expect("fit"))
        });
        // Adam's tuned grid, 100 steps per rate (the cost of one tuning pass at a small budget).
        group.bench_function(BenchmarkId::new(format!("adam grid×100 {name}"), &shape), |b| {
            b.iter(|| {
                baselines::tuned_adam(&glm, x, &data.y, 100, &LEARNING_RATE_GRID).expect("adam")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("path_logistic_lasso_40");
    group.sample_size(10);
    let options = PathOptions { n_lambda: 40, early_stop: false, ..Default::default() };
    for (name, glm) in &backends {
        let glm = glm.clone().penalty(Penalty::lasso(1.0));
        group.bench_function(BenchmarkId::new(name.as_str(), &shape), |b| {
            b.iter(|| glm.path(x, &data.y, &options).expect("path"))
        });
    }
    group.finish();
}

criterion_group!(benches, fit);
criterion_main!(benches);

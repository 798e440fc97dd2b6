//! A 40-point lasso path (λ_max down to 1e-3·λ_max) three ways, on the same problem, in one run:
//! the path as scalemix fits it (warm starts, sequential strong rules on the CPU, shared
//! null model and scales), the path without strong rules, and 40 independent cold fits.
//! The ratios are the speedup from sharing.
//!
//! `cargo bench --bench path`; `cargo test --benches` runs each case once on a small problem.

use criterion::{Criterion, criterion_group, criterion_main};
use scalemix::{BackendChoice, Design, Glm, PathOptions, Penalty, synthetic};

fn path(c: &mut Criterion) {
    // `cargo bench` passes --bench; `cargo test --benches` runs each case once as a smoke test,
    // at a size that keeps the test suite fast.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (n, p) = if measuring { (2_000, 50) } else { (300, 10) };
    let data = synthetic::ill_conditioned_logistic(n, p, 1e4, 5.0, 3);
    let x = Design::row_major(&data.x, n, p).expect("shape");
    let glm =
        Glm::logistic().penalty(Penalty::lasso(1.0)).backend(BackendChoice::Cpu).max_iter(5000);
    let options = PathOptions {
        n_lambda: 40,
        lambda_min_ratio: Some(1e-3),
        early_stop: false,
        ..Default::default()
    };
    let lambdas = glm.path(x, &data.y, &options).expect("path").lambdas();

    let mut group = c.benchmark_group("lasso_path_40");
    group.sample_size(10);
    group.bench_function("path_strong_rules", |b| {
        b.iter(|| glm.path(x, &data.y, &options).expect("path"))
    });
    let no_rules = PathOptions { strong_rules: false, ..options.clone() };
    group.bench_function("path_no_strong_rules", |b| {
        b.iter(|| glm.path(x, &data.y, &no_rules).expect("path"))
    });
    group.bench_function("cold_fits", |b| {
        b.iter(|| {
            for &lambda in &lambdas {
                glm.clone().penalty(Penalty::lasso(lambda)).fit(x, &data.y).expect("fit");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, path);
criterion_main!(benches);

//! The M-step's linear solvers side by side on a wide ridge fit (p ≫ n): a logistic ridge on a
//! correlated 200 × 20 000 dense design and a 1 000 × 20 000 one, each fitted with conjugate
//! gradients and with the n × n dual (the d × d system would take 8 matrices of 3.2 GB), timed
//! in one run with the objective each reached. Where p is small enough (2 000) the Cholesky
//! step is timed too.
//!
//! `cargo run --release --example wide_ridge`

use std::time::Instant;

use rand::prelude::*;
use scalemix::{BackendChoice, Design, Glm, LinearSolver, Penalty};

fn main() -> Result<(), scalemix::Error> {
    env_logger::init();
    for (n, p) in [(200, 2_000), (200, 20_000), (1_000, 20_000)] {
        let mut rng = StdRng::seed_from_u64(7);
        // Correlated columns: a shared factor per row plus noise.
        let mut x = vec![0.0; n * p];
        for i in 0..n {
            let common: f64 = rng.random::<f64>() - 0.5;
            for j in 0..p {
                x[i * p + j] = 0.7 * common + rng.random::<f64>() - 0.5;
            }
        }
        let y: Vec<f64> = (0..n)
            .map(|i| {
                let eta: f64 = (0..20).map(|j| x[i * p + j]).sum::<f64>();
                f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp())))
            })
            .collect();
        let design = Design::row_major(&x, n, p)?;
        println!("logistic ridge λ = 1e-3, n = {n}, p = {p}");
        let mut solvers = vec![LinearSolver::ConjugateGradient, LinearSolver::Dual];
        if p <= 2_000 {
            solvers.push(LinearSolver::Cholesky);
        }
        let mut first = None;
        for solver in solvers {
            let glm = Glm::logistic()
                .penalty(Penalty::ridge(1e-3))
                .backend(BackendChoice::Cpu)
                .linear_solver(solver);
            let start = Instant::now();
            let fit = glm.fit(design, &y)?;
            let seconds = start.elapsed().as_secs_f64();
            let base = *first.get_or_insert(seconds);
            println!(
                "  {solver:>8}: {seconds:8.3} s ({:5.2}× the first), {:3} iterations, {:?}, F = {:.15}",
                seconds / base,
                fit.iterations(),
                fit.termination(),
                fit.objective()
            );
        }
    }
    Ok(())
}

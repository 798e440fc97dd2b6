//! The main job on an embedded default: an ill-conditioned logistic regression generated in
//! memory (n = 10 000, p = 200, condition number 1e6, coefficient scale 5 — close to
//! separable, ridge λ = 1e-6), fitted with every step scheme that applies to a ridge penalty:
//! plain SM-EM, paper-style Nesterov, Nesterov with restart, SQUAREM and the Newton-curvature
//! step with its EM safeguard (the default here, `auto`), on the CPU and, when wgpu finds a
//! hardware adapter, on the GPU. The proximal schemes (`prox-newton`, `prox-em`) are the exact ℓ₁
//! M-step: on a ridge penalty they are Newton and plain SM-EM, so they are not listed.
//!
//! `cargo run --release --example accelerations`

use std::time::Instant;

use scalemix::backend::{GpuContext, GpuOptions};
use scalemix::{Acceleration, BackendChoice, Design, Glm, Penalty, synthetic};

fn main() -> Result<(), scalemix::Error> {
    env_logger::init();
    let (n, p, condition, scale) = (10_000, 200, 1e6, 5.0);
    let t = Instant::now();
    let data = synthetic::ill_conditioned_logistic(n, p, condition, scale, 42);
    println!(
        "ill-conditioned logistic regression: n = {n}, p = {p}, condition {condition:e}, \
         scale {scale}, ridge λ = 1e-6 (generated in {:.2} s)",
        t.elapsed().as_secs_f64()
    );
    let x = Design::row_major(&data.x, n, p)?;
    let glm =
        Glm::logistic().penalty(Penalty::ridge(1e-6)).max_iter(1000).backend(BackendChoice::Cpu);

    let runs = [
        ("SM-EM (plain)", Acceleration::None),
        ("SM-EM + Nesterov", Acceleration::Nesterov),
        ("SM-EM + restart", Acceleration::Restart),
        ("SM-EM + SQUAREM", Acceleration::Squarem),
        ("SM-EM + Newton (auto)", Acceleration::Newton),
    ];
    let mut fits: Vec<_> = runs
        .iter()
        .map(|(name, acc)| glm.clone().acceleration(*acc).fit(x, &data.y).map(|f| (*name, f)))
        .collect::<Result<_, _>>()?;
    match GpuContext::new(GpuOptions::default()) {
        // A CPU rasterizer would only show how slow the GPU code is when emulated.
        Ok(gpu) if gpu.is_software() => {
            println!("no GPU rows: the only adapter, {}, is a software one", gpu.describe())
        }
        Ok(gpu) => {
            let gpu_runs =
                [("restart (gpu)", Acceleration::Restart), ("Newton (gpu)", Acceleration::Newton)];
            for (name, acc) in gpu_runs {
                let fit = glm.clone().acceleration(acc).gpu_context(gpu.clone()).fit(x, &data.y)?;
                fits.push((name, fit));
            }
        }
        Err(e) => println!("no GPU rows: {e}"),
    }
    let best = fits.iter().map(|(_, f)| f.objective()).fold(f64::INFINITY, f64::min);

    println!(
        "\n{:<22} {:>20} {:>11} {:>6} {:>9}  {:<16} backend",
        "solver", "objective", "gap", "iters", "time", "termination"
    );
    for (name, fit) in &fits {
        println!(
            "{:<22} {:>20.15} {:>11.2e} {:>6} {:>8.2}s  {:<16} {}",
            name,
            fit.objective(),
            (fit.objective() - best) / best,
            fit.iterations(),
            fit.elapsed().as_secs_f64(),
            fit.termination().to_string(),
            fit.backend()
        );
    }
    println!("\ngap: relative to the best objective in this table; max_iter = 1000.");
    Ok(())
}

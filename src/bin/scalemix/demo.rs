//! `scalemix demo`: the main job on an embedded default problem, SM-EM against Adam.

use std::path::Path as FilePath;
use std::time::Instant;

use scalemix::baselines::{self, LEARNING_RATE_GRID};
use scalemix::{Acceleration, BackendChoice, Design, Glm, Penalty, synthetic};

/// The problem: the ill-conditioned logistic regression of the paper's benchmarks.
const N: usize = 10_000;
const P: usize = 200;
const CONDITION: f64 = 1e6;
const SCALE: f64 = 5.0;
const LAMBDA: f64 = 1e-6;
/// Adam: full-batch steps per learning rate of the paper's grid.
const ADAM_STEPS: usize = 300;

pub fn run(backend: BackendChoice, plot: &FilePath) -> Result<(), String> {
    let t = Instant::now();
    let data = synthetic::ill_conditioned_logistic(N, P, CONDITION, SCALE, 42);
    println!(
        "ill-conditioned logistic regression generated in memory: n = {N}, p = {P}, condition \
         number {CONDITION:e}, coefficient scale {SCALE}, ridge λ = {LAMBDA:e} ({:.2} s)",
        t.elapsed().as_secs_f64()
    );
    let x = Design::row_major(&data.x, N, P).map_err(|e| e.to_string())?;
    let glm = Glm::logistic().penalty(Penalty::ridge(LAMBDA)).backend(backend).max_iter(1000);
    let mut rows = Vec::new();
    let mut traces = Vec::new();
    for (name, acceleration) in [
        ("SM-EM (plain)", Acceleration::None),
        ("SM-EM + restart", Acceleration::Restart),
        ("SM-EM + Newton", Acceleration::Newton),
    ] {
        let fit =
            glm.clone().acceleration(acceleration).fit(x, &data.y).map_err(|e| e.to_string())?;
        rows.push((
            name.to_string(),
            fit.objective(),
            fit.iterations(),
            fit.elapsed().as_secs_f64(),
            fit.backend().to_string(),
        ));
        traces.push((name, fit.objective_trace().to_vec()));
    }

    // Adam, full batch, on the same objective and backend, tuned over the paper's grid.
    let grid = baselines::tuned_adam(&glm, x, &data.y, ADAM_STEPS, &LEARNING_RATE_GRID)
        .map_err(|e| e.to_string())?;
    let best = grid.best();
    rows.push((
        format!("Adam (lr {:e}, best of {})", best.learning_rate, LEARNING_RATE_GRID.len()),
        best.objective,
        ADAM_STEPS,
        best.elapsed.as_secs_f64(),
        best.backend.to_string(),
    ));
    traces.push(("Adam (best lr)", best.objective_trace.clone()));

    let f_best = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    println!(
        "\n{:<32} {:>20} {:>10} {:>6} {:>8}  backend",
        "solver", "objective", "gap", "iters", "time"
    );
    for (name, f, iters, secs, backend) in &rows {
        println!(
            "{name:<32} {f:>20.15} {:>10.2e} {iters:>6} {secs:>7.2}s  {backend}",
            (f - f_best) / f_best
        );
    }
    println!(
        "\ngap: relative to the best objective in the table; Adam runs {ADAM_STEPS} full-batch steps per learning rate."
    );
    crate::plot::convergence(plot, &traces, f_best)?;
    println!("convergence plot: {}", plot.display());
    Ok(())
}

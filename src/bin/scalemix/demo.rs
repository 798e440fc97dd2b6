//! `scalemix demo`: the main job on an embedded default problem, SM-EM against Adam.

use std::path::Path as FilePath;
use std::time::Instant;

use scalemix::backend::{Backend, CpuBackend, Needs, Stats};
use scalemix::{Acceleration, BackendChoice, Design, Family, Glm, Penalty, Problem, synthetic};

/// The problem: the ill-conditioned logistic regression of the paper's benchmarks.
const N: usize = 10_000;
const P: usize = 200;
const CONDITION: f64 = 1e6;
const SCALE: f64 = 5.0;
const LAMBDA: f64 = 1e-6;
/// Adam: full-batch steps per learning rate, and the grid searched.
const ADAM_STEPS: usize = 300;
const ADAM_RATES: [f64; 6] = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1];

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

    // Adam, full batch, on the same objective, at each learning rate of the grid.
    let problem = Problem::new(x, data.y.as_slice().into(), None, Family::Logistic)
        .map_err(|e| e.to_string())?;
    let mut best: Option<(f64, f64, Vec<f64>, f64)> = None;
    for rate in ADAM_RATES {
        let start = Instant::now();
        let trace = adam(&problem, rate)?;
        let last = *trace.last().expect("steps ran");
        if best.as_ref().is_none_or(|b| last < b.1) {
            best = Some((rate, last, trace, start.elapsed().as_secs_f64()));
        }
    }
    let (rate, last, trace, seconds) = best.expect("the grid is not empty");
    rows.push((
        format!("Adam (lr {rate:e}, best of {})", ADAM_RATES.len()),
        last,
        ADAM_STEPS,
        seconds,
        "cpu f64".into(),
    ));
    traces.push(("Adam (best lr)", trace));

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

/// Adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) on F = L + λ/2 ‖β‖², intercept unpenalized; returns
/// F after every step (the starting point first).
fn adam(problem: &Problem<'_>, rate: f64) -> Result<Vec<f64>, String> {
    let d = P + 1;
    let mut backend = CpuBackend::new(problem, true);
    let mut stats = Stats::new(d);
    let (mut theta, mut m, mut v) = (vec![0.0; d], vec![0.0; d], vec![0.0; d]);
    let objective = |stats: &Stats, theta: &[f64]| {
        stats.loss + 0.5 * LAMBDA * theta[..P].iter().map(|b| b * b).sum::<f64>()
    };
    let mut trace = Vec::with_capacity(ADAM_STEPS + 1);
    for step in 1..=ADAM_STEPS + 1 {
        backend.evaluate(&theta, Needs::Gradient, &mut stats).map_err(|e| e.to_string())?;
        trace.push(objective(&stats, &theta));
        if step > ADAM_STEPS {
            break;
        }
        let (b1, b2) = (0.9f64, 0.999f64);
        for j in 0..d {
            let g = stats.gradient[j] + if j < P { LAMBDA * theta[j] } else { 0.0 };
            m[j] = b1 * m[j] + (1.0 - b1) * g;
            v[j] = b2 * v[j] + (1.0 - b2) * g * g;
            let m_hat = m[j] / (1.0 - b1.powi(step as i32));
            let v_hat = v[j] / (1.0 - b2.powi(step as i32));
            theta[j] -= rate * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
    Ok(trace)
}

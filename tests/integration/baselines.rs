//! The Adam baseline: its update against the textbook formulas, its objective against the
//! fixtures' independent optima, and the GPU gradient kernel against the CPU.

use scalemix::baselines::{self, Adam, LEARNING_RATE_GRID};
use scalemix::{BackendChoice, Design, Glm, Penalty};

use crate::common::reference;

/// The first Adam step moves every coordinate by the learning rate against the sign of its
/// gradient: m̂₁ = g and v̂₁ = g² after bias correction, so the step is α·g/(|g| + ε).
#[test]
fn first_step_is_the_learning_rate_against_the_gradient_sign() {
    // Gaussian, no intercept: L = (1/2n)‖y − Xβ‖², ∇L(0) = −Xᵀy/n.
    let (n, p) = (5, 2);
    let x = [1.0, 0.0, 0.0, 2.0, 1.0, 1.0, -1.0, 0.5, 2.0, -1.0];
    let y = vec![1.0, -2.0, 0.5, 1.0, 3.0];
    let design = Design::row_major(&x, n, p).unwrap();
    let glm =
        Glm::gaussian().penalty(Penalty::none()).fit_intercept(false).backend(BackendChoice::Cpu);
    let rate = 0.1;
    let run = baselines::adam(&glm, design, &y, &Adam::new(rate, 1)).unwrap();
    for j in 0..p {
        let g = -(0..n).map(|i| x[i * p + j] * y[i]).sum::<f64>() / n as f64;
        let expected = -rate * g / (g.abs() + 1e-8);
        assert!(
            (run.coefficients[j] - expected).abs() < 1e-15,
            "β{j}: {} vs {expected}",
            run.coefficients[j]
        );
    }
    // F at the start is ‖y‖²/2n, and the trace has one entry per step plus the start.
    let f0 = y.iter().map(|v| v * v).sum::<f64>() / (2.0 * n as f64);
    assert_eq!(run.objective_trace.len(), 2);
    assert!((run.objective_trace[0] - f0).abs() < 1e-15);
    assert!(!run.diverged);
}

/// Adam never beats an independently computed optimum; tuned on a small, well-scaled problem it
/// gets close to it; the grid keeps the best final objective.
#[test]
fn tuned_adam_approaches_but_never_beats_the_reference_optimum() {
    for name in ["illcond_logistic_p100", "breast_cancer_logistic_lasso"] {
        let r = reference(name);
        let design = Design::row_major(&r.x, r.n, r.p).unwrap();
        let glm = Glm::logistic()
            .penalty(Penalty::elastic_net(r.lambda, r.alpha))
            .fit_intercept(r.intercept)
            .backend(BackendChoice::Cpu);
        let grid = baselines::tuned_adam(&glm, design, &r.y, 500, &LEARNING_RATE_GRID).unwrap();
        assert_eq!(grid.runs.len(), LEARNING_RATE_GRID.len());
        let best = grid.best();
        for run in &grid.runs {
            assert!(run.objective >= best.objective);
            assert!(
                run.objective >= r.objective * (1.0 - 1e-12),
                "{name}: lr {} reached {} below F* = {}",
                run.learning_rate,
                run.objective,
                r.objective
            );
            assert_eq!(run.objective_trace.len(), run.trace_seconds.len());
        }
        let gap = (best.objective - r.objective) / r.objective;
        eprintln!("{name}: tuned Adam (lr {}) gap {gap:.2e} after 500 steps", best.learning_rate);
        assert!(gap < 0.05, "{name}: Adam did not get near the optimum: gap {gap:e}");
    }
}

/// The same Adam run on the GPU (the WGSL gradient kernel) follows the CPU run.
#[cfg(feature = "gpu")]
#[test]
fn gpu_adam_follows_the_cpu_run() {
    // Standard-normal-scale features: breast cancer's raw columns (up to 4e3) put η's f32
    // rounding above the gradients of its small coordinates, which flips their Adam steps.
    let r = reference("illcond_logistic_p100");
    let design = Design::row_major(&r.x, r.n, r.p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(r.lambda)).fit_intercept(false);
    let settings = Adam::new(1e-2, 20);
    let cpu =
        baselines::adam(&glm.clone().backend(BackendChoice::Cpu), design, &r.y, &settings).unwrap();
    let Some(contexts) = crate::gpu::contexts() else { return };
    for context in contexts {
        let gpu_glm = glm.clone().backend(BackendChoice::Gpu).gpu_context(context.clone());
        let gpu = baselines::adam(&gpu_glm, design, &r.y, &settings).unwrap();
        assert_eq!(gpu.backend.kind, "gpu");
        // f32 gradients flip no Adam step here (|g| ≫ rounding), so the runs stay within a
        // few f32 roundings per step of each other.
        let relative = (gpu.objective - cpu.objective).abs() / cpu.objective;
        assert!(relative < 1e-4, "GPU F {} vs CPU F {}", gpu.objective, cpu.objective);
        for (a, b) in gpu.objective_trace.iter().zip(&cpu.objective_trace) {
            assert!((a - b).abs() <= 1e-4 * b.abs(), "{a} vs {b}");
        }
    }
}

/// At every λ of a path, the tuned Adam grid stays above the SM-EM path's optimum.
#[test]
fn adam_path_stays_above_the_sm_em_path() {
    let r = reference("breast_cancer_logistic_ridge");
    let design = Design::row_major(&r.x, r.n, r.p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::lasso(1.0)).backend(BackendChoice::Cpu);
    let path = glm
        .path(
            design,
            &r.y,
            &scalemix::PathOptions {
                n_lambda: 5,
                lambda_min_ratio: Some(1e-2),
                ..Default::default()
            },
        )
        .unwrap();
    let lambdas = path.lambdas();
    let adam =
        baselines::tuned_adam_path(&glm, design, &r.y, &lambdas, 100, &[1e-2, 1e-1]).unwrap();
    assert_eq!(adam.len(), lambdas.len());
    for (point, grid) in path.points.iter().zip(&adam) {
        assert!(grid.best().objective >= point.objective * (1.0 - 1e-12), "λ = {}", point.lambda);
    }
}

#[test]
fn rejects_bad_adam_settings() {
    let r = reference("breast_cancer_logistic_ridge");
    let design = Design::row_major(&r.x, r.n, r.p).unwrap();
    let glm = Glm::logistic().backend(BackendChoice::Cpu);
    for bad in
        [Adam::new(0.0, 10), Adam::new(f64::NAN, 10), Adam { beta1: 1.0, ..Adam::new(0.1, 10) }]
    {
        assert!(matches!(
            baselines::adam(&glm, design, &r.y, &bad),
            Err(scalemix::Error::InvalidOption { .. })
        ));
    }
    assert!(matches!(
        baselines::tuned_adam(&glm, design, &r.y, 10, &[]),
        Err(scalemix::Error::InvalidOption { name: "rates", .. })
    ));
    assert!(matches!(
        baselines::tuned_adam_path(&glm, design, &r.y, &[], 10, &[0.1]),
        Err(scalemix::Error::InvalidOption { name: "lambdas", .. })
    ));
}

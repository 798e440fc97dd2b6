//! The non-logistic families and the bridge penalty: reference optima, subgradient optimality,
//! equivalences with independent formulations, and their rejected inputs.

use scalemix::{Acceleration, BackendChoice};

use crate::common::reference;
use crate::fixtures::{check_gap_within, fit_with, reference_model};

/// The tolerance of the non-smooth reference problems: (F(fit) − F*) / F*.
const NONSMOOTH_GAP: f64 = 1e-7;

const NONSMOOTH_FIXTURES: [&str; 2] = ["wine_hinge_ridge", "diabetes_quantile_median"];

/// Hinge and quantile reference optima on the CPU, with the default (Nesterov with restart)
/// and with plain EM.
#[test]
fn nonsmooth_fixtures_reach_their_optima_on_the_cpu() {
    for name in NONSMOOTH_FIXTURES {
        let r = reference(name);
        for acceleration in [Acceleration::Restart, Acceleration::None] {
            let glm = reference_model(&r, acceleration).backend(BackendChoice::Cpu);
            let fit = fit_with(&r, &glm);
            eprintln!("cpu {acceleration:?}: {} restarts", fit.restarts());
            check_gap_within(&r, &fit, NONSMOOTH_GAP);
        }
    }
}

/// The same optima through the GPU kernels, with f64 and with f32-only sums.
#[test]
fn nonsmooth_fixtures_reach_their_optima_on_the_gpu() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    for name in NONSMOOTH_FIXTURES {
        let r = reference(name);
        for context in contexts {
            let glm = reference_model(&r, Acceleration::Restart).gpu_context(context.clone());
            let fit = fit_with(&r, &glm);
            eprintln!("{}", fit.backend());
            check_gap_within(&r, &fit, NONSMOOTH_GAP);
        }
    }
}

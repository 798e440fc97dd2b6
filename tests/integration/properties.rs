//! EM's guarantees on small random problems of every family: plain EM, restart-Nesterov,
//! Newton, SQUAREM and the exact ℓ₁ M-steps (proximal EM, safeguarded proximal Newton) never
//! increase F, and the point a fit converges to satisfies the KKT conditions, checked from the
//! definitions here: the gradient of the smooth losses (logistic, gaussian, Student-t), the
//! subgradient conditions of hinge and quantile ([`crate::families::subgradient`]).

use proptest::prelude::*;
use scalemix::{Acceleration, Design, Family, Fit, Glm, Penalty, Termination};

use crate::common::smooth_kkt_violation;

/// Allowed increase of F between iterations: round-off in a sum of n loss terms of size O(1)
/// (n ≤ 40 here), relative to F.
const MONOTONE_SLACK: f64 = 1e-13;
/// KKT violation accepted at a converged point: the solver's default target (kkt_tol 1e-11
/// times max(1, ‖∇L‖∞ at the null model), O(1) to O(10) on these problems) with a factor 10 for
/// the rounding of this file's own sums.
const KKT_TOLERANCE: f64 = 1e-9;

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    p: usize,
    x: Vec<f64>,
    labels: Vec<bool>,
    response: Vec<f64>,
    lambda: f64,
    alpha: f64,
    intercept: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (3usize..30, 1usize..6).prop_flat_map(|(n, p)| {
        (
            prop::collection::vec(-3.0..3.0f64, n * p),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(-5.0..5.0f64, n),
            -4.0..0.0f64,
            prop_oneof![Just(0.0), Just(1.0), 0.0..1.0f64],
            any::<bool>(),
        )
            .prop_map(move |(x, labels, response, log_lambda, alpha, intercept)| Case {
                n,
                p,
                x,
                labels,
                response,
                lambda: 10f64.powf(log_lambda),
                alpha,
                intercept,
            })
    })
}

/// The families the properties are checked on (a case picks one by index): the smooth ones
/// with a gradient, the non-smooth ones with a subgradient, Student-t non-convex.
const FAMILIES: usize = 5;

fn family_of(index: usize, q: f64) -> Family {
    match index {
        0 => Family::Logistic,
        1 => Family::Gaussian,
        2 => Family::Hinge,
        3 => Family::Quantile { q },
        _ => Family::StudentT { nu: 3.0, sigma: 1.0 },
    }
}

fn target(family: Family, c: &Case) -> Vec<f64> {
    match family {
        Family::Logistic => c.labels.iter().map(|&b| f64::from(b)).collect(),
        Family::Hinge => c.labels.iter().map(|&b| if b { 1.0 } else { -1.0 }).collect(),
        _ => c.response.clone(),
    }
}

/// The case's λ for `family`: hinge and quantile converge linearly (their EM weights are
/// unbounded at the kink), so they take λ ≥ 1e-2 where a smooth family takes 1e-4.
fn lambda_for(family: Family, c: &Case) -> f64 {
    if family.has_unbounded_weight() { c.lambda.sqrt() } else { c.lambda }
}

fn fit_case(family: Family, c: &Case, acceleration: Acceleration, max_iter: usize) -> Fit {
    Glm::new(family)
        .penalty(Penalty::elastic_net(lambda_for(family, c), c.alpha))
        .fit_intercept(c.intercept)
        .acceleration(acceleration)
        .max_iter(max_iter)
        .fit(Design::row_major(&c.x, c.n, c.p).unwrap(), &target(family, c))
        .unwrap()
}

/// The rise F may take when a step sets ℓ₁ coefficients to exact zeros: the schemes with EM's
/// ℓ₁ weights reach zero only in the limit, so a coefficient whose contribution to η is below
/// `zero_tol` (1e-9) × the response scale is snapped to zero (docs/sm-em.md §3), which moves
/// each row's loss by at most that contribution × |ℓ'|. The exact ℓ₁ M-steps reach zeros
/// exactly and snap nothing; neither does a penalty without an ℓ₁ part.
fn snap_allowance(family: Family, c: &Case, acceleration: Acceleration) -> f64 {
    let lambda = lambda_for(family, c);
    let terms = scalemix::penalty::PenaltyTerms {
        ridge: vec![lambda * (1.0 - c.alpha); c.p],
        lasso: vec![lambda * c.alpha; c.p],
        exponent: 1.0,
    };
    let exact_l1 = matches!(
        acceleration.resolve(family, &terms),
        Acceleration::ProximalNewton | Acceleration::ProximalEm
    );
    if c.alpha == 0.0 || exact_l1 {
        return 0.0;
    }
    let y = target(family, c);
    let mean = y.iter().sum::<f64>() / c.n as f64;
    let response_scale = y.iter().fold(1.0_f64, |m, v| m.max((v - mean).abs()));
    // |ℓ'| at any iterate: 1 for logistic, hinge and quantile, (ν + 1)/(2√ν σ) for Student-t;
    // for gaussian |r|, where F ≤ F(start) ≤ Σ y²/(2n) bounds every r² by Σ y².
    let derivative = match family {
        Family::Gaussian => y.iter().map(|v| v * v).sum::<f64>().sqrt(),
        Family::StudentT { nu, sigma } => (nu + 1.0) / (2.0 * nu.sqrt() * sigma),
        _ => 1.0,
    };
    1e-9 * response_scale * derivative * c.p as f64
}

fn assert_monotone(trace: &[f64], snap: f64) -> Result<(), TestCaseError> {
    for (k, w) in trace.windows(2).enumerate() {
        prop_assert!(
            w[1] <= w[0] + MONOTONE_SLACK * w[0].abs().max(1e-300) + snap,
            "F went up at iteration {}: {} -> {}",
            k + 1,
            w[0],
            w[1]
        );
    }
    Ok(())
}

/// The fit's optimality from the definitions: the KKT violation for a smooth loss, the
/// subgradient conditions (which panic with the failing row or coordinate) for hinge and
/// quantile.
fn check_optimality(family: Family, c: &Case, fit: &Fit) -> Result<(), TestCaseError> {
    use crate::families::subgradient::{Loss, check};
    let y = target(family, c);
    let loss = match family {
        Family::Hinge => Loss::Hinge,
        Family::Quantile { q } => Loss::Quantile(q),
        _ => {
            let b0 = c.intercept.then_some(fit.intercept());
            let (lambda, beta) = (lambda_for(family, c), fit.coefficients());
            let v = smooth_kkt_violation(family, &c.x, &y, c.p, lambda, c.alpha, beta, b0);
            prop_assert!(v <= KKT_TOLERANCE, "KKT violation {v:e}");
            return Ok(());
        }
    };
    let b0 = c.intercept.then_some(fit.intercept());
    let lambda = lambda_for(family, c);
    // A converged hinge or quantile fit has met its KKT target floored at the f64 gradient's
    // rounding, which the jumps of ℓ' at rows near their kink make large on a few rows
    // (README): the subgradient conditions must hold to what it reports. A stalled fit
    // reports its smoothed gradient's violation instead, so it is held to the definitions'
    // own tolerance.
    let reported = if fit.converged() { fit.kkt_violation() } else { 0.0 };
    check(&loss, &c.x, &y, c.n, c.p, lambda, c.alpha, fit.coefficients(), b0, reported);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn monotone_variants_never_increase_the_objective(
        c in case(),
        family in 0..FAMILIES,
        q in 0.1..0.9f64,
    ) {
        let family = family_of(family, q);
        // Hinge and quantile with an ℓ₁ part run EM's ℓ₁ weights, whose zeros absorb; a zero
        // whose KKT condition fails is revived by a step of the smoothed model, which can raise
        // F where kink rows pin the other coordinates (docs/sm-em.md §3): the one step that is
        // not monotone, so their traces are checked with ridge penalties.
        let c = if family.has_unbounded_weight() { Case { alpha: 0.0, ..c } } else { c };
        // Plain EM is slow on some cases; 300 iterations show its trace without a long wait.
        for (acceleration, max_iter) in [
            (Acceleration::None, 300),
            (Acceleration::Restart, 20_000),
            (Acceleration::Newton, 20_000),
            (Acceleration::Squarem, 20_000),
            (Acceleration::ProximalNewton, 20_000),
            (Acceleration::ProximalEm, 20_000),
            (Acceleration::Auto, 20_000),
        ] {
            let fit = fit_case(family, &c, acceleration, max_iter);
            assert_monotone(fit.objective_trace(), snap_allowance(family, &c, acceleration))
                .map_err(|e| TestCaseError::fail(format!("{family:?} {acceleration:?}: {e}")))?;
        }
    }

    #[test]
    fn converged_fits_satisfy_kkt(c in case(), family in 0..FAMILIES, q in 0.1..0.9f64) {
        let family = family_of(family, q);
        // With a single class the unpenalized intercept has no finite optimum
        // (OptimumAtInfinity, tested in params.rs); KKT is only defined at a finite one.
        let classification = family.is_classification();
        prop_assume!(
            !(classification && c.intercept)
                || (c.labels.contains(&true) && c.labels.contains(&false))
        );
        // The un-extrapolated MM step (ProximalEm) contracts linearly at the ratio of the
        // loss's curvature to the EM weights' at the optimum: for a nearly separable logistic
        // lasso at λ = 1e-4 (|η| ≈ 9 there) about 2e-3 a step, so it needs some 23 000 steps
        // (measured: 22 917 on the case in proptest-regressions/properties.txt) where the
        // accelerated schemes take hundreds. Its budget allows for λ down to 1e-4.
        for (acceleration, max_iter) in [
            (Acceleration::Restart, 20_000),
            (Acceleration::Squarem, 20_000),
            (Acceleration::ProximalNewton, 20_000),
            (Acceleration::ProximalEm, 200_000),
            (Acceleration::Auto, 20_000),
        ] {
            // SQUAREM, like plain EM, crawls on hinge and quantile (their EM weights pin the kink
            // rows): measured 200 000 iterations short of a 4-row quantile elastic net that
            // restart (their default) solves in 3 022. Their other schemes run restart.
            if family.has_unbounded_weight() && acceleration == Acceleration::Squarem {
                continue;
            }
            let fit = fit_case(family, &c, acceleration, max_iter);
            // Hinge and quantile judge convergence on their smoothed gradient, which cannot
            // pick the kink rows' subgradients: at an optimum held by kink rows it stays above
            // the target, and the fit stops `Stalled` (where its steps no longer move θ). The
            // subgradient conditions below then decide whether it is an optimum all the same.
            let nonsmooth_stall =
                family.has_unbounded_weight() && fit.termination() == Termination::Stalled;
            prop_assert!(
                fit.converged() || nonsmooth_stall,
                "{family:?} {acceleration:?}: {:?} after {} iterations",
                fit.termination(),
                fit.iterations()
            );
            check_optimality(family, &c, &fit)
                .map_err(|e| TestCaseError::fail(format!("{family:?} {acceleration:?}: {e}")))?;
        }
    }
}

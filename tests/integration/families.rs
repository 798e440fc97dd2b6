//! The non-logistic families and the bridge penalty: reference optima, subgradient optimality,
//! equivalences with independent formulations, and their rejected inputs.

use scalemix::{
    Acceleration, BackendChoice, Data, Design, Glm, LinearSolver, Penalty, Termination,
};

use crate::common::objective;
use crate::common::reference;
use crate::fixtures::{check_gap, fit_with, reference_model};

/// The relative gap of an exact solve to a fixture's independently computed optimum.
const EXACT_GAP: f64 = 1e-12;

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
            check_gap(&r, &fit);
        }
    }
}

/// The ridge fixture among them (wine, hinge) on the d × d step and without S (conjugate
/// gradients and the n × n dual asked for): SM-EM's stages then the exact solve on the rows at
/// the kink, which ends at the exact loss's optimum, so the gap to the independent optimum is
/// that optimum's own precision (the smoothing's ε/4 bound that `check_gap` allows is gone)
/// and the KKT violation rounding.
#[test]
fn nonsmooth_ridge_fixtures_are_solved_exactly_on_their_kink_rows() {
    let mut solved = 0;
    for name in NONSMOOTH_FIXTURES {
        let r = reference(name);
        // A ridge with λ > 0 (the quantile fixture is unpenalized: no ridge to divide by).
        if r.alpha != 0.0 || r.lambda == 0.0 {
            continue;
        }
        solved += 1;
        for solver in [LinearSolver::Auto, LinearSolver::ConjugateGradient, LinearSolver::Dual] {
            let glm = reference_model(&r, Acceleration::Auto)
                .linear_solver(solver)
                .backend(BackendChoice::Cpu);
            let fit = fit_with(&r, &glm);
            let f = objective(&r, fit.coefficients(), fit.intercept());
            let gap = (f - r.objective) / r.objective;
            eprintln!(
                "{name} {solver}: gap {gap:.3e}, {} iterations, {}",
                fit.iterations(),
                fit.backend()
            );
            assert!(fit.backend().device.contains("rows at the kink"), "{}", fit.backend());
            assert_eq!(fit.termination(), Termination::Converged);
            assert!(gap.abs() <= EXACT_GAP, "{name} {solver}: gap {gap:e}");
            assert!(fit.kkt_violation() <= 1e-12, "{name}: {:e}", fit.kkt_violation());
        }
    }
    assert!(solved > 0, "no ridge among the non-smooth fixtures");
}

/// The same optima through the GPU kernels, with f64 and with f32-only sums.
#[cfg(feature = "gpu")]
#[test]
fn nonsmooth_fixtures_reach_their_optima_on_the_gpu() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    for name in NONSMOOTH_FIXTURES {
        let r = reference(name);
        for context in contexts {
            let glm = reference_model(&r, Acceleration::Restart).gpu_context(context.clone());
            let fit = fit_with(&r, &glm);
            eprintln!("{}", fit.backend());
            check_gap(&r, &fit);
        }
    }
}

/// Subgradient optimality of a non-smooth fit, checked from the definitions: rows off the kink
/// (|r| > `KINK`) contribute their derivative; the kink rows' subgradients tᵢ are solved for by
/// bounded least squares, each in its interval, together with the zero coordinates' ℓ₁
/// subgradients in [−λα, λα], and must solve every coordinate's equation 0 ∈ ∂F (to a tolerance
/// relative to the largest term, or to a KKT violation the fit reported, if larger).
pub(crate) mod subgradient {
    use nalgebra::{DMatrix, DVector};

    /// Rows this close to the kink are treated as on it (the ε floor of the fit is 1e-10).
    const KINK: f64 = 1e-7;
    /// KKT equations hold to this, relative to the largest gradient term.
    const TOL: f64 = 1e-6;

    #[derive(Debug)]
    pub enum Loss {
        /// Labels ±1.
        Hinge,
        Quantile(f64),
    }

    #[allow(clippy::too_many_arguments)]
    pub fn check(
        loss: &Loss,
        x: &[f64],
        y: &[f64],
        n: usize,
        p: usize,
        lambda: f64,
        alpha: f64,
        beta: &[f64],
        b0: Option<f64>,
        reported: f64,
    ) {
        // Coordinates, intercept last (held at 0 without one: no equation of its own).
        let (d, intercept) = (p + 1, b0.is_some());
        let b0 = b0.unwrap_or(0.0);
        let row = |i: usize| (0..p).map(move |j| x[i * p + j]).chain([1.0]);
        let (mut fixed, mut kinks, mut scale) = (vec![0.0; d], Vec::new(), 0.0_f64);
        for i in 0..n {
            let eta = b0 + (0..p).map(|j| x[i * p + j] * beta[j]).sum::<f64>();
            // (distance to the kink, derivative off it, subgradient interval on it)
            let (r, off, interval) = match loss {
                Loss::Hinge => {
                    let r = 1.0 - y[i] * eta;
                    let off = if r > 0.0 { -y[i] } else { 0.0 };
                    let (a, b) = (-y[i], 0.0);
                    (r, off, (a.min(b), a.max(b)))
                }
                Loss::Quantile(q) => {
                    let r = y[i] - eta;
                    let off = if r > 0.0 { -q } else { 1.0 - q };
                    (r, off, (-q, 1.0 - q))
                }
            };
            if r.abs() <= KINK * y[i].abs().max(1.0) {
                kinks.push((i, interval));
            } else {
                for (j, xij) in row(i).enumerate() {
                    fixed[j] += off * xij / n as f64;
                    scale = scale.max((off * xij).abs() / n as f64);
                }
            }
        }
        // Every row's largest possible term (|subgradient| ≤ 1 for both losses), kinks included:
        // the scale the equations' rounding is measured against.
        for i in 0..n {
            for xij in row(i) {
                scale = scale.max(xij.abs() / n as f64);
            }
        }
        // 0 ∈ ∂F: one equation per coordinate (the intercept's only with one). Its unknowns are
        // the kink rows' subgradients tₖ, each in its interval, and for each zero coefficient
        // uⱼ ∈ [−λα, λα] (the ℓ₁ term's subgradient there); a nonzero coefficient contributes
        // its penalty's gradient to the right-hand side.
        let equations: Vec<usize> = (0..d).filter(|&j| j < p || intercept).collect();
        let zeros: Vec<usize> = (0..p).filter(|&j| beta[j] == 0.0).collect();
        let penalty = |j: usize| {
            if j == p || beta[j] == 0.0 {
                0.0
            } else {
                lambda * ((1.0 - alpha) * beta[j] + alpha * beta[j].signum())
            }
        };
        let unknowns = kinks.len() + zeros.len();
        let a = DMatrix::from_fn(equations.len(), unknowns, |r, k| match kinks.get(k) {
            Some(&(i, _)) => row(i).nth(equations[r]).unwrap() / n as f64,
            None => f64::from(u8::from(zeros[k - kinks.len()] == equations[r])),
        });
        let b = DVector::from_iterator(
            equations.len(),
            equations.iter().map(|&j| -(fixed[j] + penalty(j))),
        );
        let bounds: Vec<(f64, f64)> = kinks
            .iter()
            .map(|&(_, interval)| interval)
            .chain(zeros.iter().map(|_| (-lambda * alpha, lambda * alpha)))
            .collect();
        // The reported violation is an ∞-norm at one choice of subgradients; the least-squares
        // choice's ∞-norm is within √(equations) of it.
        let tolerance = (TOL * scale).max((equations.len() as f64).sqrt() * reported);
        let (z, residual) = box_least_squares(&a, &b, &bounds, tolerance);
        assert!(
            residual <= tolerance,
            "no subgradient in its intervals solves 0 ∈ ∂F: off by {residual:e} (scale {scale:e}; \
             kink rows {:?}, zero coefficients {zeros:?}, solution {:?})",
            kinks.iter().map(|k| k.0).collect::<Vec<_>>(),
            z.as_slice()
        );
        eprintln!(
            "KKT: {} kink rows, {} zero coefficients, residual {residual:.1e}",
            kinks.len(),
            zeros.len()
        );
    }

    /// min ½‖Az − b‖² over the box `bounds` by cyclic coordinate descent (convex; each step
    /// exact), until ‖Az − b‖∞ ≤ `enough` or the sweeps run out: the solution and ‖Az − b‖∞.
    fn box_least_squares(
        a: &DMatrix<f64>,
        b: &DVector<f64>,
        bounds: &[(f64, f64)],
        enough: f64,
    ) -> (DVector<f64>, f64) {
        let mut z =
            DVector::from_iterator(bounds.len(), bounds.iter().map(|(lo, hi)| (lo + hi) / 2.0));
        let mut r = a * &z - b;
        for _ in 0..200_000 {
            if r.amax() <= enough {
                break;
            }
            for (k, &(lo, hi)) in bounds.iter().enumerate() {
                let column = a.column(k);
                let norm = column.norm_squared();
                if norm == 0.0 {
                    continue;
                }
                let next = (z[k] - column.dot(&r) / norm).clamp(lo, hi);
                r += column * (next - z[k]);
                z[k] = next;
            }
        }
        let residual = r.amax();
        (z, residual)
    }
}

/// The hinge and quantile fits satisfy their subgradient conditions, with ridge and with
/// lasso / elastic-net penalties (zero coefficients included).
#[test]
fn nonsmooth_fits_satisfy_subgradient_optimality() {
    use subgradient::{Loss, check};
    for (name, lambda, alpha) in [
        ("wine_hinge_ridge", 1e-2, 0.0),
        ("wine_hinge_ridge", 2e-2, 1.0),
        ("diabetes_quantile_median", 0.0, 0.0),
        ("diabetes_quantile_median", 3e-3, 1.0),
        ("diabetes_quantile_median", 3e-3, 0.5),
    ] {
        let r = reference(name);
        let (glm, loss) = match r.family.as_str() {
            "hinge" => (Glm::hinge(), Loss::Hinge),
            _ => (Glm::quantile(r.q.unwrap()), Loss::Quantile(r.q.unwrap())),
        };
        let x = Design::row_major(&r.x, r.n, r.p).unwrap();
        let fit = glm
            .penalty(Penalty::elastic_net(lambda, alpha))
            .backend(BackendChoice::Cpu)
            .max_iter(5000)
            .fit(x, &r.y)
            .unwrap();
        assert_eq!(fit.termination(), Termination::Converged, "{name} λ={lambda} α={alpha}");
        let zeros = fit.coefficients().iter().filter(|&&b| b == 0.0).count();
        eprintln!("{name} λ={lambda} α={alpha}: {} iterations, {zeros} zeros", fit.iterations());
        if alpha > 0.0 && lambda > 0.0 {
            assert!(zeros > 0, "{name}: the lasso should zero some coefficients");
        }
        let (beta, b0) = (fit.coefficients(), Some(fit.intercept()));
        check(&loss, &r.x, &r.y, r.n, r.p, lambda, alpha, beta, b0, 0.0);
    }
}

/// A small seeded design and a linear predictor for the equivalence tests.
fn design(n: usize, p: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let s = scalemix::synthetic::ill_conditioned_logistic(n, p, 10.0, 1.0, seed);
    let eta = (0..n).map(|i| (0..p).map(|j| s.x[i * p + j] * s.beta_true[j]).sum()).collect();
    (s.x, eta)
}

/// Binomial counts y of m trials equal logistic regression on the rows expanded to m Bernoulli
/// rows (y ones, m − y zeros). The binomial mean divides by n rows, the expanded one by Σm, so
/// the same optimum needs λ scaled by n / Σm.
#[test]
fn binomial_equals_logistic_on_expanded_rows() {
    let (n, p) = (60, 4);
    let (x, eta) = design(n, p, 21);
    let trials: Vec<f64> = (0..n).map(|i| (1 + i % 5) as f64).collect();
    let successes: Vec<f64> = (0..n)
        .map(|i| (trials[i] / (1.0 + (-eta[i]).exp())).round().clamp(0.0, trials[i]))
        .collect();
    let (mut xe, mut ye) = (Vec::new(), Vec::new());
    for i in 0..n {
        for k in 0..trials[i] as usize {
            xe.extend_from_slice(&x[i * p..(i + 1) * p]);
            ye.push(f64::from(u8::from((k as f64) < successes[i])));
        }
    }
    let total: f64 = trials.iter().sum();
    let lambda = 1e-2;
    let binomial = Glm::binomial()
        .penalty(Penalty::ridge(lambda))
        .backend(BackendChoice::Cpu)
        .fit_data(&Data::binomial(Design::row_major(&x, n, p).unwrap(), &successes, &trials))
        .unwrap();
    let logistic = Glm::logistic()
        .penalty(Penalty::ridge(lambda * n as f64 / total))
        .backend(BackendChoice::Cpu)
        .fit(Design::row_major(&xe, ye.len(), p).unwrap(), &ye)
        .unwrap();
    assert!(binomial.converged() && logistic.converged());
    for (j, (a, b)) in binomial.coefficients().iter().zip(logistic.coefficients()).enumerate() {
        assert!((a - b).abs() <= 1e-8 * b.abs().max(1.0), "coef {j}: {a} vs {b}");
    }
    assert!((binomial.intercept() - logistic.intercept()).abs() <= 1e-8);
    // The objectives differ by exactly the factor Σm / n.
    let ratio = binomial.objective() / logistic.objective();
    assert!((ratio - total / n as f64).abs() <= 1e-9 * ratio, "objective ratio {ratio}");
}

/// Student-t regression with fixed (ν, σ) against iteratively reweighted least squares written
/// here with nalgebra: weights τᵢ = (ν+1)/(νσ² + rᵢ²), then the ridge normal equations
/// (XᵀTX/n + λI′) θ = XᵀTy/n (intercept unpenalized), to a fixed point.
#[test]
fn student_t_matches_an_independent_irls() {
    use nalgebra::{DMatrix, DVector};
    let (n, p) = (80, 3);
    let (x, eta) = design(n, p, 5);
    // Gaussian-like noise with a few gross outliers.
    let y: Vec<f64> = (0..n)
        .map(|i| {
            eta[i] + 0.3 * ((i * 37 % 11) as f64 - 5.0) / 5.0 + if i % 13 == 0 { 8.0 } else { 0.0 }
        })
        .collect();
    let (nu, sigma, lambda) = (3.0, 0.5, 1e-3);
    let fit = Glm::student_t(nu, Some(sigma))
        .penalty(Penalty::ridge(lambda))
        .backend(BackendChoice::Cpu)
        .fit(Design::row_major(&x, n, p).unwrap(), &y)
        .unwrap();
    assert!(fit.converged(), "{:?}", fit.termination());

    let xa = DMatrix::from_fn(n, p + 1, |i, j| if j < p { x[i * p + j] } else { 1.0 });
    let yv = DVector::from_vec(y.clone());
    let mut theta = DVector::zeros(p + 1);
    theta[p] = y.iter().sum::<f64>() / n as f64;
    for _ in 0..2000 {
        let r = &yv - &xa * &theta;
        let tau =
            DVector::from_iterator(n, r.iter().map(|r| (nu + 1.0) / (nu * sigma * sigma + r * r)));
        let xt = DMatrix::from_fn(p + 1, n, |j, i| xa[(i, j)] * tau[i]);
        let mut a = &xt * &xa / n as f64;
        for j in 0..p {
            a[(j, j)] += lambda;
        }
        let next = a.lu().solve(&(&xt * &yv / n as f64)).expect("solvable");
        let done = (&next - &theta).amax() <= 1e-14;
        theta = next;
        if done {
            break;
        }
    }
    for j in 0..p {
        let (a, b) = (fit.coefficients()[j], theta[j]);
        assert!((a - b).abs() <= 1e-8 * b.abs().max(1.0), "coef {j}: {a} vs IRLS {b}");
    }
    assert!((fit.intercept() - theta[p]).abs() <= 1e-8 * theta[p].abs().max(1.0));
}

/// With σ estimated, the fit's σ is the fixed point of its own EM equation
/// σ² = (1/n) Σ τᵢ rᵢ², τᵢ = (ν+1)/(ν + rᵢ²/σ²), at the fit's residuals.
#[test]
fn student_t_estimates_sigma_at_its_fixed_point() {
    let (n, p) = (120, 3);
    let (x, eta) = design(n, p, 8);
    let y: Vec<f64> = (0..n)
        .map(|i| {
            eta[i] + 0.7 * ((i * 53 % 17) as f64 - 8.0) / 8.0 + if i % 10 == 0 { 6.0 } else { 0.0 }
        })
        .collect();
    let nu = 4.0;
    let fit = Glm::student_t(nu, None)
        .backend(BackendChoice::Cpu)
        .fit(Design::row_major(&x, n, p).unwrap(), &y)
        .unwrap();
    assert!(fit.converged());
    let scalemix::Family::StudentT { sigma, .. } = fit.family() else { panic!("family") };
    let r2: Vec<f64> = (0..n)
        .map(|i| {
            let e =
                fit.intercept() + (0..p).map(|j| x[i * p + j] * fit.coefficients()[j]).sum::<f64>();
            (y[i] - e).powi(2)
        })
        .collect();
    let s2 = sigma * sigma;
    let implied = r2.iter().map(|r2| (nu + 1.0) / (nu + r2 / s2) * r2).sum::<f64>() / n as f64;
    eprintln!("σ = {sigma}, implied {}", implied.sqrt());
    assert!((implied - s2).abs() <= 1e-8 * s2, "σ² = {s2} but its EM update gives {implied}");
    // The outliers are down-weighted: σ is far below the residual standard deviation.
    let sd = (r2.iter().sum::<f64>() / n as f64).sqrt();
    assert!(sigma < 0.8 * sd, "σ = {sigma}, residual sd = {sd}");
}

mod rejects {
    use scalemix::{Data, Design, Error, Glm};

    fn data() -> (Vec<f64>, usize, usize) {
        ((0..12).map(|v| v as f64 * 0.3 - 1.0).collect(), 6, 2)
    }

    #[test]
    fn rejects_a_third_class_for_hinge() {
        let (x, n, p) = data();
        let y = [1.0, -1.0, 2.0, 1.0, -1.0, 1.0];
        let err = Glm::hinge().fit(Design::row_major(&x, n, p).unwrap(), &y[..]).unwrap_err();
        assert!(matches!(err, Error::InvalidLabel { row: 2, value, .. } if value == 2.0), "{err}");
    }

    #[test]
    fn rejects_quantile_levels_outside_the_unit_interval() {
        let (x, n, p) = data();
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        for q in [0.0, 1.0, -0.2, 1.5, f64::NAN] {
            let err =
                Glm::quantile(q).fit(Design::row_major(&x, n, p).unwrap(), &y[..]).unwrap_err();
            assert!(matches!(err, Error::InvalidOption { name: "q", .. }), "q = {q}: {err}");
        }
    }

    #[test]
    fn rejects_counts_above_the_trials() {
        let (x, n, p) = data();
        let trials = [3.0, 3.0, 3.0, 2.0, 2.0, 2.0];
        let successes = [1.0, 0.0, 3.0, 2.0, 3.0, 1.0];
        let err = Glm::binomial()
            .fit_data(&Data::binomial(Design::row_major(&x, n, p).unwrap(), &successes, &trials))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidLabel { row: 4, .. }), "{err}");
        assert!(err.to_string().contains("trials"), "{err}");
    }

    #[test]
    fn rejects_negative_trials_and_misuse_of_fit_binomial() {
        let (x, n, p) = data();
        let design = Design::row_major(&x, n, p).unwrap();
        let trials = [3.0, 3.0, -1.0, 2.0, 2.0, 2.0];
        let successes = [1.0, 0.0, 0.0, 2.0, 1.0, 1.0];
        let err =
            Glm::binomial().fit_data(&Data::binomial(design, &successes, &trials)).unwrap_err();
        assert!(matches!(err, Error::NegativeValue { index: 2, .. }), "{err}");
        let err =
            Glm::logistic().fit_data(&Data::binomial(design, &successes, &[3.0; 6])).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        let err = Glm::binomial().fit(design, &successes[..]).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    }

    #[test]
    fn rejects_nonpositive_student_t_parameters() {
        let (x, n, p) = data();
        let y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let design = Design::row_major(&x, n, p).unwrap();
        for (glm, name) in [
            (Glm::student_t(0.0, Some(1.0)), "nu"),
            (Glm::student_t(-2.0, None), "nu"),
            (Glm::student_t(3.0, Some(0.0)), "sigma"),
            (Glm::student_t(3.0, Some(f64::INFINITY)), "sigma"),
        ] {
            let err = glm.fit(design, &y[..]).unwrap_err();
            assert!(matches!(err, Error::InvalidOption { name: n, .. } if n == name), "{err}");
        }
    }
}

/// Logistic gradient (1/n) Xᵀ(σ(η) − y) and objective with λ Σ|β|^q, from the definitions.
fn bridge_stationarity(
    r: &crate::common::Reference,
    beta: &[f64],
    b0: f64,
    lambda: f64,
    q: f64,
) -> (Vec<f64>, f64) {
    let (n, p) = (r.n, r.p);
    let mut g = vec![0.0; p + 1];
    let mut loss = 0.0;
    for i in 0..n {
        let eta = b0 + (0..p).map(|j| r.x[i * p + j] * beta[j]).sum::<f64>();
        let prob = 1.0 / (1.0 + (-eta).exp());
        let softplus = |t: f64| if t > 0.0 { t + (-t).exp().ln_1p() } else { t.exp().ln_1p() };
        loss += if r.y[i] == 1.0 { softplus(-eta) } else { softplus(eta) };
        let row = r.x[i * p..(i + 1) * p].iter().chain([&1.0]);
        for (gj, xij) in g.iter_mut().zip(row) {
            *gj += (prob - r.y[i]) * xij / n as f64;
        }
    }
    let mut violation = g[p].abs();
    for j in 0..p {
        if beta[j] != 0.0 {
            let d = g[j] + lambda * q * beta[j].abs().powf(q - 1.0) * beta[j].signum();
            violation = violation.max(d.abs());
        }
    }
    let f = loss / n as f64 + lambda * beta.iter().map(|b| b.abs().powf(q)).sum::<f64>();
    (vec![violation], f)
}

/// The bridge penalty: q = 1.5 (convex, no exact zeros) reaches stationarity; q = 0.5 (not
/// convex) reaches a sparse local mode, stationary in its nonzero coordinates, that no small
/// move of them improves; q = 1 is the lasso.
#[test]
fn bridge_penalty_reaches_stationary_points() {
    let r = reference("breast_cancer_logistic_ridge");
    let x = Design::row_major(&r.x, r.n, r.p).unwrap();
    let lambda = 1e-2;
    for q in [1.5, 0.5] {
        let fit = Glm::logistic()
            .penalty(Penalty::bridge(lambda, q))
            .backend(BackendChoice::Cpu)
            .max_iter(5000)
            .fit(x, &r.y)
            .unwrap();
        assert!(fit.converged(), "q = {q}: {:?}", fit.termination());
        let (beta, b0) = (fit.coefficients().to_vec(), fit.intercept());
        let (violation, f) = bridge_stationarity(&r, &beta, b0, lambda, q);
        let zeros = beta.iter().filter(|&&b| b == 0.0).count();
        eprintln!(
            "bridge q = {q}: {} iterations, {zeros} zeros, stationarity {:.1e}",
            fit.iterations(),
            violation[0]
        );
        assert!(violation[0] <= 1e-7, "q = {q}: stationarity violated by {:e}", violation[0]);
        assert!(
            (f - fit.objective()).abs() <= 1e-12 * f,
            "q = {q}: objective {f} vs {}",
            fit.objective()
        );
        if q > 1.0 {
            assert_eq!(zeros, 0, "q > 1 has no exact zeros");
        } else {
            assert!(zeros > 0, "q < 1 should be sparse");
            for j in (0..r.p).filter(|&j| beta[j] != 0.0) {
                for step in [1e-4, -1e-4] {
                    let mut moved = beta.clone();
                    moved[j] += step * beta[j].abs().max(1e-3);
                    let (_, g) = bridge_stationarity(&r, &moved, b0, lambda, q);
                    assert!(g >= f - 1e-15, "q = {q}: moving coefficient {j} lowers F");
                }
            }
        }
    }
    // q = 1 is the lasso: the bridge fit at q = 1 reaches the lasso fixture's independently
    // computed optimum (same data, same λ).
    let lasso = reference("breast_cancer_logistic_lasso");
    assert_eq!((lasso.lambda, lasso.alpha), (lambda, 1.0));
    let bridge1 = Glm::logistic()
        .penalty(Penalty::bridge(lambda, 1.0))
        .backend(BackendChoice::Cpu)
        .fit(x, &r.y)
        .unwrap();
    let f = crate::common::objective(&lasso, bridge1.coefficients(), bridge1.intercept());
    let gap = (f - lasso.objective) / lasso.objective;
    assert!(gap.abs() <= 1e-10, "bridge q = 1: gap {gap:e} to the lasso optimum");
}

#[test]
fn rejects_bridge_exponents_outside_zero_to_two() {
    let r = reference("breast_cancer_logistic_ridge");
    let x = Design::row_major(&r.x, r.n, r.p).unwrap();
    for q in [0.0, 2.0, -1.0, 3.0, f64::NAN] {
        let err = Glm::logistic().penalty(Penalty::bridge(0.1, q)).fit(x, &r.y).unwrap_err();
        assert!(
            matches!(err, scalemix::Error::InvalidOption { name: "bridge exponent q", .. }),
            "q = {q}: {err}"
        );
    }
}

/// Student-t's Hessian is indefinite where large residuals dominate (ℓ'' < 0 beyond √ν σ): on
/// an all-zero design with spread-out responses the intercept's curvature is negative, and the
/// default (safeguarded Newton) takes the EM step there instead of failing. The fit ends at the
/// plain EM fit's optimum.
#[test]
fn student_t_ridge_with_an_indefinite_hessian_takes_the_em_step() {
    let x = [0.0; 15];
    let y = [-4.97, 3.46, 2.04, -4.38, 4.17];
    let design = Design::row_major(&x, 5, 3).unwrap();
    let glm = Glm::student_t(3.0, Some(1.0)).penalty(Penalty::ridge(0.014));
    let fit = glm.fit(design, &y[..]).expect("the Newton scheme falls back to EM");
    let em = glm.acceleration(Acceleration::None).fit(design, &y[..]).unwrap();
    assert_eq!(fit.termination(), Termination::Converged);
    assert!((fit.objective() - em.objective()).abs() <= 1e-12 * em.objective());
}

//! The matrix-free M-step (conjugate gradients on products with X): the Cholesky M-step's
//! optimum on problems small enough for both, an objective that never rises, and ridge fits of
//! designs too wide for a d × d matrix, dense and sparse, checked by KKT conditions computed
//! here from the definitions.

use crate::common::{kkt_violation, logistic_gradient_csr};
use crate::families::subgradient;
use proptest::prelude::*;
use rand::prelude::*;
use scalemix::{
    Acceleration, CsrMatrix, Data, Design, Error, Fit, Glm, LinearSolver, PathOptions, Penalty,
    Termination,
};

/// A memory limit below the d × d matrices of the 300 × 60 problems here (8 matrices of 29 KiB,
/// the partial Gram matrix and the row buffers: 286 KiB, plus a preconditioned copy of X) but
/// above their O(n + d) vectors and that copy (144 KiB: a CSR copy holds only new values): it
/// makes their fits matrix-free, dense or sparse.
const MATRIX_FREE_LIMIT: u64 = 256 << 10;

fn is_matrix_free(fit: &Fit) -> bool {
    fit.backend().device.contains("matrix-free")
}

/// F never rises by more than its rounding (16 ε |F|: steps whose decrease F cannot resolve
/// are judged by the gradient instead).
fn monotone(trace: &[f64]) -> bool {
    trace.windows(2).all(|w| w[1] <= w[0] + 16.0 * f64::EPSILON * w[0].abs())
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs())
}

/// An ill-conditioned dense design (correlated columns, one column 1000× larger, so the
/// preconditioner runs too) and responses for each family.
fn problem(n: usize, p: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = vec![0.0; n * p];
    for i in 0..n {
        let common: f64 = rng.random::<f64>() - 0.5;
        for j in 0..p {
            let scale = if j == 1 { 1000.0 } else { 1.0 };
            x[i * p + j] = scale * (0.8 * common + rng.random::<f64>() - 0.5);
        }
    }
    let eta: Vec<f64> = (0..n)
        .map(|i| (0..p).map(|j| x[i * p + j] * if j % 4 == 0 { 0.5 } else { 0.0 }).sum())
        .collect();
    let labels = eta
        .iter()
        .map(|&e| f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-e).exp()))))
        .collect();
    let values = eta.iter().map(|&e| e + (rng.random::<f64>() - 0.5) * 2.0).collect();
    (x, labels, values)
}

/// Logistic, gaussian, binomial and Student-t (σ fixed and estimated) ridge fits, with and
/// without an intercept, sample weights and standardization, dense and sparse: the
/// matrix-free fit reaches the Cholesky fit's objective to 1e-12 (1e-10 with σ estimated), its
/// objective never rising.
#[test]
fn matrix_free_fits_equal_cholesky_fits() {
    let (n, p) = (300, 60);
    let (x, labels, values) = problem(n, p, 1);
    let dense = Design::row_major(&x, n, p).unwrap();
    let (mut indptr, mut indices, mut stored) = (vec![0usize], vec![], vec![]);
    for i in 0..n {
        for j in 0..p {
            indices.push(j);
            stored.push(x[i * p + j]);
        }
        indptr.push(stored.len());
    }
    let sparse = CsrMatrix::new(n, p, indptr, indices, stored).unwrap();
    let weights: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
    let trials: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
    let successes: Vec<f64> = labels.iter().zip(&trials).map(|(y, m)| y * m).collect();
    let models = [
        (Glm::logistic(), &labels),
        (Glm::gaussian(), &values),
        (Glm::student_t(4.0, Some(1.0)), &values),
        (Glm::student_t(4.0, None), &values),
    ];
    for (glm, y) in models {
        for (intercept, standardize, weighted) in
            [(true, false, false), (false, false, true), (true, true, true)]
        {
            let glm = glm
                .clone()
                .penalty(Penalty::ridge(0.05))
                .fit_intercept(intercept)
                .standardize(standardize);
            let what = format!("{:?} intercept={intercept} standardize={standardize}", glm);
            let data = |x| Data::new(x, y).maybe_weights(weighted.then_some(weights.as_slice()));
            let reference = glm.fit_data(&data(dense)).unwrap();
            // An estimated σ stops at a relative change of 1e-10: the objectives of two fits
            // agree to about that (both solvers reach their β to 1e-12 at the σ they end on).
            let tolerance = if what.contains("estimate_parameter: true") { 1e-10 } else { 1e-12 };
            assert!(!is_matrix_free(&reference), "{what}: the small fit takes the d × d M-step");
            for x in [dense, sparse.design()] {
                let fit = glm.clone().max_memory(MATRIX_FREE_LIMIT).fit_data(&data(x)).unwrap();
                assert!(is_matrix_free(&fit), "{what}: {}", fit.backend());
                assert_eq!(fit.termination(), Termination::Converged, "{what}");
                assert!(
                    relative(fit.objective(), reference.objective()) <= tolerance,
                    "{what}: {} vs {}",
                    fit.objective(),
                    reference.objective()
                );
                assert!(monotone(fit.objective_trace()), "{what}: {:?}", fit.objective_trace());
            }
        }
    }
    let binomial = Glm::binomial().penalty(Penalty::ridge(0.05));
    let data = Data::binomial(dense, &successes, &trials).weights(&weights);
    let reference = binomial.fit_data(&data).unwrap();
    let fit = binomial.max_memory(MATRIX_FREE_LIMIT).fit_data(&data).unwrap();
    assert!(is_matrix_free(&fit));
    assert!(relative(fit.objective(), reference.objective()) <= 1e-12);
}

/// A logistic ridge fit of a 200 × 20 000 dense design (its 20 001 × 20 001 matrices would take
/// 25 GiB): matrix-free through the 200 × 200 dual (the cost model's choice), converged, with
/// ∇F = 0 to 1e-8 from a gradient computed here.
#[test]
fn wide_dense_ridge_fits_matrix_free() {
    let (n, p) = (200, 20_000);
    let mut rng = StdRng::seed_from_u64(2);
    let x: Vec<f64> = (0..n * p).map(|_| rng.random::<f64>() - 0.5).collect();
    let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(x[i * p] + x[i * p + 1] > 0.0))).collect();
    let lambda = 0.01;
    let fit = Glm::logistic()
        .penalty(Penalty::ridge(lambda))
        .max_memory(1 << 30)
        .fit(Design::row_major(&x, n, p).unwrap(), &y)
        .unwrap();
    assert!(is_matrix_free(&fit));
    assert!(fit.backend().device.contains("dual"), "{}", fit.backend());
    assert_eq!(fit.termination(), Termination::Converged);
    let (beta, b0) = (fit.coefficients(), fit.intercept());
    let residual: Vec<f64> = (0..n)
        .map(|i| {
            let eta = b0 + (0..p).map(|j| x[i * p + j] * beta[j]).sum::<f64>();
            1.0 / (1.0 + (-eta).exp()) - y[i]
        })
        .collect();
    let worst = (0..p)
        .map(|j| {
            let g = (0..n).map(|i| x[i * p + j] * residual[i]).sum::<f64>() / n as f64;
            (g + lambda * beta[j]).abs()
        })
        .fold(0.0_f64, f64::max);
    assert!(worst < 1e-8, "KKT violation {worst}");
    assert!(residual.iter().sum::<f64>().abs() / (n as f64) < 1e-8);
}

/// A text-like sparse logistic ridge fit (5 000 × 20 000, about 40 stored values a row, column
/// popularity Zipf-like): matrix-free on the CSR arrays, ∇F = 0 to 1e-8 from the arrays.
#[test]
fn wide_sparse_ridge_fits_matrix_free() {
    let (n, p) = (5_000, 20_000);
    let mut rng = StdRng::seed_from_u64(3);
    let (mut indptr, mut indices, mut values, mut y) = (vec![0usize], vec![], vec![], vec![]);
    for _ in 0..n {
        let mut row: Vec<usize> =
            (0..40).map(|_| ((p as f64).powf(rng.random::<f64>()) as usize).min(p - 1)).collect();
        row.sort_unstable();
        row.dedup();
        let score: f64 = row.iter().map(|&j| if j % 7 == 0 { 0.6 } else { -0.1 }).sum();
        for j in row {
            indices.push(j);
            values.push(1.0 + rng.random::<f64>());
        }
        indptr.push(values.len());
        y.push(f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-score).exp()))));
    }
    let x = CsrMatrix::new(n, p, indptr.clone(), indices.clone(), values.clone()).unwrap();
    let lambda = 1e-4;
    let fit = Glm::logistic().penalty(Penalty::ridge(lambda)).fit(&x, &y).unwrap();
    assert!(is_matrix_free(&fit), "{}", fit.backend());
    // n = 5 000 rows: the dual's 5 000 × 5 000 Cholesky per step costs more than CG on the
    // 200 000 stored values.
    assert!(fit.backend().device.contains("conjugate-gradient"), "{}", fit.backend());
    assert_eq!(fit.termination(), Termination::Converged);
    assert!(monotone(fit.objective_trace()));
    let (beta, b0) = (fit.coefficients(), fit.intercept());
    let arrays = (indptr.as_slice(), indices.as_slice(), values.as_slice());
    let (g, g0) = logistic_gradient_csr(arrays, &y, beta, b0);
    let worst = kkt_violation((&g, g0), beta, lambda, 0.0);
    assert!(worst < 1e-8, "KKT violation {worst}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// On random small problems (every matrix-free family, with and without an intercept), the
    /// matrix-free fit never raises F, converges, and ends where the d × d fit ends (for the
    /// convex losses: Student-t may have several stationary points).
    #[test]
    fn matrix_free_objective_never_rises(
        (n, p, x, labels, values) in (5usize..40, 2usize..8).prop_flat_map(|(n, p)| (
            Just(n),
            Just(p),
            prop::collection::vec(-3.0..3.0f64, n * p),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(-5.0..5.0f64, n),
        )),
        log_lambda in -3.0..0.0f64,
        intercept in any::<bool>(),
        family in 0usize..3,
    ) {
        let design = Design::row_major(&x, n, p).unwrap();
        let labels: Vec<f64> = labels.iter().map(|&b| f64::from(u8::from(b))).collect();
        let (glm, y) = match family {
            0 => (Glm::logistic(), &labels),
            1 => (Glm::gaussian(), &values),
            _ => (Glm::student_t(3.0, Some(1.0)), &values),
        };
        let glm = glm.penalty(Penalty::ridge(10f64.powf(log_lambda))).fit_intercept(intercept);
        let reference = glm.fit(design, y).unwrap();
        // Between the fit's O(n + d) estimate and its d × d one (docs: Model::check_memory).
        let (rows, dim) = (n as u64, (p + usize::from(intercept)) as u64);
        let matrix_free = 64 * rows + 96 * dim;
        let full = 64 * dim * dim + 8 * (p * p) as u64 + 64 * rows;
        let copy = 8 * rows * p as u64;
        let limit = copy + matrix_free + (full - matrix_free) / 2;
        let fit = glm.max_memory(limit).fit(design, y).unwrap();
        prop_assert!(is_matrix_free(&fit));
        prop_assert!(monotone(fit.objective_trace()), "{:?}", fit.objective_trace());
        prop_assert_eq!(fit.termination(), Termination::Converged);
        // Student-t's objective is not convex: two solvers may end at different stationary
        // points (both converged, as checked above), so only the convex families must agree.
        if family == 2 {
            return Ok(());
        }
        // Relative to F, or to 1 where both fits reach an F near 0 (an exact fit).
        let scale = fit.objective().abs().max(reference.objective().abs()).max(1.0);
        prop_assert!((fit.objective() - reference.objective()).abs() <= 1e-11 * scale,
            "{} vs {}", fit.objective(), reference.objective());
    }
}

/// The row-major n × p matrix `x` in CSR form (its nonzero entries).
fn csr_of(x: &[f64], n: usize, p: usize) -> CsrMatrix {
    let (mut indptr, mut indices, mut stored) = (vec![0usize], vec![], vec![]);
    for row in x.chunks(p) {
        for (j, &v) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            indices.push(j);
            stored.push(v);
        }
        indptr.push(stored.len());
    }
    CsrMatrix::new(n, p, indptr, indices, stored).unwrap()
}

/// A well-scaled design for the non-smooth losses (whose subgradient check classifies the rows
/// at the kink by their residual, which a badly scaled column blurs), about a third of its
/// entries stored, column 2 empty and row 1 a copy of row 0, in dense and CSR form, with ±1
/// labels and real responses.
fn kinked_problem(n: usize, p: usize, seed: u64) -> (Vec<f64>, CsrMatrix, Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x: Vec<f64> = (0..n * p)
        .map(|k| {
            let stored = k % p != 2 && rng.random::<f64>() < 0.35;
            if stored { rng.random::<f64>() * 2.0 - 1.0 } else { 0.0 }
        })
        .collect();
    // Row 1 repeats row 0 (so do its response and label): on the kink together they make
    // K_SS singular, as duplicate documents do in text data.
    x.copy_within(0..p, p);
    let eta: Vec<f64> = (0..n).map(|i| x[i * p] + x[i * p + 1] - x[i * p + 3]).collect();
    let mut signs: Vec<f64> = eta
        .iter()
        .map(|&e| if e + 0.3 * (rng.random::<f64>() - 0.5) > 0.0 { 1.0 } else { -1.0 })
        .collect();
    let mut values: Vec<f64> = eta.iter().map(|&e| e + rng.random::<f64>() - 0.5).collect();
    (signs[1], values[1]) = (signs[0], values[0]);
    let csr = csr_of(&x, n, p);
    (x, csr, signs, values)
}

/// The hinge's or quantile's subgradient conditions at `fit` for `y`, from the definitions
/// (`families::subgradient`), to the KKT violation the fit reports.
fn meets_subgradient_conditions(
    loss: &subgradient::Loss,
    (x, y, n, p): (&[f64], &[f64], usize, usize),
    lambda: f64,
    beta: &[f64],
    intercept: Option<f64>,
    reported: f64,
) {
    subgradient::check(loss, x, y, n, p, lambda, 0.0, beta, intercept, reported);
}

/// Hinge and quantile ridges step without the d × d matrices where they do not fit: SM-EM's
/// run (a scheme named) with each EM update solved by conjugate gradients on products with X,
/// and by default coordinate descent on the dual, each to a point that meets the losses'
/// subgradient optimality conditions computed here from the definitions.
#[test]
fn hinge_and_quantile_ridges_beyond_memory_step_without_the_gram() {
    let (n, p) = (50, 40);
    let (x, _, signs, values) = kinked_problem(n, p, 4);
    let design = Design::row_major(&x, n, p).unwrap();
    let lambda = 0.1;
    for (glm, y, loss) in [
        (Glm::hinge(), &signs, subgradient::Loss::Hinge),
        (Glm::quantile(0.3), &values, subgradient::Loss::Quantile(0.3)),
    ] {
        let glm = glm.penalty(Penalty::ridge(lambda)).max_memory(64 << 10);
        for (acceleration, route) in [
            (Acceleration::Restart, "EM with the conjugate-gradient M-step"),
            (Acceleration::Auto, "dual coordinate descent"),
        ] {
            let fit = glm.clone().acceleration(acceleration).fit(design, y).unwrap();
            let what = format!("{:?} {acceleration:?}", fit.family());
            assert!(fit.backend().device.contains(route), "{what}: {}", fit.backend());
            assert!(fit.backend().device.contains("rows at the kink"), "{what}: {}", fit.backend());
            assert_eq!(fit.termination(), Termination::Converged, "{what}");
            assert!(monotone(fit.objective_trace()), "{what}: {:?}", fit.objective_trace());
            let (beta, b0) = (fit.coefficients(), Some(fit.intercept()));
            let kkt = fit.kkt_violation();
            meets_subgradient_conditions(&loss, (&x, y, n, p), lambda, beta, b0, kkt);
        }
    }
}

/// Hinge and quantile ridges of a wide sparse design whose optimum holds hundreds of rows on
/// the kink (more than the finish factors directly): through conjugate gradients the kink
/// system is solved by CG on products with those rows, through the dual by LU on the dual's
/// kernel. With and without an intercept both meet the subgradient conditions computed here,
/// and their objectives agree to 1e-12; both start from dual coordinate descent, which leaves
/// the EM run a few iterations.
#[test]
fn hundreds_of_kink_rows_are_solved_by_conjugate_gradients_as_exactly_as_by_lu() {
    let (n, p) = (300, 1200);
    let (x, csr, signs, values) = kinked_problem(n, p, 12);
    let lambda = 0.002;
    for intercept in [true, false] {
        for (glm, y, loss) in [
            (Glm::hinge(), &signs, subgradient::Loss::Hinge),
            (Glm::quantile(0.3), &values, subgradient::Loss::Quantile(0.3)),
        ] {
            let glm = glm.penalty(Penalty::ridge(lambda)).fit_intercept(intercept);
            let what = format!("{loss:?}, intercept {intercept}");
            let [by_cg, by_dual] = [LinearSolver::ConjugateGradient, LinearSolver::Dual]
                .map(|solver| glm.clone().linear_solver(solver).fit(&csr, y).unwrap());
            for fit in [&by_cg, &by_dual] {
                let device = &fit.backend().device;
                let rows: usize = device
                    .split("exact solve of its ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|count| count.parse().ok())
                    .unwrap_or_else(|| panic!("{what}: no exact finish in {device}"));
                assert!(rows > 128, "{what}: only {rows} kink rows ({device})");
                let iterative = device.ends_with("at the kink (conjugate gradients)");
                assert_eq!(iterative, std::ptr::eq(fit, &by_cg), "{what}: {device}");
                assert_eq!(fit.termination(), Termination::Converged, "{what}");
                // From the dual coordinate descent's start a few EM iterations at most precede
                // the exact finish (33 to 35 on the hinge without it).
                assert!(fit.iterations() <= 10, "{what}: {} iterations", fit.iterations());
                let b0 = intercept.then(|| fit.intercept());
                let data = (x.as_slice(), y.as_slice(), n, p);
                meets_subgradient_conditions(
                    &loss,
                    data,
                    lambda,
                    fit.coefficients(),
                    b0,
                    fit.kkt_violation(),
                );
            }
            // Absolute: F is a mean loss (here near 0.003 for the hinge), and the two solves'
            // kink rows sit within the rounding of their K_SS products of the kink.
            assert!(
                (by_cg.objective() - by_dual.objective()).abs() <= 1e-12,
                "{what}: {} vs {}",
                by_cg.objective(),
                by_dual.objective()
            );
        }
    }
}

/// Hinge and quantile ridges of wide designs (n < d), dense and CSR, with and without an
/// intercept: the n × n dual and conjugate gradients reach the d × d fit's objective (all three
/// end on the exact solve of their kink rows: 1e-12) and the subgradient optimality conditions
/// computed here; without a choice the cost model takes the dual; a ridge path's points are
/// the d × d path's (whose points end on the smoothed loss: within its bound, 1e-9).
#[test]
fn hinge_and_quantile_ridges_of_wide_designs_step_without_the_gram() {
    let (n, p) = (40, 150);
    let (x, csr, signs, values) = kinked_problem(n, p, 9);
    let dense = Design::row_major(&x, n, p).unwrap();
    let lambda = 0.05;
    for (glm, y, loss) in [
        (Glm::hinge(), &signs, subgradient::Loss::Hinge),
        (Glm::quantile(0.3), &values, subgradient::Loss::Quantile(0.3)),
    ] {
        for intercept in [true, false] {
            let glm = glm.clone().penalty(Penalty::ridge(lambda)).fit_intercept(intercept);
            let what = format!("{:?} intercept={intercept}", glm);
            let reference =
                glm.clone().linear_solver(LinearSolver::Cholesky).fit(dense, y).unwrap();
            assert!(!reference.backend().device.contains("M-step"), "{what}");
            assert!(reference.backend().device.contains("rows at the kink"), "{what}");
            // The cost model's choice of M-step for SM-EM's run.
            let auto = glm.clone().acceleration(Acceleration::Restart).fit(dense, y).unwrap();
            assert!(auto.backend().device.contains("dual n × n"), "{what}: {}", auto.backend());
            for x_given in [dense, csr.design()] {
                // The M-steps (SM-EM's run, a scheme named) and by default coordinate descent
                // on the dual, each finished on the kink rows.
                for (solver, acceleration, name) in [
                    (LinearSolver::Dual, Acceleration::Restart, "EM with the dual n × n M-step"),
                    (
                        LinearSolver::ConjugateGradient,
                        Acceleration::Restart,
                        "EM with the conjugate-gradient M-step",
                    ),
                    (LinearSolver::Dual, Acceleration::Auto, "dual coordinate descent"),
                ] {
                    let glm = glm.clone().linear_solver(solver).acceleration(acceleration);
                    let fit = glm.fit(x_given, y).unwrap();
                    let what = format!("{what} {name} sparse={}", x_given.is_sparse());
                    assert!(fit.backend().device.contains(name), "{what}: {}", fit.backend());
                    assert_eq!(fit.termination(), Termination::Converged, "{what}");
                    assert!(
                        relative(fit.objective(), reference.objective()) <= 1e-12,
                        "{what}: {} vs {}",
                        fit.objective(),
                        reference.objective()
                    );
                    assert!(monotone(fit.objective_trace()), "{what}: {:?}", fit.objective_trace());
                    let (beta, b0) = (fit.coefficients(), intercept.then_some(fit.intercept()));
                    let kkt = fit.kkt_violation();
                    meets_subgradient_conditions(&loss, (&x, y, n, p), lambda, beta, b0, kkt);
                    if x_given.is_sparse() {
                        assert_eq!(fit.coefficients()[2], 0.0, "{what}: the empty column");
                    }
                }
            }
        }
        // A ridge path: every point through the dual, each equal to the d × d path's, whose
        // points (`Model::solve` on the d × d step) keep the smoothed loss's result.
        let options = PathOptions { n_lambda: 8, ..PathOptions::default() };
        let glm = glm.penalty(Penalty::ridge(1.0));
        let path = glm.clone().path(dense, y, &options).unwrap();
        let reference = glm.linear_solver(LinearSolver::Cholesky).path(dense, y, &options).unwrap();
        assert_eq!(path.points.len(), reference.points.len());
        for (point, expected) in path.points.iter().zip(&reference.points) {
            assert_eq!(point.termination, Termination::Converged, "λ = {:e}", point.lambda);
            assert!(
                relative(point.objective, expected.objective) <= 1e-9,
                "λ = {:e}: {} vs {}",
                point.lambda,
                point.objective,
                expected.objective
            );
        }
    }
}

/// A one-vs-rest linear SVM of a wide sparse design (three classes): every class's fit goes
/// without S and ends on the exact solve of its kink rows, and each class's coefficients meet
/// the hinge's subgradient conditions for its own ±1 labels, computed here.
#[test]
fn one_vs_rest_svms_of_wide_sparse_designs_are_exact_per_class() {
    let (n, p) = (45, 160);
    let (x, csr, _, values) = kinked_problem(n, p, 11);
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (sorted[n / 3], sorted[2 * n / 3]);
    let classes: Vec<f64> =
        values.iter().map(|&v| f64::from(u8::from(v >= low) + u8::from(v >= high))).collect();
    let lambda = 0.02;
    let fit = Glm::hinge().penalty(Penalty::ridge(lambda)).fit_multiclass(csr.design(), &classes);
    let fit = fit.unwrap();
    assert_eq!(fit.classes(), &[0.0, 1.0, 2.0]);
    assert_eq!(fit.termination(), Termination::Converged);
    assert!(fit.backend().device.contains("rows at the kink"), "{}", fit.backend());
    assert!(fit.kkt_violation() <= 1e-12, "{:e}", fit.kkt_violation());
    for (c, class) in fit.classes().iter().enumerate() {
        let signs: Vec<f64> = classes.iter().map(|y| if y == class { 1.0 } else { -1.0 }).collect();
        let beta: Vec<f64> = fit.coefficients().column(c).iter().copied().collect();
        let (b0, kkt) = (Some(fit.intercepts()[c]), fit.kkt_violation());
        let hinge = subgradient::Loss::Hinge;
        meets_subgradient_conditions(&hinge, (&x, &signs, n, p), lambda, &beta, b0, kkt);
    }
}

/// A wide design (n < d) in dense and CSR form, with a column 1000× the others' scale (so the
/// preconditioner runs too), an empty column in the sparse form and responses for each family.
fn wide_problem(n: usize, p: usize, seed: u64) -> (Vec<f64>, CsrMatrix, Vec<f64>, Vec<f64>) {
    let (mut x, labels, values) = problem(n, p, seed);
    let mut rng = StdRng::seed_from_u64(seed + 1);
    for (k, v) in x.iter_mut().enumerate() {
        // About a third stored; column 2 empty.
        if k % p == 2 || rng.random::<f64>() < 0.65 {
            *v = 0.0;
        }
    }
    let csr = csr_of(&x, n, p);
    (x, csr, labels, values)
}

/// The dual (n × n) step and conjugate gradients reach the Cholesky (d × d) fit's objective to
/// 1e-12 on wide problems small enough for all three — every family with a matrix-free M-step,
/// with and without an intercept, sample weights and standardization, dense and sparse — and
/// the dual's objective never rises.
#[test]
fn dual_and_conjugate_gradient_fits_equal_cholesky_fits_on_wide_designs() {
    let (n, p) = (40, 150);
    let (x, csr, labels, values) = wide_problem(n, p, 5);
    let dense = Design::row_major(&x, n, p).unwrap();
    let weights: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
    let models = [
        (Glm::logistic(), &labels),
        (Glm::gaussian(), &values),
        (Glm::student_t(4.0, Some(1.0)), &values),
    ];
    for (glm, y) in models {
        for (intercept, standardize, weighted) in
            [(true, false, false), (false, false, true), (true, true, true)]
        {
            let glm = glm
                .clone()
                .penalty(Penalty::ridge(0.02))
                .fit_intercept(intercept)
                .standardize(standardize)
                .tol(1e-14);
            let what = format!("{:?} intercept={intercept} standardize={standardize}", glm);
            let data = |x| Data::new(x, y).maybe_weights(weighted.then_some(weights.as_slice()));
            let reference =
                glm.clone().linear_solver(LinearSolver::Cholesky).fit_data(&data(dense)).unwrap();
            assert!(!is_matrix_free(&reference), "{what}");
            for x in [dense, csr.design()] {
                for (solver, name) in
                    [(LinearSolver::Dual, "dual"), (LinearSolver::ConjugateGradient, "conjugate")]
                {
                    let fit = glm.clone().linear_solver(solver).fit_data(&data(x)).unwrap();
                    let what = format!("{what} {name} sparse={}", x.is_sparse());
                    assert!(fit.backend().device.contains(name), "{what}: {}", fit.backend());
                    assert_eq!(fit.termination(), Termination::Converged, "{what}");
                    assert!(
                        relative(fit.objective(), reference.objective()) <= 1e-12,
                        "{what}: {} vs {}",
                        fit.objective(),
                        reference.objective()
                    );
                    assert!(monotone(fit.objective_trace()), "{what}: {:?}", fit.objective_trace());
                    if x.is_sparse() {
                        assert_eq!(fit.coefficients()[2], 0.0, "{what}: the empty column");
                    }
                }
            }
        }
    }
    // Binomial counts with weights, through the dual.
    let trials: Vec<f64> = (0..n).map(|i| (1 + i % 3) as f64).collect();
    let successes: Vec<f64> = labels.iter().zip(&trials).map(|(y, m)| y * m).collect();
    let data = Data::binomial(dense, &successes, &trials).weights(&weights);
    let binomial = Glm::binomial().penalty(Penalty::ridge(0.02)).tol(1e-14);
    let reference = binomial.clone().linear_solver(LinearSolver::Cholesky).fit_data(&data).unwrap();
    let fit = binomial.linear_solver(LinearSolver::Dual).fit_data(&data).unwrap();
    assert!(fit.backend().device.contains("dual"));
    assert!(relative(fit.objective(), reference.objective()) <= 1e-12);
}

/// Without a choice, a small wide ridge fit takes the dual (its n × n step is far cheaper than
/// the d × d one) and a tall one the d × d step.
#[test]
fn the_cost_model_takes_the_dual_for_wide_fits_and_cholesky_for_tall_ones() {
    let (x, _, labels, _) = wide_problem(40, 150, 6);
    let wide = Glm::logistic()
        .penalty(Penalty::ridge(0.02))
        .fit(Design::row_major(&x, 40, 150).unwrap(), &labels)
        .unwrap();
    assert!(wide.backend().device.contains("dual"), "{}", wide.backend());
    let (x, labels, _) = problem(300, 20, 7);
    let tall = Glm::logistic()
        .penalty(Penalty::ridge(0.02))
        .fit(Design::row_major(&x, 300, 20).unwrap(), &labels)
        .unwrap();
    assert!(!is_matrix_free(&tall), "{}", tall.backend());
}

/// Conjugate gradients and the dual where they do not apply are refused by name: an ℓ1 part,
/// a path, and (the dual) a feature without a ridge.
#[test]
fn linear_solvers_that_do_not_apply_are_refused() {
    let (x, _, labels, _) = wide_problem(30, 60, 8);
    let design = Design::row_major(&x, 30, 60).unwrap();
    let refused = |result: scalemix::Result<Fit>, what: &str| match result {
        Err(Error::InvalidOption { name: "linear solver", reason, .. }) => {
            assert!(reason.contains(what), "{reason}")
        }
        other => panic!("expected a refusal naming {what}, got {other:?}"),
    };
    for solver in [LinearSolver::ConjugateGradient, LinearSolver::Dual] {
        let glm = Glm::logistic().linear_solver(solver);
        refused(glm.clone().penalty(Penalty::lasso(0.01)).fit(design, &labels), "single ridge");
        refused(glm.clone().penalty(Penalty::elastic_net(0.01, 0.5)).fit(design, &labels), "ridge");
        let path =
            glm.clone().penalty(Penalty::ridge(0.1)).path(design, &labels, &PathOptions::default());
        match path {
            Err(Error::InvalidOption { name: "linear solver", .. }) => {}
            other => panic!("a path with {solver}: {other:?}"),
        }
    }
    let mut factors = vec![1.0; 60];
    factors[5] = 0.0;
    refused(
        Glm::logistic()
            .penalty(Penalty::ridge(0.1))
            .penalty_factors(factors)
            .linear_solver(LinearSolver::Dual)
            .fit(design, &labels),
        "every feature",
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// On random wide problems (n < d), the dual step never raises F, converges, and ends at
    /// the Cholesky fit's objective (convex families), for every matrix-free family and a
    /// ridge spanning three decades.
    #[test]
    fn dual_objective_never_rises_and_equals_cholesky(
        (n, p, x, labels, values) in (3usize..20, 20usize..45).prop_flat_map(|(n, p)| (
            Just(n),
            Just(p),
            prop::collection::vec(-3.0..3.0f64, n * p),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(-5.0..5.0f64, n),
        )),
        log_lambda in -3.0..0.0f64,
        intercept in any::<bool>(),
        family in 0usize..3,
    ) {
        let design = Design::row_major(&x, n, p).unwrap();
        let labels: Vec<f64> = labels.iter().map(|&b| f64::from(u8::from(b))).collect();
        let (glm, y) = match family {
            0 => (Glm::logistic(), &labels),
            1 => (Glm::gaussian(), &values),
            _ => (Glm::student_t(3.0, Some(1.0)), &values),
        };
        let glm = glm.penalty(Penalty::ridge(10f64.powf(log_lambda))).fit_intercept(intercept);
        let reference = glm.clone().linear_solver(LinearSolver::Cholesky).fit(design, y).unwrap();
        let fit = glm.linear_solver(LinearSolver::Dual).fit(design, y).unwrap();
        prop_assert!(fit.backend().device.contains("dual"));
        prop_assert!(monotone(fit.objective_trace()), "{:?}", fit.objective_trace());
        prop_assert_eq!(fit.termination(), Termination::Converged);
        if family == 2 {
            return Ok(());
        }
        let scale = fit.objective().abs().max(reference.objective().abs()).max(1.0);
        prop_assert!((fit.objective() - reference.objective()).abs() <= 1e-11 * scale,
            "{} vs {}", fit.objective(), reference.objective());
    }
}

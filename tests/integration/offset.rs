//! Offsets: ηᵢ = oᵢ + xᵢᵀβ + b₀ with the coefficient of o fixed at 1, in fits, paths,
//! cross-validation and predictions, and a one-line error for a bad offset.

use crate::common::{gradient_dense_with_offset, kkt_violation};
use rand::prelude::*;
use scalemix::{
    BackendChoice, CvOptions, Data, Design, Error, Family, Folds, Glm, Input, LinearSolver,
    PathOptions, Penalty,
};

/// A dense n × p design, a logistic label and a gaussian response from a sparse β, and an
/// offset of spread values (the log of exposures from 0.1 to 10).
struct Problem {
    n: usize,
    p: usize,
    x: Vec<f64>,
    labels: Vec<f64>,
    values: Vec<f64>,
    offset: Vec<f64>,
}

fn problem(n: usize, p: usize, seed: u64) -> Problem {
    let mut rng = StdRng::seed_from_u64(seed);
    let x: Vec<f64> = (0..n * p).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
    let offset: Vec<f64> = (0..n).map(|_| (0.1 + 9.9 * rng.random::<f64>()).ln()).collect();
    let (mut labels, mut values) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let eta: f64 = (0..p).step_by(3).map(|j| x[i * p + j]).sum::<f64>() + 0.5 * offset[i];
        labels.push(f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp()))));
        values.push(eta + offset[i] + rng.random::<f64>() - 0.5);
    }
    Problem { n, p, x, labels, values, offset }
}

/// The CSR form of a dense row-major matrix (its zeros unstored).
fn csr_of(x: &[f64], n: usize, p: usize) -> scalemix::CsrMatrix {
    let (mut indptr, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
    for row in x.chunks_exact(p) {
        for (j, &v) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
            indices.push(j);
            values.push(v);
        }
        indptr.push(values.len());
    }
    scalemix::CsrMatrix::new(n, p, indptr, indices, values).unwrap()
}

fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// A gaussian fit with offset o is the fit of y − o without one: the same coefficients and
/// intercept, and the same objective (the residuals are the same), for ridge, lasso and
/// elastic net, dense and sparse, in memory and matrix-free.
#[test]
fn a_gaussian_offset_fits_the_response_less_the_offset() {
    let m = problem(120, 8, 1);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let csr = csr_of(&m.x, m.n, m.p);
    let shifted: Vec<f64> = m.values.iter().zip(&m.offset).map(|(y, o)| y - o).collect();
    for penalty in [Penalty::ridge(0.1), Penalty::lasso(0.05), Penalty::elastic_net(0.05, 0.5)] {
        let glm = Glm::gaussian().penalty(penalty).tol(1e-14).backend(BackendChoice::Cpu);
        let reference = glm.fit(x, &shifted).unwrap();
        for (form, design) in [("dense", x), ("CSR", csr.design())] {
            let fit = glm.fit_data(&Data::new(design, &m.values).offset(&m.offset)).unwrap();
            let what = format!("{penalty:?}, {form}");
            assert!(relative(fit.objective(), reference.objective()) <= 1e-12, "{what}");
            assert!((fit.intercept() - reference.intercept()).abs() <= 1e-9, "{what}");
            for (a, b) in fit.coefficients().iter().zip(reference.coefficients()) {
                assert!((a - b).abs() <= 1e-9, "{what}: {a} vs {b}");
            }
        }
    }
}

/// Logistic fits with an offset meet their KKT conditions with η = o + Xβ + b₀ computed here
/// (and not those without the offset): ridge, lasso, weighted, on the d × d step and on the
/// n × n dual of a wide design.
#[test]
fn logistic_fits_with_an_offset_meet_their_optimality_conditions() {
    for (n, p, solver) in [(150, 6, LinearSolver::Auto), (40, 300, LinearSolver::Dual)] {
        let m = problem(n, p, 2);
        let x = Design::row_major(&m.x, n, p).unwrap();
        for (lambda, alpha) in [(0.02, 0.0), (0.02, 1.0)] {
            if solver == LinearSolver::Dual && alpha > 0.0 {
                continue; // the dual solves ridge fits only
            }
            let fit = Glm::logistic()
                .penalty(Penalty::elastic_net(lambda, alpha))
                .linear_solver(solver)
                .backend(BackendChoice::Cpu)
                .fit_data(&Data::new(x, &m.labels).offset(&m.offset))
                .unwrap();
            let what = format!("{n} × {p}, λ = {lambda}, α = {alpha}: {}", fit.backend().device);
            assert!(fit.converged(), "{what}");
            let (ridge, lasso) = (lambda * (1.0 - alpha), lambda * alpha);
            let beta = fit.coefficients();
            let with = gradient_dense_with_offset(
                Family::Logistic,
                &m.x,
                &m.labels,
                Some(&m.offset),
                beta,
                fit.intercept(),
            );
            let violation = kkt_violation((&with.0, with.1), beta, ridge, lasso);
            assert!(violation <= 1e-9, "{what}: KKT with the offset {violation:e}");
            let without = gradient_dense_with_offset(
                Family::Logistic,
                &m.x,
                &m.labels,
                None,
                beta,
                fit.intercept(),
            );
            let ignored = kkt_violation((&without.0, without.1), beta, ridge, lasso);
            assert!(ignored > 1e-3, "{what}: the offset made no difference ({ignored:e})");
        }
    }
}

/// A constant offset c moves only the intercept, by −c.
#[test]
fn a_constant_offset_moves_only_the_intercept() {
    let m = problem(100, 5, 3);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let constant = vec![1.75; m.n];
    let glm = Glm::logistic().penalty(Penalty::lasso(0.01)).tol(1e-14).backend(BackendChoice::Cpu);
    let plain = glm.fit(x, &m.labels).unwrap();
    let shifted = glm.fit_data(&Data::new(x, &m.labels).offset(&constant)).unwrap();
    assert!((shifted.intercept() - (plain.intercept() - 1.75)).abs() <= 1e-9);
    for (a, b) in shifted.coefficients().iter().zip(plain.coefficients()) {
        assert!((a - b).abs() <= 1e-9, "{a} vs {b}");
    }
    assert!(relative(shifted.objective(), plain.objective()) <= 1e-12);
}

/// A path and a cross-validation with an offset are those of y − o for gaussian: the same λ,
/// objectives, and held-out errors fold by fold (the held-out rows' offsets applied).
#[test]
fn paths_and_cross_validation_take_the_offset() {
    let m = problem(150, 10, 4);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let shifted: Vec<f64> = m.values.iter().zip(&m.offset).map(|(y, o)| y - o).collect();
    let glm = Glm::gaussian().penalty(Penalty::lasso(1.0)).tol(1e-13).backend(BackendChoice::Cpu);
    let options = PathOptions { n_lambda: 15, ..PathOptions::default() };
    let with = glm.path_data(&Data::new(x, &m.values).offset(&m.offset), &options).unwrap();
    let reference = glm.path(x, &shifted, &options).unwrap();
    assert_eq!(with.points.len(), reference.points.len());
    for (a, b) in with.points.iter().zip(&reference.points) {
        assert!(relative(a.lambda, b.lambda) <= 1e-12);
        assert!(relative(a.objective, b.objective) <= 1e-10, "λ = {}", a.lambda);
    }
    let folds = Folds::from_assignment((0..m.n).map(|i| i % 5).collect(), 5).unwrap();
    let cv_options = CvOptions { path: options, ..CvOptions::default() };
    let with =
        glm.cv_with_folds(&Data::new(x, &m.values).offset(&m.offset), &folds, &cv_options).unwrap();
    let reference = glm.cv_with_folds(&Data::new(x, &shifted), &folds, &cv_options).unwrap();
    for (a, b) in with.mean.iter().zip(&reference.mean) {
        assert!(relative(*a, *b) <= 1e-8, "held-out MSE {a} vs {b}");
    }
}

/// Predictions take the new rows' offsets: η = o + Xβ + b₀, the probability and class from it.
#[test]
fn predictions_take_the_new_rows_offsets() {
    let m = problem(80, 4, 5);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let fit = Glm::logistic()
        .penalty(Penalty::ridge(0.1))
        .fit_data(&Data::new(x, &m.labels).offset(&m.offset))
        .unwrap();
    let model = fit.to_model();
    let eta = model.decision_function_with_offset(x, &m.offset).unwrap();
    let plain = model.decision_function(x).unwrap();
    let proba = model.predict_proba_with_offset(x, &m.offset).unwrap();
    let classes = model.predict_with_offset(x, &m.offset).unwrap();
    for i in 0..m.n {
        assert!((eta[i] - (plain[i] + m.offset[i])).abs() <= 1e-12);
        assert!((proba[i] - 1.0 / (1.0 + (-eta[i]).exp())).abs() <= 1e-12);
        assert_eq!(classes[i], f64::from(u8::from(eta[i] >= 0.0)));
    }
}

/// A non-finite offset, one of the wrong length, and an offset on a multinomial fit are refused
/// with the error that names them; predictions check theirs the same way.
#[test]
fn bad_offsets_are_refused_by_name() {
    let m = problem(30, 3, 6);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(0.1));
    let mut bad = m.offset.clone();
    bad[7] = f64::NAN;
    let error = glm.fit_data(&Data::new(x, &m.labels).offset(&bad)).unwrap_err();
    assert!(
        matches!(error, Error::NonFiniteValue { input: Input::Offset, index: 7, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("offset"), "{error}");
    let short = &m.offset[..29];
    let error = glm.fit_data(&Data::new(x, &m.labels).offset(short)).unwrap_err();
    assert!(matches!(error, Error::LengthMismatch { input: Input::Offset, .. }), "{error}");
    let error = glm.path_data(&Data::new(x, &m.labels).offset(&bad), &PathOptions::default());
    assert!(matches!(error, Err(Error::NonFiniteValue { input: Input::Offset, index: 7, .. })));
    let classes: Vec<f64> = (0..m.n).map(|i| (i % 3) as f64).collect();
    let error = glm.fit_multiclass_data(&Data::new(x, &classes).offset(&m.offset)).unwrap_err();
    assert!(matches!(error, Error::Unsupported { operation: "fit_multiclass", .. }), "{error}");
    let model = glm.fit(x, &m.labels).unwrap().to_model();
    let error = model.decision_function_with_offset(x, &bad).unwrap_err();
    assert!(matches!(error, Error::NonFiniteValue { input: Input::Offset, index: 7, .. }));
    let error = model.predict_with_offset(x, short).unwrap_err();
    assert!(matches!(error, Error::LengthMismatch { input: Input::Offset, .. }), "{error}");
}

/// On the GPU (both kernel variants) a fit with an offset reaches the CPU fit's optimum.
#[cfg(feature = "gpu")]
#[test]
fn offsets_on_the_gpu_reach_the_cpu_optimum() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    let m = problem(200, 5, 7);
    let x = Design::row_major(&m.x, m.n, m.p).unwrap();
    let data = Data::new(x, &m.labels).offset(&m.offset);
    let glm = Glm::logistic().penalty(Penalty::elastic_net(0.01, 0.5));
    let cpu = glm.clone().backend(BackendChoice::Cpu).fit_data(&data).unwrap();
    for context in contexts {
        let gpu = glm.clone().gpu_context(context.clone()).fit_data(&data).unwrap();
        assert_eq!(gpu.backend().kind, "gpu");
        assert!(gpu.converged(), "{:?}", gpu.termination());
        let gap = (gpu.objective() - cpu.objective()) / cpu.objective();
        eprintln!("offset on {}: gap to the CPU fit {gap:.1e}", gpu.backend());
        assert!(gap.abs() <= 1e-10, "gap {gap:e}");
    }
}

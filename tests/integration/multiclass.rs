//! Multi-class fits: multinomial logistic regression and one-vs-rest SVMs.

use nalgebra::DMatrix;
use scalemix::{BackendChoice, Design, Error, Glm, LinearSolver, Penalty};

/// Seeded K-class data: correlated features, labels drawn from a softmax model, label values
/// deliberately not 0..K.
fn data(n: usize, p: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let s = scalemix::synthetic::ill_conditioned_logistic(n, p, 10.0, 1.0, seed);
    let labels = [2.5, -1.0, 7.0, 4.0, 11.0];
    let y = (0..n)
        .map(|i| {
            let row = &s.x[i * p..(i + 1) * p];
            let scores: Vec<f64> = (0..k)
                .map(|c| {
                    row.iter().enumerate().map(|(j, v)| v * ((j + 2 * c) % 5) as f64 * 0.4).sum()
                })
                .collect();
            // A deterministic "draw": the class whose score plus a hashed jitter is largest.
            let jitter = |c: usize| (((i * 31 + c * 17) % 23) as f64 / 23.0 - 0.5) * 1.5;
            let best = (0..k)
                .fold(0, |b, c| if scores[c] + jitter(c) > scores[b] + jitter(b) { c } else { b });
            labels[best]
        })
        .collect();
    (s.x, y)
}

/// The multinomial gradient Xᵀ(p_c − 1[y = c])/n for each non-reference class c, and the
/// objective, from the definitions (softmax with the first sorted class as reference).
fn gradient_and_objective(
    x: &[f64],
    y: &[f64],
    n: usize,
    p: usize,
    fit: &scalemix::MulticlassFit,
    lambda: f64,
    alpha: f64,
) -> (DMatrix<f64>, f64) {
    let k = fit.classes().len();
    let b = fit.coefficients();
    let mut g = DMatrix::zeros(p + 1, k);
    let mut loss = 0.0;
    for i in 0..n {
        let eta: Vec<f64> = (0..k)
            .map(|c| fit.intercepts()[c] + (0..p).map(|j| x[i * p + j] * b[(j, c)]).sum::<f64>())
            .collect();
        let max = eta.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = eta.iter().map(|e| (e - max).exp()).sum();
        let yc = fit.classes().iter().position(|&c| c == y[i]).unwrap();
        loss += max + z.ln() - eta[yc];
        for c in 0..k {
            let r = (eta[c] - max).exp() / z - f64::from(u8::from(c == yc));
            for j in 0..p {
                g[(j, c)] += r * x[i * p + j] / n as f64;
            }
            g[(p, c)] += r / n as f64;
        }
    }
    let pen: f64 = b.iter().map(|v| lambda * (alpha * v.abs() + 0.5 * (1.0 - alpha) * v * v)).sum();
    (g, loss / n as f64 + pen)
}

/// KKT of the fit from the definitions: the worst over the classes with coefficients of their
/// own (from `first`: 1 with a reference class, 0 symmetric) and every coordinate.
#[allow(clippy::too_many_arguments)]
fn kkt(
    x: &[f64],
    y: &[f64],
    n: usize,
    p: usize,
    fit: &scalemix::MulticlassFit,
    lambda: f64,
    alpha: f64,
    first: usize,
) -> f64 {
    let (g, f) = gradient_and_objective(x, y, n, p, fit, lambda, alpha);
    assert!(
        (f - fit.objective()).abs() <= 1e-12 * f,
        "objective {} vs definition {f}",
        fit.objective()
    );
    let mut worst = 0.0_f64;
    for c in first..fit.classes().len() {
        for j in 0..=p {
            let beta = if j < p { fit.coefficients()[(j, c)] } else { 0.0 };
            let (l1, l2) =
                if j < p { (lambda * alpha, lambda * (1.0 - alpha)) } else { (0.0, 0.0) };
            let smooth = g[(j, c)] + l2 * beta;
            let v = if beta != 0.0 {
                (smooth + l1 * beta.signum()).abs()
            } else {
                (smooth.abs() - l1).max(0.0)
            };
            worst = worst.max(v);
        }
    }
    worst
}

#[test]
fn multinomial_with_two_classes_is_logistic_regression() {
    let (n, p) = (150, 4);
    let (x, y) = data(n, p, 2, 3);
    let design = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-2)).backend(BackendChoice::Cpu);
    let multi = glm.fit_multiclass(design, &y).unwrap();
    assert_eq!(multi.classes(), &[-1.0, 2.5]);
    let binary: Vec<f64> = y.iter().map(|&v| f64::from(u8::from(v == 2.5))).collect();
    let single = glm.fit(design, &binary).unwrap();
    assert!(multi.converged() && single.converged());
    for j in 0..p {
        let (a, b) = (multi.coefficients()[(j, 1)], single.coefficients()[j]);
        assert!((a - b).abs() <= 1e-8 * b.abs().max(1.0), "coef {j}: {a} vs {b}");
        assert_eq!(multi.coefficients()[(j, 0)], 0.0);
    }
    assert!((multi.intercepts()[1] - single.intercept()).abs() <= 1e-8);
    assert!((multi.objective() - single.objective()).abs() <= 1e-12 * single.objective());
}

#[test]
fn multinomial_satisfies_kkt_with_ridge_and_lasso() {
    let (n, p) = (300, 5);
    let (x, y) = data(n, p, 3, 9);
    let design = Design::row_major(&x, n, p).unwrap();
    for (lambda, alpha) in [(1e-3, 0.0), (2e-2, 1.0)] {
        let fit = Glm::logistic()
            .penalty(Penalty::elastic_net(lambda, alpha))
            .backend(BackendChoice::Cpu)
            .fit_multiclass(design, &y)
            .unwrap();
        assert!(fit.converged(), "λ={lambda} α={alpha}: {:?}", fit.termination());
        let violation = kkt(&x, &y, n, p, &fit, lambda, alpha, 1);
        let zeros = fit.coefficients().iter().skip(p).filter(|&&b| b == 0.0).count();
        eprintln!(
            "multinomial λ={lambda} α={alpha}: {} sweeps, KKT {violation:.1e}, {zeros} zeros",
            fit.iterations()
        );
        assert!(violation <= 1e-8, "KKT violated by {violation:e}");
        if alpha > 0.0 {
            assert!(zeros > 0, "the lasso should zero some coefficients");
        }
        let proba = fit.predict_proba(design).unwrap();
        for (i, row) in proba.row_iter().enumerate() {
            assert!((row.sum() - 1.0).abs() <= 1e-12, "row {i} sums to {}", row.sum());
        }
        let predicted = fit.predict(design).unwrap();
        let accuracy = predicted.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / n as f64;
        assert!(accuracy > 0.6, "training accuracy {accuracy}");
    }
}

#[cfg(feature = "gpu")]
#[test]
fn multinomial_on_the_gpu_matches_the_cpu() {
    let Some(contexts) = crate::gpu::contexts() else { return };
    let (n, p) = (200, 4);
    let (x, y) = data(n, p, 3, 4);
    let design = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-3));
    let cpu = glm.clone().backend(BackendChoice::Cpu).fit_multiclass(design, &y).unwrap();
    for context in contexts {
        let gpu = glm.clone().gpu_context(context.clone()).fit_multiclass(design, &y).unwrap();
        assert!(gpu.converged(), "{:?}", gpu.termination());
        assert_eq!(gpu.backend().kind, "gpu");
        let gap = (gpu.objective() - cpu.objective()) / cpu.objective();
        eprintln!(
            "multinomial on {}: gap to the CPU fit {gap:.1e}, {} sweeps",
            gpu.backend(),
            gpu.iterations()
        );
        assert!(gap.abs() <= 1e-10, "gap {gap:e}");
    }
}

#[test]
fn one_vs_rest_hinge_fits_each_class_against_the_rest() {
    let (n, p) = (240, 4);
    let (x, y) = data(n, p, 3, 6);
    let design = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::hinge().penalty(Penalty::ridge(1e-2)).backend(BackendChoice::Cpu);
    let fit = glm.fit_multiclass(design, &y).unwrap();
    assert!(fit.converged());
    assert_eq!(fit.classes(), &[-1.0, 2.5, 7.0]);
    // Each class's coefficients are the optimum of its own SVM against the rest: subgradient
    // optimality checked from the definitions (tests/integration/families.rs).
    for (c, &label) in fit.classes().iter().enumerate() {
        let binary: Vec<f64> = y.iter().map(|&v| if v == label { 1.0 } else { -1.0 }).collect();
        let beta: Vec<f64> = fit.coefficients().column(c).iter().copied().collect();
        let (loss, intercept) = (crate::families::subgradient::Loss::Hinge, fit.intercepts()[c]);
        crate::families::subgradient::check(
            &loss,
            &x,
            &binary,
            n,
            p,
            1e-2,
            0.0,
            &beta,
            Some(intercept),
            0.0,
        );
    }
    let predicted = fit.predict(design).unwrap();
    let accuracy = predicted.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / n as f64;
    assert!(accuracy > 0.6, "training accuracy {accuracy}");
    assert!(matches!(fit.predict_proba(design), Err(Error::Unsupported { .. })));
}

#[test]
fn rejects_fewer_than_two_classes_and_other_families() {
    let x = [0.1, 0.2, 0.3, 0.4];
    let design = Design::row_major(&x, 4, 1).unwrap();
    let err = Glm::logistic().fit_multiclass(design, &[3.0; 4]).unwrap_err();
    assert!(matches!(err, Error::TooFewClasses { found: 1 }), "{err}");
    let err = Glm::gaussian().fit_multiclass(design, &[1.0, 2.0, 3.0, 1.0]).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    let err = Glm::logistic().fit_multiclass(design, &[1.0, f64::NAN, 3.0, 1.0]).unwrap_err();
    assert!(matches!(err, Error::NonFiniteValue { index: 1, .. }), "{err}");
}

/// −0.0 and 0.0 are one class: a file that writes some zeros as `-0` gets the same classes and
/// the same fit as one that writes them all as `0`, and no row changes class.
#[test]
fn negative_zero_labels_are_the_zero_class() {
    let (n, p) = (120, 3);
    let (x, y) = data(n, p, 3, 8);
    // Labels −1, 0, 1 from the three classes; every other zero written as −0.0.
    let plain: Vec<f64> = y
        .iter()
        .map(|&v| {
            if v == 2.5 {
                -1.0
            } else if v == -1.0 {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    let signed: Vec<f64> = plain
        .iter()
        .enumerate()
        .map(|(i, &v)| if v == 0.0 && i % 2 == 0 { -0.0 } else { v })
        .collect();
    assert!(signed.iter().any(|v| v.is_sign_negative() && *v == 0.0), "the test needs a −0.0");
    let design = Design::row_major(&x, n, p).unwrap();
    let glm = Glm::logistic().penalty(Penalty::ridge(1e-2)).backend(BackendChoice::Cpu);
    let a = glm.fit_multiclass(design, &plain).unwrap();
    let b = glm.fit_multiclass(design, &signed).unwrap();
    assert_eq!(b.classes().len(), 3, "{:?}", b.classes());
    assert!(b.classes().iter().all(|c| !(c.is_sign_negative() && *c == 0.0)), "{:?}", b.classes());
    assert_eq!(a.classes(), b.classes());
    assert_eq!(a.coefficients(), b.coefficients());
    assert_eq!(a.intercepts(), b.intercepts());
}

/// A multinomial fit on a badly scaled design (preconditioned inside) is the fit of the
/// well-scaled design it reparametrizes: columns scaled by cⱼ ∈ [1e-4, 1e4] and shifted by
/// 1e6·cⱼ, with lasso factors cⱼ (β′ = β/c per class), reach the same objective and the mapped
/// coefficients; the reported KKT violation is the user's, small at the optimum.
#[test]
fn multinomial_on_a_badly_scaled_design_is_the_well_scaled_fit() {
    let (n, p, k) = (300, 5, 3);
    let (x, y) = data(n, p, k, 41);
    let scale: Vec<f64> = (0..p).map(|j| 10f64.powi(2 * j as i32 - 4)).collect();
    let hostile: Vec<f64> = x.iter().enumerate().map(|(i, v)| (v + 1e6) * scale[i % p]).collect();
    let glm = Glm::logistic().penalty(Penalty::lasso(0.01)).backend(BackendChoice::Cpu);
    let plain = glm.fit_multiclass(Design::row_major(&x, n, p).unwrap(), &y).unwrap();
    let fit = glm
        .penalty_factors(scale.clone())
        .fit_multiclass(Design::row_major(&hostile, n, p).unwrap(), &y)
        .unwrap();
    assert!(
        plain.converged() && fit.converged(),
        "{:?} {:?}",
        plain.termination(),
        fit.termination()
    );
    let gap = (fit.objective() - plain.objective()) / plain.objective();
    assert!(gap.abs() <= 1e-10, "gap {gap:e}");
    // The KKT violation is reported in the caller's coordinates: mapping b₀ = b̃₀ − Σ μⱼβ′ⱼ back
    // rounds the intercept by about ε Σ |μⱼβ′ⱼ|, which moves a gradient along a column of size
    // |x′| by up to |x′| times that (the softmax derivative is at most 1).
    let largest = hostile.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let rounding = (0..k)
        .map(|c| (0..p).map(|j| 1e6 * scale[j] * fit.coefficients()[(j, c)].abs()).sum::<f64>())
        .fold(0.0, f64::max)
        * f64::EPSILON;
    let bound = 1e-9 + 4.0 * largest * rounding;
    assert!(fit.kkt_violation() <= bound, "KKT {:e} > {bound:e}", fit.kkt_violation());
    for c in 0..k {
        for (j, &cj) in scale.iter().enumerate() {
            let (mapped, want) = (fit.coefficients()[(j, c)] * cj, plain.coefficients()[(j, c)]);
            assert!(
                (mapped - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "class {c}, β{j}: {mapped} vs {want}"
            );
        }
    }
}

/// The symmetric parameterization (scikit-learn's and glmnet's): every class penalized, the
/// KKT conditions of all K classes hold from the definitions; with a penalty it is a different
/// model from the reference one, without one the probabilities agree.
#[test]
fn symmetric_multinomial_satisfies_the_kkt_conditions_of_every_class() {
    let (n, p, k) = (400, 4, 3);
    let (x, y) = data(n, p, k, 5);
    let design = Design::row_major(&x, n, p).unwrap();
    for (lambda, alpha) in [(0.01, 0.0), (0.005, 1.0)] {
        let glm = Glm::logistic()
            .penalty(Penalty::elastic_net(lambda, alpha))
            .backend(BackendChoice::Cpu)
            .max_iter(20_000);
        let symmetric = glm.clone().symmetric_multinomial(true).fit_multiclass(design, &y).unwrap();
        assert!(symmetric.converged());
        let worst = kkt(&x, &y, n, p, &symmetric, lambda, alpha, 0);
        assert!(worst <= 1e-7, "λ = {lambda}, α = {alpha}: KKT {worst}");
        assert!(symmetric.coefficients().column(0).iter().any(|&b| b != 0.0));
        let reference = glm.fit_multiclass(design, &y).unwrap();
        assert!((reference.objective() - symmetric.objective()).abs() > 1e-6);
    }
    let unpenalized = Glm::logistic().backend(BackendChoice::Cpu).max_iter(20_000);
    let a = unpenalized.clone().symmetric_multinomial(true).fit_multiclass(design, &y).unwrap();
    let b = unpenalized.fit_multiclass(design, &y).unwrap();
    let (pa, pb) = (a.predict_proba(design).unwrap(), b.predict_proba(design).unwrap());
    for (u, v) in pa.iter().zip(pb.iter()) {
        assert!((u - v).abs() <= 1e-6, "{u} vs {v}");
    }
}

/// A weak ridge leaves the symmetric parameterization nearly flat along "the same vector added
/// to every class"; the sweeps still converge in few iterations, to the optimum's property
/// Σ_c β_c = 0 (its KKT condition along that direction), and to the KKT conditions of every
/// class computed here.
#[test]
fn symmetric_multinomial_with_a_weak_ridge_converges_in_few_sweeps() {
    let (n, p, k) = (400, 4, 3);
    let (x, y) = data(n, p, k, 8);
    let design = Design::row_major(&x, n, p).unwrap();
    for lambda in [1e-3, 1e-5] {
        let fit = Glm::logistic()
            .penalty(Penalty::ridge(lambda))
            .backend(BackendChoice::Cpu)
            .symmetric_multinomial(true)
            .fit_multiclass(design, &y)
            .unwrap();
        assert!(fit.converged(), "λ = {lambda}: {:?}", fit.termination());
        assert!(fit.iterations() <= 100, "λ = {lambda}: {} sweeps", fit.iterations());
        let worst = kkt(&x, &y, n, p, &fit, lambda, 0.0, 0);
        assert!(worst <= 1e-8, "λ = {lambda}: KKT {worst}");
        for j in 0..p {
            let sum: f64 = (0..k).map(|c| fit.coefficients()[(j, c)]).sum();
            // Σ_c of the classes' KKT residuals along feature j is λ Σ_c β_cj (the loss's
            // gradients sum to zero there).
            assert!((lambda * sum).abs() <= 1e-10, "λ = {lambda}, feature {j}: Σ β = {sum}");
        }
    }
}

/// On designs whose d × d matrices do not fit (`max_memory`), wider than tall or sparse, the
/// classes step without them (a ridge by the n × n dual or conjugate gradients, ℓ1 and the
/// elastic net by coordinate descent on the columns): the optimum of the d × d steps, checked
/// by the KKT conditions from the definitions, in both parameterizations.
#[test]
fn wide_and_sparse_multinomial_fits_step_without_the_gram() {
    // 60 rows, 300 columns (one empty, one 40× the others' scale), a third of the entries stored.
    let m = crate::sparse::random_sparse(60, 300, 0.3, 11);
    let (n, p) = (m.n, m.p);
    let labels = [3.0, -2.0, 8.0];
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let row = &m.dense[i * p..(i + 1) * p];
            let score = |c: usize| -> f64 { row.iter().skip(c).step_by(7).sum() };
            labels[(0..3).fold(0, |b, c| if score(c) > score(b) { c } else { b })]
        })
        .collect();
    for symmetric in [false, true] {
        for (lambda, alpha) in [(1e-2, 0.0), (1e-2, 1.0), (1e-2, 0.5)] {
            let glm = Glm::logistic()
                .penalty(Penalty::elastic_net(lambda, alpha))
                .symmetric_multinomial(symmetric)
                .backend(BackendChoice::Cpu);
            // The reference: SM-EM steps on the d × d system (which the cost model would not
            // take for this ridge: the dual is cheaper at n = 60).
            let full =
                glm.clone().linear_solver(LinearSolver::Cholesky).fit_multiclass(m.dense(), &y);
            let full = full.unwrap();
            assert!(!full.backend().device.contains("matrix-free"), "{}", full.backend().device);
            assert!(full.converged());
            // The cost model's choice where the d × d matrices do not fit, and a ridge's
            // conjugate gradients asked for.
            let mut wide_models = vec![("no room", glm.clone().max_memory(2 << 20))];
            if alpha == 0.0 {
                wide_models
                    .push(("CG", glm.clone().linear_solver(LinearSolver::ConjugateGradient)));
            }
            let cases = wide_models.iter().flat_map(|(how, glm)| {
                [("dense", m.dense()), ("CSR", m.csr())].map(|(form, x)| (*how, glm, form, x))
            });
            for (how, glm, form, x) in cases {
                let what =
                    format!("{form}, {how}: λ = {lambda} α = {alpha} symmetric = {symmetric}");
                let wide = glm.fit_multiclass(x, &y).unwrap();
                eprintln!(
                    "{what}: {} sweeps ({}) against {} with the d × d steps",
                    wide.iterations(),
                    wide.backend().device,
                    full.iterations()
                );
                assert!(wide.backend().device.contains("matrix-free"), "{what}");
                assert!(wide.converged(), "{what}: {:?}", wide.termination());
                let first = usize::from(!symmetric);
                let violation = kkt(&m.dense, &y, n, p, &wide, lambda, alpha, first);
                assert!(violation <= 1e-8, "{what}: KKT violated by {violation:e}");
                let gap = (wide.objective() - full.objective()) / full.objective();
                assert!(gap.abs() <= 1e-10, "{what}: objective {gap:e} from the d × d fit's");
            }
        }
    }
}

//! The CPU backend's statistics against the definitions, across row chunks and layouts.

use nalgebra::DMatrix;
use scalemix::backend::{Backend, CpuBackend, Needs, Stats};
use scalemix::{Design, Family, Glm, Penalty, Problem, Termination, synthetic};

/// Sums of n ≈ 5000 f64 terms of size O(1) in a different order: relative round-off well below
/// this.
const SUM_TOLERANCE: f64 = 1e-11;

/// loss, ∇L and S from their definitions, one row at a time.
fn naive_stats(
    x: &DMatrix<f64>,
    y: &[f64],
    w: &[f64],
    family: Family,
    theta: &[f64],
) -> (f64, Vec<f64>, DMatrix<f64>) {
    let (n, p) = x.shape();
    let d = p + 1;
    let wsum: f64 = w.iter().sum();
    let (mut loss, mut grad, mut s) = (0.0, vec![0.0; d], DMatrix::zeros(d, d));
    for i in 0..n {
        let xi: Vec<f64> = (0..p).map(|j| x[(i, j)]).chain([1.0]).collect();
        let eta: f64 = xi.iter().zip(theta).map(|(a, b)| a * b).sum();
        let e = family.estep(y[i], eta);
        loss += w[i] * e.loss / wsum;
        for j in 0..d {
            grad[j] += w[i] * e.derivative * xi[j] / wsum;
            for k in 0..d {
                s[(j, k)] += w[i] * e.weight * xi[j] * xi[k] / wsum;
            }
        }
    }
    (loss, grad, s)
}

#[test]
fn cpu_statistics_match_their_definitions_across_chunks() {
    // n = 5000 spans several row chunks and a partial last block; X is column-major. p = 150
    // spans several column bands of the upper-triangle Gram, the last one partial.
    for (n, p) in [(5000, 7), (1500, 150)] {
        check_statistics_against_definitions(n, p);
    }
}

fn check_statistics_against_definitions(n: usize, p: usize) {
    let d = p + 1;
    let data = synthetic::ill_conditioned_logistic(n, p, 100.0, 2.0, 21);
    let x = DMatrix::from_row_slice(data.n, data.p, &data.x);
    let w: Vec<f64> = (0..data.n).map(|i| 0.5 + (i % 5) as f64 * 0.25).collect();
    let theta: Vec<f64> = data.beta_true.iter().copied().chain([-0.3]).collect();
    for family in [Family::Logistic, Family::Gaussian] {
        let problem = Problem::new(Design::from(&x), data.y.as_slice().into(), Some(&w), family)
            .expect("valid");
        let mut backend = CpuBackend::new(&problem, true);
        let mut stats = Stats::new(d);
        backend.evaluate(&theta, Needs::GradientAndGram, &mut stats).unwrap();
        let (loss, grad, s) = naive_stats(&x, &data.y, &w, family, &theta);
        assert!((stats.loss - loss).abs() <= SUM_TOLERANCE * loss, "{} vs {loss}", stats.loss);
        assert!((backend.loss(&theta).unwrap() - loss).abs() <= SUM_TOLERANCE * loss);
        let gscale = grad.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
        for (j, g) in grad.iter().enumerate() {
            let err = (stats.gradient[j] - g).abs();
            assert!(err <= SUM_TOLERANCE * gscale, "{family:?} grad[{j}]: {err:e}");
        }
        let sscale = s.amax();
        for j in 0..d {
            for k in 0..d {
                let err = (stats.gram[(j, k)] - s[(j, k)]).abs();
                assert!(err <= SUM_TOLERANCE * sscale, "{family:?} S[{j},{k}]: {err:e}");
            }
        }
    }
}

#[test]
fn fits_are_bit_identical_across_thread_counts() {
    let data = synthetic::ill_conditioned_logistic(6000, 6, 1e3, 2.0, 17);
    let fit = || {
        Glm::logistic()
            .penalty(Penalty::elastic_net(1e-3, 0.5))
            .fit(Design::row_major(&data.x, data.n, data.p).unwrap(), &data.y)
            .unwrap()
    };
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let one = pool(1).install(fit);
    let three = pool(3).install(fit);
    assert_eq!(one.coefficients(), three.coefficients());
    assert_eq!(one.intercept(), three.intercept());
    assert_eq!(one.objective_trace(), three.objective_trace());
}

#[test]
fn max_iter_is_a_termination_reason_not_an_error() {
    let data = synthetic::ill_conditioned_logistic(300, 20, 1e6, 5.0, 2);
    let fit = Glm::logistic()
        .penalty(Penalty::ridge(1e-6))
        .max_iter(2)
        .fit(Design::row_major(&data.x, data.n, data.p).unwrap(), &data.y)
        .unwrap();
    assert_eq!(fit.termination(), Termination::MaxIterations);
    assert!(!fit.converged());
    assert_eq!(fit.iterations(), 2);
    assert!(fit.objective().is_finite() && fit.coefficients().iter().all(|c| c.is_finite()));
}

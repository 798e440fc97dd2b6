//! The CPU backend's statistics against the definitions, across row chunks and layouts.

use nalgebra::DMatrix;
use scalemix::backend::Problem;
use scalemix::backend::{Backend, CpuBackend, Needs, Stats};
use scalemix::{Design, Family, Glm, Penalty, Termination, synthetic};

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

/// What paths, cross-validation and multiclass fits ask of a backend beyond the statistics:
/// `set_rows` gives the same statistics as a backend opened on the new rows (a gaussian S cached
/// for the old weights is dropped), `gram_with_weights` is S from the definition with the given
/// row weights, and a mismatched problem is refused.
#[test]
fn cpu_rebinding_and_host_weighted_gram_match_their_definitions() {
    let data = synthetic::ill_conditioned_logistic(3000, 9, 100.0, 1.0, 5);
    let x = DMatrix::from_row_slice(data.n, data.p, &data.x);
    let d = data.p + 1;
    let theta: Vec<f64> = data.beta_true.iter().copied().chain([0.2]).collect();
    let fold: Vec<f64> = (0..data.n).map(|i| if i % 4 == 0 { 0.0 } else { 1.0 }).collect();
    for family in [Family::Logistic, Family::Gaussian] {
        let all = Problem::new(Design::from(&x), data.y.as_slice().into(), None, family).unwrap();
        let training =
            Problem::new(Design::from(&x), data.y.as_slice().into(), Some(&fold), family).unwrap();
        let mut rebound = CpuBackend::new(&all, true);
        let mut stats = Stats::new(d);
        // A first pass caches the gaussian S for the old weights.
        rebound.evaluate(&theta, Needs::GradientAndGram, &mut stats).unwrap();
        rebound.set_rows(&training).unwrap();
        rebound.evaluate(&theta, Needs::GradientAndGram, &mut stats).unwrap();
        let mut fresh_stats = Stats::new(d);
        CpuBackend::new(&training, true)
            .evaluate(&theta, Needs::GradientAndGram, &mut fresh_stats)
            .unwrap();
        assert_eq!(stats.loss, fresh_stats.loss, "{family:?}");
        assert_eq!(stats.gradient, fresh_stats.gradient, "{family:?}");
        assert_eq!(stats.gram, fresh_stats.gram, "{family:?}");

        // S with host weights cᵢ against the definition Σ cᵢ xᵢxᵢᵀ / W (W of the bound rows).
        let c: Vec<f64> = (0..data.n).map(|i| 0.1 + (i % 7) as f64 * 0.3).collect();
        let mut gram = DMatrix::zeros(d, d);
        rebound.gram_with_weights(&c, &mut gram).unwrap();
        let w_sum: f64 = fold.iter().sum();
        let expected = DMatrix::from_fn(d, d, |j, k| {
            (0..data.n)
                .map(|i| {
                    let xj = if j < data.p { x[(i, j)] } else { 1.0 };
                    let xk = if k < data.p { x[(i, k)] } else { 1.0 };
                    c[i] * xj * xk
                })
                .sum::<f64>()
                / w_sum
        });
        let scale = expected.amax();
        for j in 0..d {
            for k in 0..d {
                let err = (gram[(j, k)] - expected[(j, k)]).abs();
                assert!(err <= SUM_TOLERANCE * scale, "{family:?} S[{j},{k}]: {err:e}");
            }
        }
    }
    let all =
        Problem::new(Design::from(&x), data.y.as_slice().into(), None, Family::Logistic).unwrap();
    let fewer = DMatrix::from_row_slice(2, data.p, &data.x[..2 * data.p]);
    let other =
        Problem::new(Design::from(&fewer), data.y[..2].into(), None, Family::Logistic).unwrap();
    let err = CpuBackend::new(&all, true).set_rows(&other).unwrap_err();
    assert!(err.to_string().contains("set_rows"), "{err}");
}

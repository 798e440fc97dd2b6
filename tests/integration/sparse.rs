//! Sparse designs (CSR and CSC): the same statistics, fits, paths, CV and predictions as the
//! dense form of the same matrix, and a one-line error for every malformed structure.

use crate::common::{kkt_violation, logistic_gradient_csr};
use nalgebra::DMatrix;
use rand::prelude::*;
use scalemix::backend::{Backend, CpuBackend, Needs, Problem, Stats};
use scalemix::{
    CsrMatrix, CvOptions, Data, Design, Error, Family, Folds, Glm, PathOptions, Penalty,
};

/// A random `n × p` matrix with about `density` of its entries stored, some columns empty and
/// one row empty, in three forms: dense row-major, CSR and CSC (both with `usize` indices).
pub(crate) struct Sparse {
    pub(crate) n: usize,
    pub(crate) p: usize,
    pub(crate) dense: Vec<f64>,
    csr: (Vec<i32>, Vec<i32>, Vec<f64>),
    csc: (Vec<i64>, Vec<i64>, Vec<f64>),
}

pub(crate) fn random_sparse(n: usize, p: usize, density: f64, seed: u64) -> Sparse {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut dense = vec![0.0; n * p];
    for i in 0..n {
        if i == 3 {
            continue; // an empty row
        }
        for j in 0..p {
            // Column 1 stays empty; column 0 is stored in every row (an intercept-like column).
            let stored = j == 0 || (j != 1 && rng.random::<f64>() < density);
            if stored {
                let scale = if j == 2 { 40.0 } else { 1.0 };
                dense[i * p + j] = scale * (rng.random::<f64>() * 2.0 - 1.0);
            }
        }
    }
    let (mut indptr, mut indices, mut values) = (vec![0i32], Vec::new(), Vec::new());
    for i in 0..n {
        for j in 0..p {
            if dense[i * p + j] != 0.0 {
                indices.push(j as i32);
                values.push(dense[i * p + j]);
            }
        }
        indptr.push(values.len() as i32);
    }
    let (mut cptr, mut cind, mut cval) = (vec![0i64], Vec::new(), Vec::new());
    for j in 0..p {
        for i in 0..n {
            if dense[i * p + j] != 0.0 {
                cind.push(i as i64);
                cval.push(dense[i * p + j]);
            }
        }
        cptr.push(cval.len() as i64);
    }
    Sparse { n, p, dense, csr: (indptr, indices, values), csc: (cptr, cind, cval) }
}

impl Sparse {
    pub(crate) fn dense(&self) -> Design<'_> {
        Design::row_major(&self.dense, self.n, self.p).unwrap()
    }
    pub(crate) fn csr(&self) -> Design<'_> {
        Design::csr(self.n, self.p, &self.csr.0, &self.csr.1, &self.csr.2).unwrap()
    }
    fn csc(&self) -> Design<'_> {
        Design::csc(self.n, self.p, &self.csc.0, &self.csc.1, &self.csc.2).unwrap()
    }
    /// A response for `family` from a linear predictor with a few nonzero coefficients.
    fn response(&self, family: Family, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let beta: Vec<f64> = (0..self.p).map(|j| if j % 3 == 0 { 0.8 } else { 0.0 }).collect();
        (0..self.n)
            .map(|i| {
                let eta: f64 =
                    (0..self.p).map(|j| self.dense[i * self.p + j] * beta[j]).sum::<f64>() * 0.5;
                let noise = rng.random::<f64>() - 0.5;
                match family {
                    Family::Logistic | Family::Hinge => {
                        f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-eta).exp())))
                    }
                    _ => eta + noise,
                }
            })
            .collect()
    }
}

/// Every family (Student-t with its scale fixed), for the tests that run each.
const FAMILIES: [Family; 5] = [
    Family::Logistic,
    Family::Gaussian,
    Family::Hinge,
    Family::Quantile { q: 0.3 },
    Family::StudentT { nu: 4.0, sigma: 0.5 },
];

/// Ridge, lasso and elastic net, for the tests that run each.
fn penalties() -> [Penalty; 3] {
    [Penalty::ridge(0.05), Penalty::lasso(0.02), Penalty::elastic_net(0.03, 0.5)]
}

/// Asserts that `fit` reached `reference`'s objective — to 1e-12 for the smooth losses, to the
/// precision README states for hinge and quantile (1e-11: their f64 finish stops there) — and
/// kept the design's empty column 1 at zero.
fn assert_same_optimum(what: &str, family: Family, reference: &scalemix::Fit, fit: &scalemix::Fit) {
    let smooth = !matches!(family, Family::Hinge | Family::Quantile { .. });
    let tolerance = if smooth { 1e-12 } else { 1e-11 };
    assert!(
        relative(reference.objective(), fit.objective()) <= tolerance,
        "{what}: objective {} vs {}",
        fit.objective(),
        reference.objective()
    );
    assert_eq!(fit.coefficients()[1], 0.0, "{what}: an empty column stays at zero");
}

/// Relative difference of two objectives.
fn relative(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// The CPU backend's loss, gradient, S and Hessian on CSR equal those on the dense form (the
/// same sums in another order), with and without an intercept.
#[test]
fn sparse_statistics_equal_dense_statistics() {
    let m = random_sparse(3000, 12, 0.3, 1);
    let y = m.response(Family::Logistic, 2);
    let w: Vec<f64> = (0..m.n).map(|i| 0.5 + (i % 4) as f64 * 0.25).collect();
    for intercept in [true, false] {
        let d = m.p + usize::from(intercept);
        let theta: Vec<f64> = (0..d).map(|j| 0.1 * j as f64 - 0.4).collect();
        for needs in [Needs::GradientAndGram, Needs::GradientAndHessian] {
            let mut stats = [Stats::new(d), Stats::new(d)];
            for (x, out) in [m.dense(), m.csr()].into_iter().zip(stats.iter_mut()) {
                let problem = Problem::new(x, y.as_slice().into(), Some(&w), Family::Logistic)
                    .expect("valid");
                CpuBackend::new(&problem, intercept).evaluate(&theta, needs, out).unwrap();
            }
            let [dense, sparse] = &stats;
            assert!(relative(dense.loss, sparse.loss) < 1e-13);
            let scale = dense.gradient.amax();
            assert!((&dense.gradient - &sparse.gradient).amax() < 1e-13 * scale);
            assert!((&dense.gram - &sparse.gram).amax() < 1e-12 * dense.gram.amax());
            assert_eq!(sparse.gram, sparse.gram.transpose(), "S is exactly symmetric");
        }
        // The Gram from given row weights (the f64 finish of hinge and quantile fits).
        let c: Vec<f64> = (0..m.n).map(|i| (i % 7) as f64 * 0.1).collect();
        let mut grams = [DMatrix::zeros(d, d), DMatrix::zeros(d, d)];
        for (x, gram) in [m.dense(), m.csr()].into_iter().zip(grams.iter_mut()) {
            let problem =
                Problem::new(x, y.as_slice().into(), None, Family::Logistic).expect("valid");
            CpuBackend::new(&problem, intercept).gram_with_weights(&c, gram).unwrap();
        }
        assert!((&grams[0] - &grams[1]).amax() < 1e-12 * grams[0].amax());
    }
}

/// Every family and penalty reaches the same optimum from CSR (i32 indices) and CSC (i64) as
/// from the dense form of the same matrix: objectives within 1e-12, coefficients close, the
/// same exact zeros. Column 2 is 40× the others' scale, so the dense fit is preconditioned
/// (centred and scaled) and the sparse one scaled only; one row and one column are empty.
#[test]
fn sparse_fits_equal_dense_fits_for_every_family_and_penalty() {
    let m = random_sparse(240, 9, 0.35, 3);
    for family in FAMILIES {
        let y = m.response(family, 4);
        for penalty in penalties() {
            for standardize in [false, true] {
                let glm = Glm::new(family).penalty(penalty).standardize(standardize).tol(1e-13);
                let dense = glm.fit(m.dense(), &y).unwrap();
                let what = format!("{family:?} {penalty:?} standardize={standardize}");
                for (form, x) in [("csr", m.csr()), ("csc", m.csc())] {
                    let sparse = glm.fit(x, &y).unwrap();
                    assert!(sparse.converged(), "{what} {form}: {:?}", sparse.termination());
                    assert!(
                        relative(dense.objective(), sparse.objective()) <= 1e-12,
                        "{what} {form}: objective {} vs dense {}",
                        sparse.objective(),
                        dense.objective()
                    );
                    let scale = dense.coefficients().iter().fold(1.0_f64, |a, b| a.max(b.abs()));
                    // Non-smooth losses have flat directions at their optimum.
                    let smooth = !matches!(family, Family::Hinge | Family::Quantile { .. });
                    let tolerance = if smooth { 1e-6 } else { 1e-3 };
                    for (j, (a, b)) in
                        dense.coefficients().iter().zip(sparse.coefficients()).enumerate()
                    {
                        assert!(
                            (a - b).abs() <= tolerance * scale,
                            "{what} {form} β{j}: {a} vs {b}"
                        );
                        if smooth && penalty.lambda > 0.0 && penalty.alpha > 0.0 {
                            assert_eq!(*a == 0.0, *b == 0.0, "{what} {form}: zero pattern at {j}");
                        }
                    }
                    assert_eq!(sparse.coefficients()[1], 0.0, "an empty column stays at zero");
                }
            }
        }
    }
}

/// Binomial counts, sample weights and a multinomial fit on CSR equal their dense fits.
#[test]
fn sparse_binomial_weighted_and_multiclass_fits_equal_dense_fits() {
    let m = random_sparse(200, 7, 0.4, 5);
    let trials: Vec<f64> = (0..m.n).map(|i| (1 + i % 4) as f64).collect();
    let successes: Vec<f64> =
        (0..m.n).map(|i| ((i * 7) % (2 + i % 4)).min(1 + i % 4) as f64).collect();
    let weights: Vec<f64> = (0..m.n).map(|i| 0.5 + (i % 3) as f64).collect();
    let glm = Glm::binomial().penalty(Penalty::lasso(0.01)).tol(1e-13);
    let fit = |x| glm.fit_data(&Data::binomial(x, &successes, &trials).weights(&weights)).unwrap();
    let (dense, sparse) = (fit(m.dense()), fit(m.csr()));
    assert!(relative(dense.objective(), sparse.objective()) <= 1e-12);

    let labels: Vec<f64> = (0..m.n).map(|i| (i % 3) as f64).collect();
    let glm = Glm::logistic().penalty(Penalty::ridge(0.05)).tol(1e-13);
    let dense = glm.fit_multiclass(m.dense(), &labels).unwrap();
    for x in [m.csr(), m.csc()] {
        let sparse = glm.fit_multiclass(x, &labels).unwrap();
        assert!(relative(dense.objective(), sparse.objective()) <= 1e-12);
        let model = sparse.to_model();
        let (a, b) = (model.predict_proba(m.dense()).unwrap(), model.predict_proba(x).unwrap());
        assert!((a - b).amax() < 1e-14, "sparse and dense X predict alike");
    }
}

/// Lasso and elastic-net paths on CSR (whose strong-rule solves run coordinate descent on the
/// sparse columns) give the dense form's objectives (k × k solves) at every λ, for every family
/// with a column solver, with sample weights; and a cross-validation the same λ choices.
#[test]
fn sparse_paths_and_cv_equal_dense_ones() {
    let m = random_sparse(300, 10, 0.3, 6);
    let weights: Vec<f64> = (0..m.n).map(|i| 0.5 + (i % 3) as f64 * 0.5).collect();
    for (glm, family) in [
        (Glm::logistic(), Family::Logistic),
        (Glm::gaussian(), Family::Gaussian),
        (Glm::student_t(4.0, Some(0.5)), Family::Gaussian),
    ] {
        let y = m.response(family, 7);
        for alpha in [1.0, 0.5] {
            let glm = glm.clone().penalty(Penalty::elastic_net(1.0, alpha)).tol(1e-12);
            let options = PathOptions { n_lambda: 12, ..PathOptions::default() };
            let path = |x| glm.path_data(&Data::new(x, &y).weights(&weights), &options).unwrap();
            let (dense, sparse) = (path(m.dense()), path(m.csr()));
            assert_eq!(dense.points.len(), sparse.points.len());
            for (a, b) in dense.points.iter().zip(&sparse.points) {
                let what = format!("{glm:?} λ = {}", a.lambda);
                // λ_max comes from ∇L at the null model: a sum in another order (and for
                // Student-t an iterative fit of the intercept, to 1e-12).
                assert!(relative(a.lambda, b.lambda) <= 1e-10, "{what}: {}", b.lambda);
                assert_eq!(b.termination, scalemix::Termination::Converged, "{what}");
                assert!(relative(a.objective, b.objective) <= 1e-11, "{what}: {}", b.objective);
            }
        }
    }
    let y = m.response(Family::Logistic, 7);
    let glm = Glm::logistic().penalty(Penalty::lasso(1.0)).tol(1e-12);
    let options = PathOptions { n_lambda: 12, ..PathOptions::default() };
    let folds = Folds::new(m.n, 4, 11).unwrap();
    let cv_options = CvOptions { path: options, ..CvOptions::default() };
    let dense = glm.cv_with_folds(&Data::new(m.dense(), &y), &folds, &cv_options).unwrap();
    let sparse = glm.cv_with_folds(&Data::new(m.csc(), &y), &folds, &cv_options).unwrap();
    assert!(relative(dense.lambda_min, sparse.lambda_min) <= 1e-12);
    // Held-out scores are not minimized by the fits: they move linearly with the coefficients'
    // error (about 1e-9 relative at the KKT tolerance), where objectives move quadratically.
    for (a, b) in dense.mean.iter().zip(&sparse.mean) {
        assert!(relative(*a, *b) <= 1e-8, "{a} vs {b}");
    }
}

/// A wide sparse lasso path (p = 20 000, n = 400, 0.5% stored) runs on active sets without a
/// p × p matrix, and its last point satisfies the KKT conditions computed here from the CSR
/// arrays.
#[test]
fn wide_sparse_lasso_path_runs_on_active_sets() {
    let (n, p) = (400, 20_000);
    let mut rng = StdRng::seed_from_u64(8);
    let (mut indptr, mut indices, mut values) = (vec![0usize], Vec::new(), Vec::new());
    for _ in 0..n {
        let mut columns: Vec<usize> = (0..100).map(|_| rng.random_range(0..p)).collect();
        columns.sort_unstable();
        columns.dedup();
        for j in columns {
            indices.push(j);
            values.push(rng.random::<f64>() + 0.5);
        }
        indptr.push(values.len());
    }
    let x = CsrMatrix::new(n, p, indptr.clone(), indices.clone(), values.clone()).unwrap();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let signal: f64 =
                (indptr[i]..indptr[i + 1]).filter(|&k| indices[k] < 50).map(|k| values[k]).sum();
            signal + 0.1 * (rng.random::<f64>() - 0.5)
        })
        .collect();
    // 512 MiB would not hold one 20 001 × 20 001 matrix: the path must not form one.
    let glm = Glm::gaussian().penalty(Penalty::lasso(1.0)).max_memory(512 << 20).tol(1e-10);
    let options =
        PathOptions { n_lambda: 20, lambda_min_ratio: Some(0.05), ..PathOptions::default() };
    let path = glm.path(&x, &y, &options).unwrap();
    let last = path.points.last().unwrap();
    assert!(last.coefficients.iter().filter(|b| **b != 0.0).count() > 5);
    // KKT of ½ mean (y − Xβ − b₀)² + λ‖β‖₁ from the arrays.
    let residual: Vec<f64> = (0..n)
        .map(|i| {
            let eta: f64 =
                (indptr[i]..indptr[i + 1]).map(|k| values[k] * last.coefficients[indices[k]]).sum();
            eta + last.intercept - y[i]
        })
        .collect();
    let mut gradient = vec![0.0; p];
    for i in 0..n {
        for k in indptr[i]..indptr[i + 1] {
            gradient[indices[k]] += values[k] * residual[i] / n as f64;
        }
    }
    let lambda = last.lambda;
    for (j, (&g, &b)) in gradient.iter().zip(&last.coefficients).enumerate() {
        let violation =
            if b == 0.0 { (g.abs() - lambda).max(0.0) } else { (g + lambda * b.signum()).abs() };
        assert!(violation < 1e-6 * lambda.max(1.0), "column {j}: ∇ {g}, β {b}, λ {lambda}");
    }
    assert!(residual.iter().sum::<f64>().abs() < 1e-8 * n as f64, "intercept stationary");
}

/// Each malformed structure is refused with a message naming the row or column.
#[test]
fn malformed_sparse_structures_are_refused_by_name() {
    let values = [1.0, 2.0, 3.0];
    let cases: [(&str, Vec<i64>, Vec<i64>, &str); 7] = [
        ("unsorted", vec![0, 2, 3], vec![2, 0, 1], "row 0 lists column 0 after column 2"),
        ("duplicate", vec![0, 2, 3], vec![1, 1, 0], "row 0 lists column 1 twice"),
        ("out of range", vec![0, 1, 3], vec![0, 1, 3], "row 1 lists column index 3, outside 0..3"),
        ("negative", vec![0, 1, 3], vec![0, -1, 2], "row 1 lists column index -1"),
        ("indptr length", vec![0, 3], vec![0, 1, 2], "indptr has 2 entries"),
        ("indptr start", vec![1, 2, 3], vec![0, 1, 2], "indptr starts at 1"),
        ("indptr decreasing", vec![0, 2, 1], vec![0, 1, 2], "indptr ends at 1"),
    ];
    for (what, indptr, indices, expected) in cases {
        let err = Design::csr(2, 3, &indptr, &indices, &values).unwrap_err();
        assert!(matches!(err, Error::InvalidSparse { .. }), "{what}: {err:?}");
        assert!(err.to_string().contains(expected), "{what}: {err}");
    }
    let err = Design::csr(3, 3, &[0i64, 2, 1, 3][..], &[0i64, 1, 2][..], &values).unwrap_err();
    assert!(err.to_string().contains("indptr decreases at row 1"), "{err}");
    let err = Design::csr(2, 3, &[0i32, 1, 2][..], &[0i32, 1][..], &values).unwrap_err();
    assert!(err.to_string().contains("indices has 2 entries but there are 3 values"), "{err}");
    let err = Design::csc(3, 2, &[0i32, 2, 3][..], &[2i32, 1, 0][..], &values).unwrap_err();
    assert!(err.to_string().contains("column 0 lists row 1 after row 2"), "{err}");
    let err = CsrMatrix::new(2, 3, vec![0, 1, 3], vec![0, 4, 1], values.to_vec()).unwrap_err();
    assert!(err.to_string().contains("row 1 lists column index 4"), "{err}");

    // A non-finite stored value is named by its row and column when a fit checks the data.
    let bad = [1.0, f64::NAN, 3.0];
    let x = Design::csr(2, 3, &[0i32, 1, 3][..], &[2i32, 0, 1][..], &bad).unwrap();
    let err = Glm::gaussian().fit(x, &[1.0, 2.0][..]).unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteDesign { row: 1, col: 0, value } if value.is_nan()),
        "{err:?}"
    );
}

/// Degenerate sparse designs have defined results: an all-zero design fits the null model
/// (intercept only, every coefficient 0), and one with no stored entry in a row predicts the
/// intercept there.
#[test]
fn all_zero_sparse_design_fits_the_null_model() {
    let (n, p) = (50, 4);
    let indptr = vec![0usize; n + 1];
    let x = Design::csr(n, p, &indptr, &[][..] as &[usize], &[]).unwrap();
    let y: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 5 == 0))).collect();
    let fit = Glm::logistic().penalty(Penalty::ridge(0.1)).fit(x, &y).unwrap();
    assert!(fit.coefficients().iter().all(|&b| b == 0.0));
    let mean = y.iter().sum::<f64>() / n as f64;
    assert!((fit.intercept() - (mean / (1.0 - mean)).ln()).abs() < 1e-9);
    let probabilities = fit.predict_proba(x).unwrap();
    assert!(probabilities.iter().all(|&q| (q - mean).abs() < 1e-9));
}

/// On the GPU (both kernel variants) a sparse design reaches the dense CPU fit's objective for
/// every family and penalty, computed by the sparse kernels (the fit says it ran there); `auto`
/// keeps a sparse design on the CPU.
#[test]
fn sparse_gpu_fits_equal_dense_cpu_fits_and_auto_keeps_them_on_the_cpu() {
    let m = random_sparse(240, 9, 0.35, 3);
    let y = m.response(Family::Logistic, 10);
    let fit = Glm::logistic().backend(scalemix::BackendChoice::Auto).fit(m.csr(), &y).unwrap();
    assert_eq!(fit.backend().kind, "cpu");
    let Some(contexts) = crate::gpu::contexts() else { return };
    for family in FAMILIES {
        let y = m.response(family, 4);
        for penalty in penalties() {
            let glm = Glm::new(family).penalty(penalty).tol(1e-13);
            let dense =
                glm.clone().backend(scalemix::BackendChoice::Cpu).fit(m.dense(), &y).unwrap();
            for context in contexts {
                let what = format!("{family:?} {penalty:?} on {}", context.describe());
                let gpu = glm
                    .clone()
                    .backend(scalemix::BackendChoice::Gpu)
                    .gpu_context(context.clone())
                    .fit(m.csc(), &y)
                    .unwrap();
                assert_eq!(gpu.backend().kind, "gpu", "{what}");
                assert!(gpu.converged(), "{what}: {:?}", gpu.termination());
                assert_same_optimum(&format!("{what} (GPU vs dense CPU)"), family, &dense, &gpu);
            }
        }
    }
}

/// Streamed fits over sparse blocks (a `MemorySource` over a CSR design hands out sparse rows)
/// reach the in-memory sparse fit's objective for every family and penalty, standardized or
/// not, with sample weights.
#[test]
fn streamed_sparse_blocks_fit_as_the_design_in_memory() {
    use scalemix::StreamOptions;
    use scalemix::source::{MemorySource, RowSource};
    let m = random_sparse(500, 12, 0.3, 12);
    let w: Vec<f64> = (0..m.n).map(|i| 0.5 + (i % 3) as f64 * 0.5).collect();
    let stream = StreamOptions { block_rows: 64, ..StreamOptions::default() };
    for family in FAMILIES {
        let y = m.response(family, 13);
        for penalty in penalties() {
            for standardize in [false, true] {
                let what = format!("{family:?} {penalty:?} standardize={standardize}");
                let glm = Glm::new(family)
                    .penalty(penalty)
                    .standardize(standardize)
                    .backend(scalemix::BackendChoice::Cpu)
                    .tol(1e-13);
                let memory = glm.fit_data(&Data::new(m.csr(), &y).weights(&w)).unwrap();
                let mut source = MemorySource::new(m.csr(), &y).unwrap().with_weights(&w).unwrap();
                assert!(source.sparse(), "a CSR design's blocks are sparse rows");
                let streamed =
                    glm.clone().stream_options(stream.clone()).fit_source(&mut source).unwrap();
                assert!(streamed.converged(), "{what}: {:?}", streamed.termination());
                let what = format!("{what} (streamed vs in memory)");
                assert_same_optimum(&what, family, &memory, &streamed);
            }
        }
    }
}

/// A streamed lasso path and cross-validation over sparse blocks equal the in-memory ones on
/// the same CSR design, point by point.
#[test]
fn streamed_sparse_paths_and_cv_equal_the_in_memory_ones() {
    use scalemix::StreamFolds;
    use scalemix::StreamOptions;
    use scalemix::source::MemorySource;
    let m = random_sparse(600, 10, 0.3, 21);
    let y = m.response(Family::Logistic, 22);
    let glm = Glm::logistic()
        .penalty(Penalty::elastic_net(1.0, 0.8))
        .standardize(true)
        .backend(scalemix::BackendChoice::Cpu);
    let options =
        PathOptions { n_lambda: 12, lambda_min_ratio: Some(1e-2), ..PathOptions::default() };
    let streaming =
        glm.clone().stream_options(StreamOptions { block_rows: 50, ..Default::default() });
    let memory = glm.path(m.csr(), &y, &options).unwrap();
    let mut source = MemorySource::new(m.csr(), &y).unwrap();
    let streamed = streaming.path_source(&mut source, &options).unwrap();
    assert!(relative(memory.lambda_max, streamed.lambda_max) <= 1e-12);
    assert_eq!(memory.points.len(), streamed.points.len());
    for (a, b) in memory.points.iter().zip(&streamed.points) {
        assert!(relative(a.objective, b.objective) <= 1e-10, "λ = {}", a.lambda);
        assert_eq!(a.nonzeros, b.nonzeros, "λ = {}", a.lambda);
    }
    let folds = StreamFolds { k: 4, seed: 11 };
    let assignment = folds.to_assignment(m.n).unwrap();
    let cv_options = CvOptions { path: options.clone(), ..Default::default() };
    let memory = glm.cv_with_folds(&Data::new(m.csr(), &y), &assignment, &cv_options).unwrap();
    let streamed = streaming.cv_source(&mut source, folds, None, &options).unwrap();
    for (a, b) in memory.mean.iter().zip(&streamed.mean) {
        assert!(relative(*a, *b) <= 1e-7, "CV mean {a} vs {b}");
    }
    assert!(relative(memory.lambda_min, streamed.lambda_min) <= 1e-12);
}

/// Sparse blocks cost their stored values, not rows × p: under a memory limit that three dense
/// blocks of 20 000 × 300 (144 MiB) exceed, the sparse source streams and the dense form of the
/// same matrix is refused before anything large is allocated.
#[test]
fn streamed_sparse_blocks_take_memory_for_their_stored_values_only() {
    use scalemix::StreamOptions;
    use scalemix::source::MemorySource;
    let m = random_sparse(20_000, 300, 0.01, 31);
    let y = m.response(Family::Logistic, 32);
    let glm = Glm::logistic()
        .penalty(Penalty::ridge(1e-3))
        .backend(scalemix::BackendChoice::Cpu)
        .max_memory(64 << 20)
        .stream_options(StreamOptions { block_rows: 20_000, ..Default::default() });
    let mut sparse = MemorySource::new(m.csr(), &y).unwrap();
    let fit = glm.fit_source(&mut sparse).unwrap();
    assert!(fit.converged(), "{:?}", fit.termination());
    let memory = Glm::logistic().penalty(Penalty::ridge(1e-3)).fit(m.csr(), &y).unwrap();
    assert!(relative(memory.objective(), fit.objective()) <= 1e-12);
    let mut dense = MemorySource::new(m.dense(), &y).unwrap();
    let refused = glm.fit_source(&mut dense).unwrap_err();
    assert!(matches!(refused, Error::OutOfMemory { .. }), "{refused}");
}

/// On the GPU (lavapipe) the streamed sparse blocks' kernels give the CPU's fit, whether the
/// blocks stay on the device or go up again at each pass; `auto` streams them on the CPU.
#[test]
fn streamed_sparse_blocks_on_the_gpu_equal_the_cpu() {
    use scalemix::StreamOptions;
    use scalemix::source::MemorySource;
    let m = random_sparse(400, 9, 0.35, 41);
    let y = m.response(Family::Logistic, 42);
    let stream = StreamOptions { block_rows: 64, ..StreamOptions::default() };
    let glm = Glm::logistic().penalty(Penalty::elastic_net(0.02, 0.5)).tol(1e-13);
    let mut source = MemorySource::new(m.csr(), &y).unwrap();
    let auto = glm
        .clone()
        .backend(scalemix::BackendChoice::Auto)
        .stream_options(stream.clone())
        .fit_source(&mut source)
        .unwrap();
    assert_eq!(auto.backend().kind, "cpu");
    let Some(contexts) = crate::gpu::contexts() else { return };
    for context in contexts {
        for resident in [2 << 30, 0] {
            let what = format!("{} with {resident} resident bytes", context.describe());
            let options = StreamOptions { gpu_resident_bytes: resident, ..stream.clone() };
            let gpu = glm
                .clone()
                .backend(scalemix::BackendChoice::Gpu)
                .gpu_context(context.clone())
                .stream_options(options)
                .fit_source(&mut source)
                .unwrap();
            assert_eq!(gpu.backend().kind, "gpu", "{what}");
            assert!(gpu.converged(), "{what}: {:?}", gpu.termination());
            assert!(relative(auto.objective(), gpu.objective()) <= 1e-12, "{what}");
        }
    }
}

/// A text-sized sparse design at full size: 20 000 × 50 000, about 45 stored values a row with
/// Zipf-like column popularity (the benchmark's shape). Logistic ridge and lasso fits at
/// scikit-learn's C = 1 (λ = 1/n) run under a memory limit that neither the dense matrix (8 GB)
/// nor one 50 001 × 50 001 matrix would fit, and meet their KKT conditions computed here from
/// the CSR arrays.
#[test]
fn a_20000_by_50000_text_like_design_fits_ridge_and_lasso_to_their_kkt_conditions() {
    let (n, p) = (20_000, 50_000);
    let mut rng = StdRng::seed_from_u64(45);
    // Column j drawn with probability ∝ 1/(j + 10): inverse CDF by binary search.
    let cumulative: Vec<f64> = (0..p)
        .scan(0.0, |total, j| {
            *total += 1.0 / (j as f64 + 10.0);
            Some(*total)
        })
        .collect();
    let total = cumulative[p - 1];
    let (mut indptr, mut indices, mut values, mut y) = (vec![0usize], vec![], vec![], vec![]);
    for _ in 0..n {
        let mut row: Vec<usize> = (0..45)
            .map(|_| cumulative.partition_point(|&c| c < rng.random::<f64>() * total).min(p - 1))
            .collect();
        row.sort_unstable();
        row.dedup();
        let score: f64 = row.iter().map(|&j| if j % 5 == 0 { 0.5 } else { -0.08 }).sum();
        for j in row {
            indices.push(j);
            values.push((2.0 + rng.random::<f64>()).ln());
        }
        indptr.push(values.len());
        y.push(f64::from(u8::from(rng.random::<f64>() < 1.0 / (1.0 + (-score).exp()))));
    }
    let x = CsrMatrix::new(n, p, indptr.clone(), indices.clone(), values.clone()).unwrap();
    let lambda = 1.0 / n as f64;
    for (name, penalty, tolerance) in
        [("ridge", Penalty::ridge(lambda), 1e-8), ("lasso", Penalty::lasso(lambda), 1e-9)]
    {
        let fit = Glm::logistic().penalty(penalty).max_memory(256 << 20).fit(&x, &y).unwrap();
        assert_eq!(fit.termination(), scalemix::Termination::Converged, "{name}");
        let (beta, b0) = (fit.coefficients(), fit.intercept());
        let arrays = (indptr.as_slice(), indices.as_slice(), values.as_slice());
        let (g, g0) = logistic_gradient_csr(arrays, &y, beta, b0);
        let (ridge, lasso) = if name == "ridge" { (lambda, 0.0) } else { (0.0, lambda) };
        let violation = kkt_violation((&g, g0), beta, ridge, lasso);
        assert!(violation <= tolerance, "{name}: KKT violation {violation:e}");
        if name == "lasso" {
            let nonzeros = beta.iter().filter(|b| **b != 0.0).count();
            assert!(nonzeros > 100 && nonzeros < p / 2, "{name}: {nonzeros} nonzeros");
        }
    }
}

//! K-class models: multinomial logistic regression by per-class Pólya–Gamma updates, and
//! one-vs-rest linear SVMs.
//!
//! **Multinomial.** With linear predictors ηᵢₖ = xᵢᵀβₖ + bₖ and the first class (in sorted label
//! order) as the reference (β = 0, b = 0), the loss is log Σₖ e^ηᵢₖ − ηᵢ,yᵢ. Holding the other
//! classes fixed, class k's part is a logistic loss in ηᵢₖ − cᵢₖ with cᵢₖ = log Σ_{l≠k} e^ηᵢₗ
//! (Holmes & Held, 2006), so one SM-EM step for βₖ is the binary step with that offset and
//! labels 1[yᵢ = k]; its gradient is exactly the multinomial one, Xᵀ(w ⊙ (pₖ − yₖ))/W. A sweep
//! takes a few such steps for each class in turn (block-coordinate MM, so F never increases);
//! sweeps repeat until F stalls and the joint KKT violation, computed in f64 from the
//! definitions, is below the tolerance. With two classes this is exactly logistic regression.
//! [`crate::Glm::symmetric_multinomial`] fits scikit-learn's and glmnet's parameterization
//! instead: no reference class, every class's coefficients penalized and stepped in turn.
//!
//! **One-vs-rest hinge.** K binary SVMs, class k against the rest; predictions take the class
//! with the largest decision value.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use nalgebra::DMatrix;

use crate::backend::{Backend, BackendInfo};
use crate::check::Entry;
use crate::data::{Data, Design, Problem, Response, ScaledCopy};
use crate::driver::{Model, RowFacts};
use crate::error::{Error, Result};
use crate::family::{Family, log1p_exp};
use crate::glm::Glm;
use crate::penalty::PenaltyTerms;
use crate::predict::{MulticlassModel, log_sum_exp};
use crate::solver::columns::ColumnDescent;
use crate::solver::conjugate::{Dual, MatrixFree};
use crate::solver::{Run, SolverOptions, Termination};

/// SM-EM iterations per class per sweep: enough for the class to catch up with the others'
/// last move, few enough that no class runs far ahead of them.
const STEPS_PER_CLASS: usize = 3;
/// Newton steps per class per sweep where the classes step without the d × d system: each
/// costs several passes over X, and one a class (glmnet's scheme) gave the fewest passes in all
/// (a 3-class ridge of 200 × 20 000 by conjugate gradients: 12 sweeps in 1.4 s at one step, 10
/// in 2.3 s at three; through the dual 1.8 s and 2.3 s).
const WIDE_STEPS_PER_CLASS: usize = 1;

/// A fitted K-class model.
#[derive(Debug, Clone)]
pub struct MulticlassFit {
    /// Family, classes, the p × K coefficients (all zeros for the multinomial reference class)
    /// and the intercepts: what predictions need.
    model: MulticlassModel,
    objective: f64,
    iterations: usize,
    termination: Termination,
    kkt_violation: f64,
    trace: Vec<f64>,
    elapsed: Duration,
    backend: BackendInfo,
}

impl MulticlassFit {
    /// The class labels in sorted order; column k of the coefficients belongs to `classes()[k]`.
    pub fn classes(&self) -> &[f64] {
        self.model.classes()
    }

    /// The coefficients, p × K (the multinomial reference class, the first, is all zeros).
    pub fn coefficients(&self) -> &DMatrix<f64> {
        self.model.coefficients()
    }

    /// One intercept per class.
    pub fn intercepts(&self) -> &[f64] {
        self.model.intercepts()
    }

    /// Multinomial: the penalized mean negative log-likelihood. One-vs-rest: the sum of the K
    /// binary objectives.
    pub fn objective(&self) -> f64 {
        self.objective
    }

    /// Multinomial: sweeps over the classes. One-vs-rest: iterations over all K fits.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Why the fit stopped (the worst of the K fits for one-vs-rest).
    pub fn termination(&self) -> Termination {
        self.termination
    }

    /// Whether the fit converged.
    pub fn converged(&self) -> bool {
        self.termination == Termination::Converged
    }

    /// The largest KKT violation over classes and coordinates, in f64 from the definitions.
    pub fn kkt_violation(&self) -> f64 {
        self.kkt_violation
    }

    /// The objective after each sweep (multinomial) or the final objective per class (one-vs-rest).
    pub fn objective_trace(&self) -> &[f64] {
        &self.trace
    }

    /// Wall time of the fit.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The backend and device that ran.
    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// The family: logistic (multinomial) or hinge (one-vs-rest).
    pub fn family(&self) -> Family {
        self.model.family()
    }

    /// The fitted parameters as a [`MulticlassModel`] (to keep or save without the fit's
    /// record).
    pub fn to_model(&self) -> MulticlassModel {
        self.model.clone()
    }

    /// The K linear predictors of each row, n × K.
    ///
    /// # Errors
    /// [`Error::FeatureMismatch`] when `x` has the wrong number of columns, or a non-finite
    /// entry.
    pub fn decision_function<'a>(&self, x: impl Into<Design<'a>>) -> Result<DMatrix<f64>> {
        self.model.decision_function(x)
    }

    /// Class probabilities, n × K (softmax of the linear predictors); multinomial only.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for one-vs-rest SVMs, else as [`MulticlassFit::decision_function`].
    pub fn predict_proba<'a>(&self, x: impl Into<Design<'a>>) -> Result<DMatrix<f64>> {
        self.model.predict_proba(x)
    }

    /// The most likely class label of each row (largest linear predictor).
    ///
    /// # Errors
    /// As [`MulticlassFit::decision_function`].
    pub fn predict<'a>(&self, x: impl Into<Design<'a>>) -> Result<Vec<f64>> {
        self.model.predict(x)
    }
}

/// The sorted distinct labels and each row's class index.
fn classes_of(y: &[f64]) -> Result<(Vec<f64>, Vec<usize>)> {
    if let Some(index) = y.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFiniteValue { input: crate::Input::Target, index, value: y[index] });
    }
    // −0.0 and 0.0 are one label: adding 0.0 turns −0.0 into 0.0 and changes nothing else, so
    // the sort, the dedup and the lookup below all see one value.
    let label = |v: f64| v + 0.0;
    let mut classes: Vec<f64> = y.iter().map(|&v| label(v)).collect();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    if classes.len() < 2 {
        return Err(Error::TooFewClasses { found: classes.len() });
    }
    let index = y
        .iter()
        .enumerate()
        .map(|(row, &v)| {
            classes.binary_search_by(|c| c.total_cmp(&label(v))).map_err(|_| Error::InvalidLabel {
                row,
                value: v,
                family: "multiclass",
                expected: "one of the labels found in y",
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    Ok((classes, index))
}

impl Glm {
    /// Fits a K-class model to labels with any K ≥ 2 distinct values: multinomial logistic
    /// regression for [`Glm::logistic`], one-vs-rest linear SVMs for [`Glm::hinge`].
    ///
    /// Penalty, penalty factors, intercept, solver settings and backend apply to every class;
    /// `max_iter` bounds the multinomial sweeps. The multinomial uses the first class as the
    /// reference, so with two classes it is exactly [`Glm::fit`] of the second class against the
    /// first.
    ///
    /// # Errors
    /// [`Error::TooFewClasses`], [`Error::Unsupported`] for other families, or any error of
    /// [`Glm::fit`].
    pub fn fit_multiclass<'a, X>(&self, x: X, y: &'a [f64]) -> Result<MulticlassFit>
    where
        X: Into<Design<'a>>,
    {
        self.fit_multiclass_data(&Data::new(x, y))
    }

    /// [`Glm::fit_multiclass`] on `data`: class labels with optional sample weights.
    ///
    /// # Errors
    /// As [`Glm::fit_multiclass`], plus weight errors; [`Error::Unsupported`] for binomial
    /// counts.
    pub fn fit_multiclass_data(&self, data: &Data<'_>) -> Result<MulticlassFit> {
        data.on_rows(|data| self.fit_multiclass_rows(data))
    }

    /// [`Glm::fit_multiclass_data`] on a design fits read by rows (dense or CSR).
    fn fit_multiclass_rows(&self, data: &Data<'_>) -> Result<MulticlassFit> {
        let Response::Values(y) = &data.response else {
            return Err(Error::Unsupported {
                operation: "fit_multiclass",
                family: self.family().name(),
                reason: "K-class fits take class labels, not successes out of trials",
            });
        };
        let (x, weights) = (data.x, data.weights);
        let start = Instant::now();
        let (classes, class_of) = classes_of(y)?;
        match self.family() {
            Family::Logistic => {
                // The checked base problem (labels of class 1 as placeholders; each class step
                // sets its own).
                let labels = indicator(&class_of, 1);
                let data = Data { response: Response::Values(Cow::Owned(labels)), ..data.clone() };
                let (model, base) = self.check(Entry::Multiclass, &data)?;
                model.multinomial(&base, classes, &class_of, start)
            }
            Family::Hinge => {
                // Every setting checked once up front (each class's fit checks its own labels).
                let labels = indicator(&class_of, 1);
                let data = Data { response: Response::Values(Cow::Owned(labels)), ..data.clone() };
                self.check(Entry::Multiclass, &data)?;
                self.one_vs_rest(x, classes, &class_of, weights, start)
            }
            other => Err(Error::Unsupported {
                operation: "fit_multiclass",
                family: other.name(),
                reason: "K-class fits are multinomial logistic or one-vs-rest hinge",
            }),
        }
    }

    fn one_vs_rest(
        &self,
        x: Design<'_>,
        classes: Vec<f64>,
        class_of: &[usize],
        weights: Option<&[f64]>,
        start: Instant,
    ) -> Result<MulticlassFit> {
        let (p, k) = (x.ncols(), classes.len());
        let mut coefficients = DMatrix::zeros(p, k);
        let (mut intercepts, mut trace) = (vec![0.0; k], Vec::with_capacity(k));
        let (mut iterations, mut kkt, mut termination) = (0, 0.0_f64, Termination::Converged);
        let mut backend = None;
        for (c, intercept) in intercepts.iter_mut().enumerate() {
            let labels: Vec<f64> =
                class_of.iter().map(|&ci| if ci == c { 1.0 } else { -1.0 }).collect();
            let fit = self.fit_data(&Data::new(x, &labels).maybe_weights(weights))?;
            coefficients.set_column(c, &nalgebra::DVector::from_column_slice(fit.coefficients()));
            *intercept = fit.intercept();
            trace.push(fit.objective());
            iterations += fit.iterations();
            kkt = kkt.max(fit.kkt_violation());
            if fit.termination() != Termination::Converged {
                termination = fit.termination();
            }
            backend = Some(fit.backend().clone());
        }
        Ok(MulticlassFit {
            model: MulticlassModel::from_fit(Family::Hinge, classes, coefficients, intercepts),
            objective: trace.iter().sum(),
            iterations,
            termination,
            kkt_violation: kkt,
            trace,
            elapsed: start.elapsed(),
            backend: backend.expect("at least two classes"),
        })
    }
}

/// 1 for the rows of class `c`, 0 for the others.
fn indicator(class_of: &[usize], c: usize) -> Vec<f64> {
    class_of.iter().map(|&ci| f64::from(u8::from(ci == c))).collect()
}

impl Model {
    /// The multinomial fit, on the preconditioned design where the model has one
    /// ([`Model::preconditioned`]), each class's coefficients mapped back and the objective and
    /// KKT violation recomputed in the user's coordinates (unless the model standardizes).
    fn multinomial(
        &self,
        base: &Problem<'_>,
        classes: Vec<f64>,
        class_of: &[usize],
        start: Instant,
    ) -> Result<MulticlassFit> {
        let Some(preconditioned) = self.preconditioned(base)? else {
            return self.multinomial_as_given(base, classes, class_of, start);
        };
        let (p, k) = (base.ncols(), classes.len());
        let internal = preconditioned.problem(base)?;
        let mut fit =
            preconditioned.model.multinomial_as_given(&internal, classes, class_of, start)?;
        let dim = p + usize::from(self.intercept());
        let theta: Vec<Vec<f64>> = (0..k)
            .map(|c| {
                let coefficients: Vec<f64> =
                    fit.model.coefficients().column(c).iter().copied().collect();
                preconditioned.pre.to_user(&self.theta_of(&coefficients, fit.model.intercepts()[c]))
            })
            .collect();
        let coefficients = DMatrix::from_fn(p, k, |j, c| theta[c][j]);
        let intercepts = (0..k).map(|c| if self.intercept() { theta[c][p] } else { 0.0 }).collect();
        if !self.standardizes() {
            let terms = self.terms(dim)?;
            let state = Multinomial {
                base,
                class_of,
                k,
                p,
                intercept: self.intercept(),
                first: self.first_free_class(),
            };
            let (eta, objective) = state.predictors_and_objective(&theta, &terms);
            fit.objective = objective;
            fit.kkt_violation = state.kkt(&theta, &eta, &terms).0;
        }
        let classes = fit.model.classes().to_vec();
        fit.model = MulticlassModel::from_fit(Family::Logistic, classes, coefficients, intercepts);
        Ok(fit)
    }

    /// The multinomial fit on the design as given.
    fn multinomial_as_given(
        &self,
        base: &Problem<'_>,
        classes: Vec<f64>,
        class_of: &[usize],
        start: Instant,
    ) -> Result<MulticlassFit> {
        let (p, k) = (base.ncols(), classes.len());
        let dim = p + usize::from(self.intercept());
        let terms = self.terms(dim)?;
        let without_gram = self.multinomial_without_gram(base);
        // A dense design's columns, contiguous, for coordinate descent on them (a CSR design's
        // are transposed by the solver; a column-major one is read in place).
        let column_copy = (without_gram.is_some()
            && terms.has_lasso()
            && !base.x.is_sparse()
            && base.x.column_major_values().is_none())
        .then(|| {
            self.with_full_matrices().check_memory_for(
                base.nrows(),
                0,
                8 * (base.nrows() * p) as u64,
            )?;
            Ok::<_, Error>(ScaledCopy::ColumnMajor(
                base.x.columns_copy_column_major(&(0..p).collect::<Vec<_>>()),
            ))
        })
        .transpose()?;
        let (mut backend, wide, info) = match without_gram {
            None => {
                let backend = self.open(base)?;
                let info = backend.info();
                (Some(backend), None, info)
            }
            Some(dual) => {
                let columns = match &column_copy {
                    Some(copy) => Some(copy.design(base.x, p)?),
                    None => None,
                };
                let step = if terms.has_lasso() {
                    "ℓ1 by coordinate descent on the columns"
                } else if dual {
                    "dual n × n M-step"
                } else {
                    "conjugate-gradient M-step"
                };
                let info =
                    BackendInfo { kind: "cpu", device: format!("cpu f64, matrix-free ({step})") };
                (None, Some(WideClasses { columns, dual, kept_dual: None }), info)
            }
        };
        let first = self.first_free_class();
        let mut class_weights = vec![0.0; k];
        for (i, &c) in class_of.iter().enumerate() {
            class_weights[c] += base.weights[i];
        }
        let theta = starting_point(&class_weights, first, p, self.intercept());
        let state = Multinomial { base, class_of, k, p, intercept: self.intercept(), first };
        let backend = backend.as_deref_mut();
        let mut rows = InMemory { eta: Vec::new(), state, backend, wide };
        let zero_threshold = RowFacts::of(base).zero_thresholds(self.options().zero_tol, dim);
        let sweeps = sweeps(&mut rows, &terms, self.options(), theta, first, &zero_threshold)?;
        Ok(sweeps.into_fit(classes, p, self.intercept(), start, info))
    }
}

/// θ per class from the class weights: zero coefficients, the intercepts at the log class
/// frequencies (centred in the symmetric parameterization; the reference class `first == 1`
/// stays at zero).
pub(crate) fn starting_point(
    class_weights: &[f64],
    first: usize,
    p: usize,
    intercept: bool,
) -> Vec<Vec<f64>> {
    let k = class_weights.len();
    let dim = p + usize::from(intercept);
    let mut theta = vec![vec![0.0; dim]; k];
    if intercept {
        let log_freq: Vec<f64> = class_weights.iter().map(|f| f.max(1e-10).ln()).collect();
        let centre = if first == 0 { log_freq.iter().sum::<f64>() / k as f64 } else { log_freq[0] };
        for c in first..k {
            theta[c][p] = log_freq[c] - centre;
        }
    }
    theta
}

/// What a multinomial fit's sweeps ask of the rows, held in memory or elsewhere.
pub(crate) trait ClassRows {
    /// The backend of class c's steps: binary logistic statistics of the labels 1[yᵢ = c],
    /// each row offset by −log Σ_{l≠c} e^ηᵢₗ with the other classes' η from `theta`.
    fn class_backend(&mut self, theta: &[Vec<f64>], c: usize) -> Result<&mut dyn Backend>;

    /// Class c's coefficients moved to `theta[c]`.
    fn class_moved(&mut self, theta: &[Vec<f64>], c: usize);

    /// Class c's step from `theta` at `run`'s penalty (at most `run`'s iterations of SM-EM on
    /// the class backend), moving `theta[c]`; returns the backend's rounding error of the class
    /// gradient.
    fn step_class(&mut self, run: &Run<'_>, theta: &mut [Vec<f64>], c: usize) -> Result<f64> {
        backend_step(self, run, theta, c)
    }

    /// Whether [`ClassRows::step_class`] solves ℓ₁ exactly from any start (coordinate descent),
    /// so that a lasso needs no ridge fit before it.
    fn exact_l1(&self) -> bool {
        false
    }

    /// F (the mean multinomial loss plus every class's penalty at `terms`), the joint KKT
    /// violation and ‖∇L‖∞ at `theta`, in f64 from the definitions.
    fn evaluate(&mut self, theta: &[Vec<f64>], terms: &PenaltyTerms) -> Result<(f64, f64, f64)>;
}

/// Class c's step on its backend: SM-EM iterations on the d × d system.
fn backend_step<R: ClassRows + ?Sized>(
    rows: &mut R,
    run: &Run<'_>,
    theta: &mut [Vec<f64>],
    c: usize,
) -> Result<f64> {
    let backend = rows.class_backend(theta, c)?;
    let solution = run.solve(backend, std::mem::take(&mut theta[c]))?;
    theta[c] = solution.theta;
    rows.class_moved(theta, c);
    Ok(solution.gradient_error)
}

/// The end of a multinomial fit's sweeps.
pub(crate) struct Sweeps {
    theta: Vec<Vec<f64>>,
    objective: f64,
    sweeps: usize,
    termination: Termination,
    kkt_violation: f64,
    trace: Vec<f64>,
}

impl Sweeps {
    /// The fit of `classes` these sweeps reached.
    pub(crate) fn into_fit(
        self,
        classes: Vec<f64>,
        p: usize,
        intercept: bool,
        start: Instant,
        backend: BackendInfo,
    ) -> MulticlassFit {
        let k = classes.len();
        let coefficients = DMatrix::from_fn(p, k, |j, c| self.theta[c][j]);
        let intercepts = (0..k).map(|c| if intercept { self.theta[c][p] } else { 0.0 }).collect();
        MulticlassFit {
            model: MulticlassModel::from_fit(Family::Logistic, classes, coefficients, intercepts),
            objective: self.objective,
            iterations: self.sweeps,
            termination: self.termination,
            kkt_violation: self.kkt_violation,
            trace: self.trace,
            elapsed: start.elapsed(),
            backend,
        }
    }
}

/// Block-coordinate sweeps from `theta` (classes `first..`): in each, a few SM-EM steps per
/// class in turn on its backend; until F stalls and the joint f64 KKT violation is below the
/// tolerance (or the rounding error of the class gradients, on a device). ℓ₁ (and bridge)
/// terms make zero absorbing: the ridge fit at the same λ comes first, as in `Glm::fit`.
pub(crate) fn sweeps(
    rows: &mut dyn ClassRows,
    terms: &PenaltyTerms,
    options: SolverOptions,
    mut theta: Vec<Vec<f64>>,
    first: usize,
    zero_threshold: &[f64],
) -> Result<Sweeps> {
    let k = theta.len();
    let (mut f, _, largest) = rows.evaluate(&theta, terms)?;
    let scale = largest.max(1.0);
    let mut schedule = Vec::new();
    if terms.has_lasso() && !rows.exact_l1() {
        schedule.push((terms.warm_start_ridge(), PenaltyTerms::warm_start_options(options)));
    }
    schedule.push((terms.clone(), options));

    let mut trace = vec![f];
    let (mut sweeps, mut termination, mut kkt) = (0, Termination::MaxIterations, f64::MAX);
    for (stage_terms, options) in &schedule {
        termination = Termination::MaxIterations;
        let run = Run::new(
            Family::Logistic,
            stage_terms,
            SolverOptions { max_iter: STEPS_PER_CLASS, ..*options },
            Some(scale),
            zero_threshold,
            None,
        );
        for _ in 0..options.max_iter {
            sweeps += 1;
            // The device's rounding error of the class gradients: the KKT floor, as in Glm::fit.
            let mut noise = 0.0_f64;
            for c in first..k {
                let error = rows.step_class(&run, &mut theta, c)?;
                noise = noise.max(error);
            }
            if first == 0 {
                centre_classes(&mut theta, stage_terms);
            }
            let (next_f, next_kkt, _) = rows.evaluate(&theta, stage_terms)?;
            let change = (f - next_f).abs() / next_f.abs().max(f64::MIN_POSITIVE);
            (f, kkt) = (next_f, next_kkt);
            trace.push(f);
            if change <= options.tol && kkt <= (options.kkt_tol * scale).max(noise) {
                termination = Termination::Converged;
                break;
            }
        }
    }
    Ok(Sweeps { theta, objective: f, sweeps, termination, kkt_violation: kkt, trace })
}

/// The symmetric parameterization's exact step along its flat direction: adding one vector v
/// to every class's coefficients leaves every softmax, so the loss, unchanged, and only moves
/// the penalty. Per feature, v minimizes Σ_c [lasso |β_c + v| + ridge/2 (β_c + v)²] (convex,
/// piecewise quadratic: its minimum is at a breakpoint −β_c or at the stationary point between
/// two). Block-coordinate steps, one class at a time, cannot move along that direction at all;
/// with a weak ridge they would creep along it for thousands of sweeps. F never increases.
fn centre_classes(theta: &mut [Vec<f64>], terms: &PenaltyTerms) {
    if terms.exponent != 1.0 {
        return;
    }
    let k = theta.len() as f64;
    let dim = theta[0].len();
    for j in 0..dim {
        let (lasso, ridge) = (terms.lasso[j], terms.ridge[j]);
        if lasso == 0.0 && ridge == 0.0 {
            continue;
        }
        let column: Vec<f64> = theta.iter().map(|t| t[j]).collect();
        let penalty = |v: f64| {
            column
                .iter()
                .map(|b| lasso * (b + v).abs() + 0.5 * ridge * (b + v) * (b + v))
                .sum::<f64>()
        };
        let mut breaks: Vec<f64> = column.iter().map(|b| -b).collect();
        breaks.sort_by(f64::total_cmp);
        let sum: f64 = column.iter().sum();
        let mut candidates = breaks.clone();
        if ridge > 0.0 {
            // Between breakpoints m and m + 1, m coefficients are positive after the shift:
            // lasso (2m − K) + ridge (Σβ + K v) = 0.
            for m in 0..=breaks.len() {
                let v = -(lasso * (2.0 * m as f64 - k) + ridge * sum) / (ridge * k);
                let low = if m == 0 { f64::NEG_INFINITY } else { breaks[m - 1] };
                let high = breaks.get(m).copied().unwrap_or(f64::INFINITY);
                candidates.push(v.clamp(low, high));
            }
        }
        let (mut best, mut best_value) = (0.0, penalty(0.0));
        for v in candidates {
            let value = penalty(v);
            if value < best_value {
                (best, best_value) = (v, value);
            }
        }
        if best != 0.0 {
            for t in theta.iter_mut() {
                t[j] += best;
            }
        }
    }
}

/// The rows in memory: η (n × K) kept up to date, and either one backend whose labels and
/// offsets change per class (one O(n) upload on a device) or, on a wide or sparse design, the
/// matrix-free class steps.
struct InMemory<'s, 'b, 'p> {
    eta: Vec<f64>,
    state: Multinomial<'s>,
    backend: Option<&'b mut (dyn Backend + 'p)>,
    wide: Option<WideClasses<'s>>,
}

/// Class steps without a d × d matrix ([`Model::multinomial_without_gram`]): a few Newton steps
/// of the class's binary logistic problem (its offsets the other classes' part of the
/// normalizer), by conjugate gradients or the n × n dual for a ridge, by coordinate descent on
/// the columns for an ℓ₁ or elastic-net penalty (docs/sm-em.md §9).
struct WideClasses<'s> {
    /// The design's columns for coordinate descent where the design itself is dense row-major.
    columns: Option<Design<'s>>,
    /// Whether ridge steps go through the n × n dual…
    dual: bool,
    /// …whose kernel XΛ⁻¹Xᵀ, the same for every class, is built once.
    kept_dual: Option<Dual>,
}

impl<'s> Multinomial<'s> {
    /// Class c's binary problem on `x` (the design, or a copy of it): labels 1[yᵢ = c], offsets
    /// from the other classes' η (`eta`).
    fn class_problem<'a>(&self, eta: &[f64], x: Design<'a>, c: usize) -> Result<Problem<'a>>
    where
        's: 'a,
    {
        let offset = self.offsets(eta, c);
        Problem { x, y: Cow::Owned(indicator(self.class_of, c)), ..self.base.clone() }
            .with_offset(Cow::Owned(offset))
    }
}

impl ClassRows for InMemory<'_, '_, '_> {
    fn class_backend(&mut self, _theta: &[Vec<f64>], c: usize) -> Result<&mut dyn Backend> {
        let problem = self.state.class_problem(&self.eta, self.state.base.x, c)?;
        let backend = self.backend.as_deref_mut().ok_or(Error::Numerical {
            iteration: 0,
            reason: "a multinomial fit without a backend asked for one".into(),
        })?;
        backend.set_rows(&problem)?;
        Ok(backend)
    }

    fn step_class(&mut self, run: &Run<'_>, theta: &mut [Vec<f64>], c: usize) -> Result<f64> {
        let Some(wide) = &mut self.wide else {
            return backend_step(self, run, theta, c);
        };
        let (terms, intercept) = (run.penalty, self.state.intercept);
        let unsupported = || Error::Unsupported {
            operation: "fit_multiclass",
            family: "logistic",
            reason: "its class steps need the d × d system",
        };
        let lasso = terms.has_lasso();
        let x = if lasso { wide.columns.unwrap_or(self.state.base.x) } else { self.state.base.x };
        let problem = self.state.class_problem(&self.eta, x, c)?;
        let options = SolverOptions { max_iter: WIDE_STEPS_PER_CLASS, ..run.options };
        let start = std::mem::take(&mut theta[c]);
        let solution = if lasso {
            ColumnDescent::new(&problem, intercept, terms, options)
                .ok_or_else(unsupported)?
                .solve(start)
        } else {
            let solver =
                MatrixFree::new(&problem, intercept, terms, options).ok_or_else(unsupported)?;
            let solver =
                if wide.dual { solver.with_dual_kept(&mut wide.kept_dual) } else { solver };
            solver.solve(start)
        };
        theta[c] = solution.theta;
        self.class_moved(theta, c);
        Ok(0.0)
    }

    fn exact_l1(&self) -> bool {
        self.wide.is_some()
    }

    fn class_moved(&mut self, theta: &[Vec<f64>], c: usize) {
        self.state.update_class(&mut self.eta, &theta[c], c);
    }

    fn evaluate(&mut self, theta: &[Vec<f64>], terms: &PenaltyTerms) -> Result<(f64, f64, f64)> {
        let (eta, f) = self.state.predictors_and_objective(theta, terms);
        self.eta = eta;
        let (kkt, largest) = self.state.kkt(theta, &self.eta, terms);
        Ok((f, kkt, largest))
    }
}

/// The fixed parts of a multinomial fit and its f64 evaluations from the definitions.
struct Multinomial<'p> {
    base: &'p Problem<'p>,
    class_of: &'p [usize],
    k: usize,
    p: usize,
    intercept: bool,
    /// The first class with coefficients of its own (0 symmetric, 1 with a reference class).
    first: usize,
}

impl Multinomial<'_> {
    /// Row i's linear predictor for class c.
    fn eta_of(&self, theta: &[f64], i: usize) -> f64 {
        let b0 = if self.intercept { theta[self.p] } else { 0.0 };
        b0 + self.base.x.row_dot(i, &theta[..self.p])
    }

    /// Recomputes class c's column of η (n × K, row-major) after its coefficients moved.
    fn update_class(&self, eta: &mut [f64], theta: &[f64], c: usize) {
        for i in 0..self.base.nrows() {
            eta[i * self.k + c] = self.eta_of(theta, i);
        }
    }

    /// η (row-major n × K, reference column 0) and F in f64.
    fn predictors_and_objective(
        &self,
        theta: &[Vec<f64>],
        terms: &PenaltyTerms,
    ) -> (Vec<f64>, f64) {
        let (n, k) = (self.base.nrows(), self.k);
        let mut eta = vec![0.0; n * k];
        for (c, t) in theta.iter().enumerate().skip(self.first) {
            self.update_class(&mut eta, t, c);
        }
        let loss: f64 = (0..n)
            .map(|i| {
                let row = &eta[i * k..(i + 1) * k];
                self.base.weights[i] * (log_sum_exp(row.iter().copied()) - row[self.class_of[i]])
            })
            .sum::<f64>()
            / self.base.weight_sum;
        let penalty: f64 = theta.iter().skip(self.first).map(|t| terms.value(t)).sum();
        (eta, loss + penalty)
    }

    /// −cᵢ with cᵢ = log Σ_{l≠c} e^ηᵢₗ, the other classes' part of row i's normalizer: class
    /// c's step is logistic in ηᵢ꜀ − cᵢ.
    fn offsets(&self, eta: &[f64], c: usize) -> Vec<f64> {
        (0..self.base.nrows())
            .map(|i| {
                let row = &eta[i * self.k..(i + 1) * self.k];
                let others = row.iter().enumerate().filter(|&(l, _)| l != c).map(|(_, &v)| v);
                -log_sum_exp(others)
            })
            .collect()
    }

    /// (KKT violation, ‖∇L‖∞) over every non-reference class, with ∇L for class c =
    /// Xᵀ(w ⊙ (p_c − 1[y = c]))/W computed in f64 with the stable softmax.
    fn kkt(&self, theta: &[Vec<f64>], eta: &[f64], terms: &PenaltyTerms) -> (f64, f64) {
        let (n, k, p) = (self.base.nrows(), self.k, self.p);
        let dim = theta[0].len();
        let (mut worst, mut largest) = (0.0_f64, 0.0_f64);
        for (c, t) in theta.iter().enumerate().skip(self.first) {
            let mut gradient = vec![0.0; dim];
            for i in 0..n {
                let row = &eta[i * k..(i + 1) * k];
                let others =
                    log_sum_exp(row.iter().enumerate().filter(|&(l, _)| l != c).map(|(_, &v)| v));
                // p_c = σ(η_c − c_i), computed as 1/(1 + e^{c_i − η_c}) without overflow.
                let prob = (-(log1p_exp(others - row[c]))).exp();
                let residual =
                    self.base.weights[i] * (prob - f64::from(u8::from(self.class_of[i] == c)));
                self.base.x.for_row(i, |j, v| gradient[j] += residual * v);
                if self.intercept {
                    gradient[p] += residual;
                }
            }
            for g in &mut gradient {
                *g /= self.base.weight_sum;
                largest = largest.max(g.abs());
            }
            worst = worst.max(terms.kkt_violation(t, &gradient));
        }
        (worst, largest)
    }
}

//! `scalemix._core`: the Rust core seen from Python. The estimators of the `scalemix` package
//! (`python/scalemix/`) call these functions; they are not meant to be called directly.
//!
//! X arrives as a float64 NumPy array in C or Fortran order and is read in place (the Python
//! layer converts anything else once); the fit runs with the GIL released; every error of the
//! core becomes a `ValueError` (bad input, with its row and column) or a `RuntimeError` (a
//! device failure), never a crash of the interpreter.

use numpy::{
    IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use scalemix::backend::{BackendInfo, Needs, Stats};
use scalemix::{
    BackendChoice, CvOptions, Design, Error, ExternalClasses, ExternalRows, Family, Folds, Glm,
    Metric, MulticlassFit, PathOptions, Penalty, Problem, RowSummary,
};

/// The core's error as a Python exception.
fn to_py(e: Error) -> PyErr {
    match e {
        Error::Backend { .. } => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// X read in place: row-major for a C-ordered array, column-major for a Fortran-ordered one.
fn design<'a>(x: &'a PyReadonlyArray2<'_, f64>) -> PyResult<Design<'a>> {
    let (n, p) = (x.shape()[0], x.shape()[1]);
    let c_order = x.is_c_contiguous();
    let data = x.as_slice().map_err(|_| {
        PyValueError::new_err("X must be a contiguous float64 array (C or Fortran order)")
    })?;
    if c_order { Design::row_major(data, n, p) } else { Design::column_major(data, n, p) }
        .map_err(to_py)
}

/// The model the keyword arguments describe.
#[allow(clippy::too_many_arguments)]
fn model(
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    max_iter: usize,
    tol: f64,
    backend: &str,
    standardize: bool,
) -> PyResult<Glm> {
    // The core's table of names (`student_t` and `student-t` alike).
    let glm = match family.parse::<Family>().map_err(to_py)? {
        Family::StudentT { .. } => Glm::student_t(nu, sigma),
        family => Glm::new(family.with_parameters(Some(quantile), None, None)),
    };
    let backend: BackendChoice = backend.parse().map_err(to_py)?;
    Ok(glm
        .penalty(Penalty::elastic_net(lam, alpha))
        .fit_intercept(fit_intercept)
        .max_iter(max_iter)
        .tol(tol)
        .standardize(standardize)
        .backend(backend))
}

/// One fit: a dict with coef, intercept, objective, n_iter, kkt_violation, termination and
/// backend.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight=None, *, family="logistic", lam=0.0, alpha=0.0,
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, max_iter=1000, tol=1e-12,
    backend="auto", standardize=false))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    max_iter: usize,
    tol: f64,
    backend: &str,
    standardize: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let glm = model(
        family,
        lam,
        alpha,
        fit_intercept,
        quantile,
        nu,
        sigma,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let x = design(&x)?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let fit = py
        .detach(|| match w {
            Some(w) => glm.fit_weighted(x, y, w),
            None => glm.fit(x, y),
        })
        .map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("coef", fit.coefficients().to_vec().into_pyarray(py))?;
    out.set_item("intercept", fit.intercept())?;
    out.set_item("objective", fit.objective())?;
    out.set_item("n_iter", fit.iterations())?;
    out.set_item("kkt_violation", fit.kkt_violation())?;
    out.set_item("termination", format!("{:?}", fit.termination()))?;
    out.set_item("backend", fit.backend().to_string())?;
    // The core's own wall time (checks, fit, report), for measuring the Python layer's cost.
    out.set_item("elapsed", fit.elapsed().as_secs_f64())?;
    Ok(out)
}

/// A K-class fit (multinomial logistic — symmetric, every class penalized, unless `symmetric`
/// is false — or one-vs-rest hinge): classes, coef (K × p), intercepts and the record.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight=None, *, family="logistic", lam=0.0, alpha=0.0,
    fit_intercept=true, max_iter=1000, tol=1e-12, backend="auto", symmetric=true))]
#[allow(clippy::too_many_arguments)]
fn fit_multiclass<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    max_iter: usize,
    tol: f64,
    backend: &str,
    symmetric: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let glm =
        model(family, lam, alpha, fit_intercept, 0.5, 4.0, None, max_iter, tol, backend, false)?
            .symmetric_multinomial(symmetric);
    let x = design(&x)?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let fit = py.detach(|| glm.fit_multiclass_weighted(x, y, w)).map_err(to_py)?;
    let out = multiclass_dict(py, &fit)?;
    out.set_item("classes", fit.classes().to_vec().into_pyarray(py))?;
    Ok(out)
}

/// A K-class fit's coef (K × p), intercepts and record.
fn multiclass_dict<'py>(py: Python<'py>, fit: &MulticlassFit) -> PyResult<Bound<'py, PyDict>> {
    let coefficients = fit.coefficients();
    let (p, k) = (coefficients.nrows(), coefficients.ncols());
    let rows: Vec<f64> = (0..k).flat_map(|c| (0..p).map(move |j| coefficients[(j, c)])).collect();
    let out = PyDict::new(py);
    out.set_item("coef", rows.into_pyarray(py).reshape([k, p])?)?;
    out.set_item("intercept", fit.intercepts().to_vec().into_pyarray(py))?;
    out.set_item("objective", fit.objective())?;
    out.set_item("n_iter", fit.iterations())?;
    out.set_item("kkt_violation", fit.kkt_violation())?;
    out.set_item("termination", format!("{:?}", fit.termination()))?;
    out.set_item("backend", fit.backend().to_string())?;
    Ok(out)
}

/// The path options from the keyword arguments.
fn path_options(
    n_lambda: usize,
    lambda_min_ratio: Option<f64>,
    lambdas: Option<Vec<f64>>,
) -> PathOptions {
    PathOptions { n_lambda, lambda_min_ratio, lambdas, ..PathOptions::default() }
}

/// A regularization path: lambdas, coef (n_λ × p), intercept, objective, lambda_max.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight=None, *, family="logistic", alpha=1.0,
    fit_intercept=true, quantile=0.5, n_lambda=40, lambda_min_ratio=None, lambdas=None,
    max_iter=1000, tol=1e-12, backend="auto", standardize=false))]
#[allow(clippy::too_many_arguments)]
fn path<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    n_lambda: usize,
    lambda_min_ratio: Option<f64>,
    lambdas: Option<Vec<f64>>,
    max_iter: usize,
    tol: f64,
    backend: &str,
    standardize: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let glm = model(
        family,
        0.0,
        alpha,
        fit_intercept,
        quantile,
        4.0,
        None,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let x = design(&x)?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let options = path_options(n_lambda, lambda_min_ratio, lambdas);
    let path = py.detach(|| glm.path_weighted(x, y, w, &options)).map_err(to_py)?;
    path_dict(py, &path)
}

fn path_dict<'py>(py: Python<'py>, path: &scalemix::Path) -> PyResult<Bound<'py, PyDict>> {
    let k = path.points.len();
    let p = path.points.first().map_or(0, |pt| pt.coefficients.len());
    let coef: Vec<f64> =
        path.points.iter().flat_map(|pt| pt.coefficients.iter().copied()).collect();
    let out = PyDict::new(py);
    out.set_item("lambdas", path.lambdas().into_pyarray(py))?;
    out.set_item("coef", coef.into_pyarray(py).reshape([k, p])?)?;
    let intercepts: Vec<f64> = path.points.iter().map(|pt| pt.intercept).collect();
    out.set_item("intercept", intercepts.into_pyarray(py))?;
    let objectives: Vec<f64> = path.points.iter().map(|pt| pt.objective).collect();
    out.set_item("objective", objectives.into_pyarray(py))?;
    out.set_item("lambda_max", path.lambda_max)?;
    Ok(out)
}

/// k-fold cross-validation: the path's arrays plus mean, standard_error, lambda_min, lambda_1se.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight=None, *, family="logistic", alpha=1.0,
    fit_intercept=true, quantile=0.5, n_lambda=40, lambda_min_ratio=None, folds=5, seed=0,
    metric=None, max_iter=1000, tol=1e-12, backend="auto", standardize=false))]
#[allow(clippy::too_many_arguments)]
fn cv<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    n_lambda: usize,
    lambda_min_ratio: Option<f64>,
    folds: usize,
    seed: u64,
    metric: Option<&str>,
    max_iter: usize,
    tol: f64,
    backend: &str,
    standardize: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let glm = model(
        family,
        0.0,
        alpha,
        fit_intercept,
        quantile,
        4.0,
        None,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let metric = metric.map(str::parse::<Metric>).transpose().map_err(to_py)?;
    let x = design(&x)?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let options =
        CvOptions { folds, seed, metric, path: path_options(n_lambda, lambda_min_ratio, None) };
    let result = py
        .detach(|| {
            let assignment = Folds::new(x.nrows(), folds, seed)?;
            glm.cv_with_folds(x, y, w, &assignment, &options)
        })
        .map_err(to_py)?;
    let out = path_dict(py, &result.path)?;
    out.set_item("mean", result.mean.clone().into_pyarray(py))?;
    out.set_item("standard_error", result.standard_error.clone().into_pyarray(py))?;
    out.set_item("lambda_min", result.lambda_min)?;
    out.set_item("lambda_1se", result.lambda_1se)?;
    Ok(out)
}

/// The family a distributed fit's chunks compute, from its name and parameters.
fn chunk_family(family: &str, quantile: f64, nu: f64, sigma: Option<f64>) -> PyResult<Family> {
    Ok(match family.parse::<Family>().map_err(to_py)? {
        Family::Binomial => {
            return Err(PyValueError::new_err(format!(
                "distributed fits take the logistic, gaussian, hinge, quantile and student_t \
                 families; got {family:?}"
            )));
        }
        Family::StudentT { .. } => Family::StudentT {
            nu,
            sigma: sigma.ok_or_else(|| {
                PyValueError::new_err("distributed student_t fits need sigma (it is not estimated)")
            })?,
        },
        other => other.with_parameters(Some(quantile), None, None),
    })
}

/// The statistics of one chunk of rows at `theta`, as sums (not means), so chunks add up and
/// the client divides by W: a tuple of the chunk's Σ wᵢ; Σ wᵢ ℓᵢ (the loss as fitted, or by its
/// definition for `needs="loss"`); the gradient's Σ (None for "loss"); the Gram's Σ for "gram"
/// (EM weights) and "hessian" (ℓ''), else None (`offset`: a per-row offset in η); the squares of the rounding-error bounds
/// (per coordinate, then the loss's), which add over chunks; and the device that computed
/// them. `backend` is "cpu", "gpu" (the worker's default GPU, an error without one) or "auto"
/// (its GPU where the chunk is large enough, as a single fit decides). Runs on a Dask worker;
/// nothing but these d × d results leaves it.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, theta, *, family="logistic", quantile=0.5,
    fit_intercept=true, needs="gradient", backend="cpu", nu=4.0, sigma=None, offset=None))]
#[allow(clippy::too_many_arguments)]
fn chunk_statistics<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: PyReadonlyArray1<'py, f64>,
    theta: PyReadonlyArray1<'py, f64>,
    family: &str,
    quantile: f64,
    fit_intercept: bool,
    needs: &str,
    backend: &str,
    nu: f64,
    sigma: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let family = chunk_family(family, quantile, nu, sigma)?;
    let needs = match needs {
        "loss" => None,
        "gradient" => Some(Needs::Gradient),
        "gram" => Some(Needs::GradientAndGram),
        "hessian" => Some(Needs::GradientAndHessian),
        other => return Err(PyValueError::new_err(format!("unknown needs {other:?}"))),
    };
    let choice: BackendChoice = backend.parse().map_err(to_py)?;
    let x = design(&x)?;
    let (y, w, theta) = (y.as_slice()?, sample_weight.as_slice()?, theta.as_slice()?);
    let dim = x.ncols() + usize::from(fit_intercept);
    if theta.len() != dim {
        return Err(PyValueError::new_err(format!(
            "theta has {} values for {dim} coordinates",
            theta.len()
        )));
    }
    let weight_sum: f64 = w.iter().sum();
    let mut stats = Stats::new(dim);
    let mut device = String::from("cpu");
    if weight_sum > 0.0 {
        let mut problem = Problem::new(x, y.into(), Some(w), family).map_err(to_py)?;
        if let Some(offset) = &offset {
            problem = problem.with_offset(offset.as_slice()?.into()).map_err(to_py)?;
        }
        py.detach(|| -> scalemix::Result<()> {
            let Some(needs) = needs else {
                stats.loss = problem.mean_loss(theta, fit_intercept)?;
                return Ok(());
            };
            let mut backend = scalemix::backend::open(choice, None, &problem, fit_intercept)?;
            let info = backend.info();
            if info.kind != "cpu" {
                device = info.device;
            }
            backend.evaluate(theta, needs, &mut stats)
        })
        .map_err(to_py)?;
        stats.loss *= weight_sum;
        stats.gradient *= weight_sum;
        stats.gram *= weight_sum;
    }
    let error_squares: Vec<f64> =
        stats.gradient_error.iter().map(|e| (e * weight_sum).powi(2)).collect();
    let loss_error_square = (stats.loss_error * weight_sum).powi(2);
    let gradient = needs.map(|_| stats.gradient.as_slice().to_vec().into_pyarray(py));
    let gram = match needs {
        Some(Needs::GradientAndGram | Needs::GradientAndHessian) => {
            let rows: Vec<f64> = stats.gram.transpose().as_slice().to_vec();
            Some(rows.into_pyarray(py).reshape([dim, dim])?)
        }
        _ => None,
    };
    let none = || py.None().into_bound(py);
    PyTuple::new(
        py,
        [
            weight_sum.into_pyobject(py)?.into_any(),
            stats.loss.into_pyobject(py)?.into_any(),
            gradient.map_or_else(none, |g| g.into_any()),
            gram.map_or_else(none, |g| g.into_any()),
            error_squares.into_pyarray(py).into_any(),
            loss_error_square.into_pyobject(py)?.into_any(),
            device.into_pyobject(py)?.into_any(),
        ],
    )
}

/// The statistics of every row, from a Python callable (a Dask map and tree reduction over the
/// workers' chunks): `evaluate(theta, needs, in_f64)` returns (mean loss, gradient or None,
/// Gram or None, gradient error bounds, loss error bound, the devices that computed them).
struct CallbackRows<'py> {
    evaluate: Bound<'py, PyAny>,
    dim: usize,
    /// The devices of the passes not asked for f64 so far.
    devices: Vec<String>,
    /// The callable's own exception, raised again once the fit has stopped.
    error: Option<PyErr>,
}

/// One pass's result, as the callables return it.
type Returned<'py> =
    (f64, Option<Vec<f64>>, Option<PyReadonlyArray2<'py, f64>>, Option<Vec<f64>>, f64, Vec<String>);

/// A pass's statistics (see [`CallbackRows`]) written into `out` where given; returns the mean
/// loss and the devices that computed them.
fn read_pass(
    returned: &Bound<'_, PyAny>,
    dim: usize,
    needs: &str,
    out: Option<&mut Stats>,
) -> PyResult<(f64, Vec<String>)> {
    let (loss, gradient, gram, gradient_error, loss_error, devices): Returned<'_> =
        returned.extract()?;
    if let Some(out) = out {
        let shape =
            |what: &str| PyValueError::new_err(format!("the {what} must have {dim} coordinates"));
        let gradient = gradient.filter(|g| g.len() == dim).ok_or_else(|| shape("gradient"))?;
        out.loss = loss;
        out.loss_error = loss_error;
        out.gradient.as_mut_slice().copy_from_slice(&gradient);
        match gradient_error {
            Some(e) if e.len() == dim => out.gradient_error.as_mut_slice().copy_from_slice(&e),
            _ => return Err(shape("gradient error")),
        }
        if needs != "gradient" {
            let gram = gram.ok_or_else(|| shape("Gram"))?;
            let gram = gram.as_array();
            if gram.shape() != [dim, dim] {
                return Err(shape("Gram"));
            }
            // Row-major from NumPy; S is symmetric, so the order does not matter.
            for (o, g) in out.gram.as_mut_slice().iter_mut().zip(gram.iter()) {
                *o = *g;
            }
        }
    }
    Ok((loss, devices))
}

/// The name a callable is given for what a pass computes.
fn needs_name(needs: Needs) -> &'static str {
    match needs {
        Needs::Gradient => "gradient",
        Needs::GradientAndGram => "gram",
        Needs::GradientAndHessian => "hessian",
    }
}

/// The devices of a distributed fit's passes, as its record names them.
fn devices_info(devices: &[String]) -> BackendInfo {
    let on_gpu = devices.iter().any(|d| d != "cpu");
    let names = if devices.is_empty() { "cpu".into() } else { devices.join(", ") };
    BackendInfo {
        kind: if on_gpu { "gpu" } else { "cpu" },
        device: format!("distributed: {names}"),
    }
}

/// Adds the devices of a pass to those seen so far.
fn note_devices(seen: &mut Vec<String>, devices: Vec<String>) {
    for d in devices {
        if !seen.contains(&d) {
            seen.push(d);
        }
    }
}

/// A Python exception kept while the core unwinds with its own error.
fn keep(error: &mut Option<PyErr>, e: PyErr) -> Error {
    let reason = e.to_string();
    *error = Some(e);
    Error::Backend { backend: "python callback".into(), reason }
}

impl CallbackRows<'_> {
    fn call(
        &mut self,
        theta: &[f64],
        needs: &str,
        in_f64: bool,
        out: Option<&mut Stats>,
    ) -> scalemix::Result<f64> {
        let py = self.evaluate.py();
        let result = self
            .evaluate
            .call1((theta.to_vec().into_pyarray(py), needs, in_f64))
            .and_then(|returned| read_pass(&returned, self.dim, needs, out));
        match result {
            Ok((loss, devices)) => {
                if !in_f64 {
                    note_devices(&mut self.devices, devices);
                }
                Ok(loss)
            }
            Err(e) => Err(keep(&mut self.error, e)),
        }
    }
}

impl ExternalRows for CallbackRows<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn evaluate(
        &mut self,
        theta: &[f64],
        needs: Needs,
        in_f64: bool,
        out: &mut Stats,
    ) -> scalemix::Result<()> {
        self.call(theta, needs_name(needs), in_f64, Some(out)).map(|_| ())
    }

    fn exact_loss(&mut self, theta: &[f64]) -> scalemix::Result<f64> {
        self.call(theta, "loss", true, None)
    }

    fn info(&self) -> BackendInfo {
        devices_info(&self.devices)
    }

    fn exact(&self) -> bool {
        self.devices.iter().all(|d| d == "cpu")
    }
}

/// A fit whose statistics come from `evaluate(theta, needs, in_f64)` (see [`CallbackRows`])
/// over rows `summary` describes (a dict of `RowSummary`'s fields); the solver runs here.
#[pyfunction]
#[pyo3(signature = (evaluate, summary, *, family="logistic", lam=0.0, alpha=0.0,
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, max_iter=1000, tol=1e-12))]
#[allow(clippy::too_many_arguments)]
fn fit_statistics<'py>(
    py: Python<'py>,
    evaluate: Bound<'py, PyAny>,
    summary: Bound<'py, PyDict>,
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    max_iter: usize,
    tol: f64,
) -> PyResult<Bound<'py, PyDict>> {
    chunk_family(family, quantile, nu, sigma)?;
    let glm =
        model(family, lam, alpha, fit_intercept, quantile, nu, sigma, max_iter, tol, "cpu", false)?;
    let summary = row_summary(&summary)?;
    let dim = summary.column_mean.len() + usize::from(fit_intercept);
    let mut rows = CallbackRows { evaluate, dim, devices: Vec::new(), error: None };
    let fit = match glm.fit_statistics(&mut rows, &summary) {
        Ok(fit) => fit,
        Err(e) => return Err(rows.error.take().unwrap_or_else(|| to_py(e))),
    };
    let out = PyDict::new(py);
    out.set_item("coef", fit.coefficients().to_vec().into_pyarray(py))?;
    out.set_item("intercept", fit.intercept())?;
    out.set_item("objective", fit.objective())?;
    out.set_item("n_iter", fit.iterations())?;
    out.set_item("kkt_violation", fit.kkt_violation())?;
    out.set_item("termination", format!("{:?}", fit.termination()))?;
    out.set_item("backend", fit.backend().to_string())?;
    out.set_item("elapsed", fit.elapsed().as_secs_f64())?;
    Ok(out)
}

/// The statistics of a multinomial fit's rows, from two Python callables (Dask maps and tree
/// reductions over the workers' chunks): `evaluate_class(theta, c, needs)` (θ: K × d) returns
/// class c's pass as [`CallbackRows`]' callable does; `multinomial(theta)` returns the mean
/// multinomial loss and the K × d gradients, in f64.
struct CallbackClasses<'py> {
    evaluate_class: Bound<'py, PyAny>,
    multinomial: Bound<'py, PyAny>,
    dim: usize,
    devices: Vec<String>,
    error: Option<PyErr>,
}

/// θ per class as a K × d NumPy array.
fn class_matrix<'py>(py: Python<'py>, theta: &[Vec<f64>]) -> PyResult<Bound<'py, PyAny>> {
    let (k, dim) = (theta.len(), theta.first().map_or(0, Vec::len));
    Ok(theta.concat().into_pyarray(py).reshape([k, dim])?.into_any())
}

impl ExternalClasses for CallbackClasses<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn evaluate_class(
        &mut self,
        theta: &[Vec<f64>],
        c: usize,
        needs: Needs,
        out: &mut Stats,
    ) -> scalemix::Result<()> {
        let py = self.evaluate_class.py();
        let name = needs_name(needs);
        let result = class_matrix(py, theta)
            .and_then(|t| self.evaluate_class.call1((t, c, name)))
            .and_then(|returned| read_pass(&returned, self.dim, name, Some(out)));
        match result {
            Ok((_, devices)) => {
                note_devices(&mut self.devices, devices);
                Ok(())
            }
            Err(e) => Err(keep(&mut self.error, e)),
        }
    }

    fn multinomial(
        &mut self,
        theta: &[Vec<f64>],
        gradients: &mut [Vec<f64>],
    ) -> scalemix::Result<f64> {
        let py = self.multinomial.py();
        let result = (|| -> PyResult<f64> {
            let returned = self.multinomial.call1((class_matrix(py, theta)?,))?;
            let (loss, matrix): (f64, PyReadonlyArray2<'_, f64>) = returned.extract()?;
            let matrix = matrix.as_array();
            if matrix.shape() != [gradients.len(), self.dim] {
                return Err(PyValueError::new_err(format!(
                    "the gradients must be {} × {}",
                    gradients.len(),
                    self.dim
                )));
            }
            for (g, row) in gradients.iter_mut().zip(matrix.rows()) {
                g.iter_mut().zip(row.iter()).for_each(|(a, b)| *a = *b);
            }
            Ok(loss)
        })();
        result.map_err(|e| keep(&mut self.error, e))
    }

    fn info(&self) -> BackendInfo {
        devices_info(&self.devices)
    }
}

/// The symmetric multinomial fit on rows held elsewhere (see [`CallbackClasses`]): labels coded
/// 0..K on the workers, `class_weights` each class's Σ wᵢ.
#[pyfunction]
#[pyo3(signature = (evaluate_class, multinomial, summary, class_weights, *, lam=0.0, alpha=0.0,
    fit_intercept=true, max_iter=1000, tol=1e-12))]
#[allow(clippy::too_many_arguments)]
fn fit_multinomial_statistics<'py>(
    py: Python<'py>,
    evaluate_class: Bound<'py, PyAny>,
    multinomial: Bound<'py, PyAny>,
    summary: Bound<'py, PyDict>,
    class_weights: Vec<f64>,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    max_iter: usize,
    tol: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let glm =
        model("logistic", lam, alpha, fit_intercept, 0.5, 4.0, None, max_iter, tol, "cpu", false)?
            .symmetric_multinomial(true);
    let summary = row_summary(&summary)?;
    let dim = summary.column_mean.len() + usize::from(fit_intercept);
    let mut rows =
        CallbackClasses { evaluate_class, multinomial, dim, devices: Vec::new(), error: None };
    let fit = match glm.fit_multinomial_statistics(&mut rows, &summary, &class_weights) {
        Ok(fit) => fit,
        Err(e) => return Err(rows.error.take().unwrap_or_else(|| to_py(e))),
    };
    multiclass_dict(py, &fit)
}

/// A `RowSummary` from the dict of its fields.
fn row_summary(summary: &Bound<'_, PyDict>) -> PyResult<RowSummary> {
    let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        summary.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("summary lacks {key}")))
    };
    Ok(RowSummary {
        rows: get("rows")?.extract()?,
        weight_sum: get("weight_sum")?.extract()?,
        min_positive_weight: get("min_positive_weight")?.extract()?,
        response_mean: get("response_mean")?.extract()?,
        response_m2: get("response_m2")?.extract()?,
        column_mean: get("column_mean")?.extract()?,
        column_m2: get("column_m2")?.extract()?,
    })
}

/// The family's names, for the Python layer's checks.
#[pyfunction]
fn families() -> Vec<String> {
    // Python spells Student-t with an underscore (the core reads both).
    Family::NAMES.iter().map(|name| name.replace('-', "_")).collect()
}

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit, m)?)?;
    m.add_function(wrap_pyfunction!(fit_multiclass, m)?)?;
    m.add_function(wrap_pyfunction!(path, m)?)?;
    m.add_function(wrap_pyfunction!(cv, m)?)?;
    m.add_function(wrap_pyfunction!(families, m)?)?;
    m.add_function(wrap_pyfunction!(chunk_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(fit_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(fit_multinomial_statistics, m)?)?;
    Ok(())
}

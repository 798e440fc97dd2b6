//! `scalemix._core`: the Rust core seen from Python. The estimators of the `scalemix` package
//! (`python/scalemix/`) call these functions; they are not meant to be called directly.
//!
//! X arrives as a float64 NumPy array in C or Fortran order and is read in place (the Python
//! layer converts anything else once); the fit runs with the GIL released; every error of the
//! core becomes a `ValueError` (bad input, with its row and column) or a `RuntimeError` (a
//! device failure), never a crash of the interpreter.
//!
//! This file holds the in-memory fits; `distributed.rs` the Dask side (a chunk's statistics on
//! a worker, and fits whose passes a Python callable computes).

mod distributed;

use numpy::{
    IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use scalemix::{
    BackendChoice, CvOptions, Data, Design, Error, Family, Fit, Folds, Glm, Indices, Inference,
    Metric, MulticlassFit, PathOptions, Penalty,
};

/// The core's error as a Python exception.
pub(crate) fn to_py(e: Error) -> PyErr {
    match e {
        Error::Backend { .. } => PyRuntimeError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// X as the Python layer hands it over: a float64 NumPy array in C or Fortran order, or a
/// sparse matrix's arrays as the tuple `("csr" | "csc", data, indices, indptr, (n, p))` with
/// int32 or int64 indices. Every array is borrowed, and read in place through [`XArrays::design`].
pub(crate) enum XArrays<'py> {
    Dense(PyReadonlyArray2<'py, f64>),
    Sparse {
        csc: bool,
        shape: (usize, usize),
        values: PyReadonlyArray1<'py, f64>,
        indices: IndexArray<'py>,
        indptr: IndexArray<'py>,
    },
}

/// The tuple the Python layer passes for a sparse X: format, data, indices, indptr, shape.
type SparseParts<'py> =
    (String, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, (usize, usize));

/// A sparse matrix's index array, in scipy's two index types.
pub(crate) enum IndexArray<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

impl<'py> IndexArray<'py> {
    fn new(array: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        if let Ok(a) = array.extract::<PyReadonlyArray1<'py, i32>>() {
            return Ok(Self::I32(a));
        }
        array.extract::<PyReadonlyArray1<'py, i64>>().map(Self::I64).map_err(|_| {
            PyValueError::new_err(format!("sparse X: {name} must be a 1-D int32 or int64 array"))
        })
    }

    fn indices(&self) -> PyResult<Indices<'_>> {
        Ok(match self {
            Self::I32(a) => Indices::I32(a.as_slice()?),
            Self::I64(a) => Indices::I64(a.as_slice()?),
        })
    }
}

impl<'py> XArrays<'py> {
    pub(crate) fn new(x: &Bound<'py, PyAny>) -> PyResult<Self> {
        let Ok(parts) = x.cast::<PyTuple>() else {
            return Ok(Self::Dense(x.extract().map_err(|_| {
                PyValueError::new_err("X must be a 2-D float64 array or a scipy.sparse matrix")
            })?));
        };
        let (kind, values, indices, indptr, shape): SparseParts<'py> = parts.extract()?;
        let csc = match kind.as_str() {
            "csr" => false,
            "csc" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "sparse X: format {other:?} (csr or csc)"
                )));
            }
        };
        let values = values
            .extract()
            .map_err(|_| PyValueError::new_err("sparse X: data must be a 1-D float64 array"))?;
        Ok(Self::Sparse {
            csc,
            shape,
            values,
            indices: IndexArray::new(&indices, "indices")?,
            indptr: IndexArray::new(&indptr, "indptr")?,
        })
    }

    /// The design, read in place: row-major for a C-ordered array, column-major for a
    /// Fortran-ordered one, CSR or CSC with its structure checked.
    pub(crate) fn design(&self) -> PyResult<Design<'_>> {
        match self {
            Self::Dense(x) => {
                let (n, p) = (x.shape()[0], x.shape()[1]);
                let c_order = x.is_c_contiguous();
                let data = x.as_slice().map_err(|_| {
                    PyValueError::new_err(
                        "X must be a contiguous float64 array (C or Fortran order)",
                    )
                })?;
                if c_order {
                    Design::row_major(data, n, p)
                } else {
                    Design::column_major(data, n, p)
                }
                .map_err(to_py)
            }
            Self::Sparse { csc, shape: (n, p), values, indices, indptr } => {
                let (values, indices, indptr) =
                    (values.as_slice()?, indices.indices()?, indptr.indices()?);
                if *csc {
                    Design::csc(*n, *p, indptr, indices, values)
                } else {
                    Design::csr(*n, *p, indptr, indices, values)
                }
                .map_err(to_py)
            }
        }
    }
}

/// The model the keyword arguments describe.
#[allow(clippy::too_many_arguments)]
pub(crate) fn model(
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    theta: Option<f64>,
    max_iter: usize,
    tol: f64,
    backend: &str,
    standardize: bool,
) -> PyResult<Glm> {
    // The core's table of names (`student_t` and `student-t` alike).
    let glm = match family.parse::<Family>().map_err(to_py)? {
        Family::StudentT { .. } => Glm::student_t(nu, sigma),
        // θ absent: estimated by maximum likelihood.
        Family::NegativeBinomial { .. } => Glm::negative_binomial(theta),
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

/// One fit: a dict with coef, intercept, objective, n_iter, kkt_violation, termination,
/// backend, theta (the negative binomial's) and, with `inference`, R's summary.glm table
/// (`inference`, or `inference_note` saying why there is none).
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight=None, *, family="logistic", lam=0.0, alpha=0.0,
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, theta=None, offset=None,
    inference=false, max_iter=1000, tol=1e-12, backend="auto", standardize=false))]
#[allow(clippy::too_many_arguments)]
fn fit<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    lam: f64,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    theta: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
    inference: bool,
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
        theta,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let x = XArrays::new(&x)?;
    let x = x.design()?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let o = offset.as_ref().map(|o| o.as_slice()).transpose()?;
    let data = Data::new(x, y).maybe_weights(w).maybe_offset(o);
    let (fit, table) = py
        .detach(|| {
            let fit = glm.fit_data(&data)?;
            let table = inference.then(|| glm.inference(&fit, &data));
            Ok::<_, Error>((fit, table))
        })
        .map_err(to_py)?;
    let out = fit_dict(py, &fit)?;
    match table {
        Some(Ok(table)) => out.set_item("inference", inference_dict(py, &table)?)?,
        Some(Err(e)) => out.set_item("inference_note", e.to_string())?,
        None => {}
    }
    Ok(out)
}

/// R's summary.glm table as arrays: the intercept first (where fitted), then the features.
fn inference_dict<'py>(py: Python<'py>, table: &Inference) -> PyResult<Bound<'py, PyDict>> {
    let rows: Vec<&scalemix::Coefficient> =
        table.intercept.iter().chain(&table.coefficients).collect();
    let column =
        |f: fn(&scalemix::Coefficient) -> f64| -> Vec<f64> { rows.iter().map(|c| f(c)).collect() };
    let out = PyDict::new(py);
    out.set_item("has_intercept", table.intercept.is_some())?;
    out.set_item("bse", column(|c| c.standard_error).into_pyarray(py))?;
    out.set_item("statistic", column(|c| c.statistic).into_pyarray(py))?;
    out.set_item("pvalues", column(|c| c.p_value).into_pyarray(py))?;
    out.set_item("lower", column(|c| c.lower).into_pyarray(py))?;
    out.set_item("upper", column(|c| c.upper).into_pyarray(py))?;
    out.set_item("statistic_name", if table.t_statistics { "t" } else { "z" })?;
    out.set_item("dispersion", table.dispersion)?;
    out.set_item("deviance", table.deviance)?;
    out.set_item("null_deviance", table.null_deviance)?;
    out.set_item("df_residual", table.df_residual)?;
    out.set_item("df_null", table.df_null)?;
    out.set_item("log_likelihood", table.log_likelihood)?;
    out.set_item("aic", table.aic)?;
    if let Some(theta) = table.theta {
        out.set_item("theta_std_error", theta.standard_error)?;
    }
    out.set_item("table", table.table(None))?;
    Ok(out)
}

/// One fit's record: coef, intercept, objective, n_iter, kkt_violation, termination, backend and
/// elapsed (the core's own wall time — checks, fit, report — for measuring the Python layer's
/// cost).
pub(crate) fn fit_dict<'py>(py: Python<'py>, fit: &Fit) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("coef", fit.coefficients().to_vec().into_pyarray(py))?;
    out.set_item("intercept", fit.intercept())?;
    out.set_item("objective", fit.objective())?;
    out.set_item("n_iter", fit.iterations())?;
    out.set_item("kkt_violation", fit.kkt_violation())?;
    out.set_item("termination", format!("{:?}", fit.termination()))?;
    out.set_item("backend", fit.backend().to_string())?;
    out.set_item("elapsed", fit.elapsed().as_secs_f64())?;
    if let Family::NegativeBinomial { theta } = fit.family() {
        out.set_item("theta", theta)?;
    }
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
    x: Bound<'py, PyAny>,
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
    let glm = model(
        family,
        lam,
        alpha,
        fit_intercept,
        0.5,
        4.0,
        None,
        None,
        max_iter,
        tol,
        backend,
        false,
    )?
    .symmetric_multinomial(symmetric);
    let x = XArrays::new(&x)?;
    let x = x.design()?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let fit =
        py.detach(|| glm.fit_multiclass_data(&Data::new(x, y).maybe_weights(w))).map_err(to_py)?;
    let out = multiclass_dict(py, &fit)?;
    out.set_item("classes", fit.classes().to_vec().into_pyarray(py))?;
    Ok(out)
}

/// A K-class fit's coef (K × p), intercepts and record.
pub(crate) fn multiclass_dict<'py>(
    py: Python<'py>,
    fit: &MulticlassFit,
) -> PyResult<Bound<'py, PyDict>> {
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
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, theta=None, offset=None, n_lambda=40,
    lambda_min_ratio=None, lambdas=None, max_iter=1000, tol=1e-12, backend="auto",
    standardize=false))]
#[allow(clippy::too_many_arguments)]
fn path<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    theta: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
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
        nu,
        sigma,
        theta,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let x = XArrays::new(&x)?;
    let x = x.design()?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let o = offset.as_ref().map(|o| o.as_slice()).transpose()?;
    let options = path_options(n_lambda, lambda_min_ratio, lambdas);
    let data = Data::new(x, y).maybe_weights(w).maybe_offset(o);
    let path = py.detach(|| glm.path_data(&data, &options)).map_err(to_py)?;
    path_dict(py, &path)
}

fn path_dict<'py>(
    py: Python<'py>,
    path: &scalemix::RegularizationPath,
) -> PyResult<Bound<'py, PyDict>> {
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
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, theta=None, offset=None, n_lambda=40,
    lambda_min_ratio=None, folds=5, seed=0, metric=None, max_iter=1000, tol=1e-12,
    backend="auto", standardize=false))]
#[allow(clippy::too_many_arguments)]
fn cv<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
    y: PyReadonlyArray1<'py, f64>,
    sample_weight: Option<PyReadonlyArray1<'py, f64>>,
    family: &str,
    alpha: f64,
    fit_intercept: bool,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    theta: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
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
        nu,
        sigma,
        theta,
        max_iter,
        tol,
        backend,
        standardize,
    )?;
    let metric = metric.map(str::parse::<Metric>).transpose().map_err(to_py)?;
    let x = XArrays::new(&x)?;
    let x = x.design()?;
    let y = y.as_slice()?;
    let w = sample_weight.as_ref().map(|w| w.as_slice()).transpose()?;
    let o = offset.as_ref().map(|o| o.as_slice()).transpose()?;
    let options =
        CvOptions { folds, seed, metric, path: path_options(n_lambda, lambda_min_ratio, None) };
    let result = py
        .detach(|| {
            let assignment = Folds::new(x.nrows(), folds, seed)?;
            let data = Data::new(x, y).maybe_weights(w).maybe_offset(o);
            glm.cv_with_folds(&data, &assignment, &options)
        })
        .map_err(to_py)?;
    let out = path_dict(py, &result.path)?;
    out.set_item("mean", result.mean.clone().into_pyarray(py))?;
    out.set_item("standard_error", result.standard_error.clone().into_pyarray(py))?;
    out.set_item("lambda_min", result.lambda_min)?;
    out.set_item("lambda_1se", result.lambda_1se)?;
    Ok(out)
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
    m.add_class::<distributed::Statistics>()?;
    m.add_function(wrap_pyfunction!(distributed::chunk_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::fit_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::fit_multinomial_statistics, m)?)?;
    Ok(())
}

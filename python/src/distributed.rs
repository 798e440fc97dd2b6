//! The Dask side of the bindings: one chunk's statistics on a worker ([`chunk_statistics`],
//! returning a [`Statistics`]), and the fits whose passes a Python callable computes over the
//! workers' chunks ([`fit_statistics`], [`fit_multinomial_statistics`]): the solver runs in the
//! client, only d-sized and d × d sums travel.

use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use scalemix::backend::Problem;
use scalemix::backend::{BackendInfo, Needs, Stats};
use scalemix::{BackendChoice, Error, ExternalClasses, ExternalRows, Family, RowSummary};

use crate::{XArrays, fit_dict, model, multiclass_dict, to_py};

/// One pass's statistics as sums over rows (not means), so the chunks' add up: the rows' Σ wᵢ,
/// Σ wᵢ ℓᵢ, the gradient's and the Gram's sums (absent where the pass did not compute them), the
/// squares of the rounding-error bounds (per coordinate, and the loss's), which add over chunks,
/// and the devices that computed them. `a + b` adds two chunks' (or two subtotals'); pickles,
/// so Dask moves it between workers.
#[pyclass(module = "scalemix._core", frozen)]
#[derive(Clone)]
pub(crate) struct Statistics {
    /// Σ wᵢ.
    #[pyo3(get)]
    weight_sum: f64,
    /// Σ wᵢ ℓᵢ (the loss as fitted, or by its definition for a "loss" pass).
    #[pyo3(get)]
    loss: f64,
    /// Σ of the gradient terms, d values (None for a "loss" pass).
    gradient: Option<Vec<f64>>,
    /// Σ of the Gram (EM weights) or Hessian (ℓ'') terms, d × d row-major (None unless asked).
    gram: Option<Vec<f64>>,
    /// Squares of the gradient's rounding-error bounds, d values.
    error_squares: Vec<f64>,
    /// Square of the loss's rounding-error bound.
    #[pyo3(get)]
    loss_error_square: f64,
    /// The devices that computed the sums (sorted, each once).
    #[pyo3(get)]
    devices: Vec<String>,
}

#[pymethods]
impl Statistics {
    /// The sums from their parts (the constructor pickling uses).
    #[new]
    #[pyo3(signature = (weight_sum, loss, gradient, gram, error_squares, loss_error_square, devices))]
    fn new(
        weight_sum: f64,
        loss: f64,
        gradient: Option<Vec<f64>>,
        gram: Option<Vec<f64>>,
        error_squares: Vec<f64>,
        loss_error_square: f64,
        devices: Vec<String>,
    ) -> Self {
        Self { weight_sum, loss, gradient, gram, error_squares, loss_error_square, devices }
    }

    /// Two chunks' sums added.
    ///
    /// # Errors
    /// `ValueError` for sums of different passes (other dimensions, or one with a gradient or
    /// Gram the other lacks).
    fn __add__(&self, other: &Statistics) -> PyResult<Statistics> {
        let add = |a: &Option<Vec<f64>>, b: &Option<Vec<f64>>| match (a, b) {
            (None, None) => Ok(None),
            (Some(a), Some(b)) if a.len() == b.len() => {
                Ok(Some(a.iter().zip(b).map(|(u, v)| u + v).collect()))
            }
            _ => Err(PyValueError::new_err("the sums of two different passes cannot be added")),
        };
        if self.error_squares.len() != other.error_squares.len() {
            return Err(PyValueError::new_err("the sums of two different passes cannot be added"));
        }
        let mut devices: Vec<String> = self.devices.iter().chain(&other.devices).cloned().collect();
        devices.sort();
        devices.dedup();
        Ok(Statistics {
            weight_sum: self.weight_sum + other.weight_sum,
            loss: self.loss + other.loss,
            gradient: add(&self.gradient, &other.gradient)?,
            gram: add(&self.gram, &other.gram)?,
            error_squares: self
                .error_squares
                .iter()
                .zip(&other.error_squares)
                .map(|(a, b)| a + b)
                .collect(),
            loss_error_square: self.loss_error_square + other.loss_error_square,
            devices,
        })
    }

    /// The gradient's sum as a NumPy array (None for a "loss" pass).
    #[getter]
    fn gradient<'py>(&self, py: Python<'py>) -> Option<Bound<'py, numpy::PyArray1<f64>>> {
        self.gradient.clone().map(|g| g.into_pyarray(py))
    }

    /// The Gram's sum as a d × d NumPy array (None unless the pass computed it).
    #[getter]
    fn gram<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let d = self.error_squares.len();
        self.gram.clone().map(|g| Ok(g.into_pyarray(py).reshape([d, d])?.into_any())).transpose()
    }

    /// Pickling: the constructor and its arguments.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let class = py.get_type::<Statistics>();
        let args = (
            self.weight_sum,
            self.loss,
            self.gradient.clone(),
            self.gram.clone(),
            self.error_squares.clone(),
            self.loss_error_square,
            self.devices.clone(),
        );
        PyTuple::new(py, [class.into_any(), args.into_pyobject(py)?.into_any()])
    }
}

impl Statistics {
    /// The means over the rows, into `out` (the Gram where the pass `needs` it): the bounds as
    /// root sums of squares. Returns the mean loss.
    fn means_into(&self, dim: usize, needs: &str, out: Option<&mut Stats>) -> PyResult<f64> {
        let w = self.weight_sum;
        if w.is_nan() || w <= 0.0 {
            return Err(PyValueError::new_err(format!("the rows' Σ w is {w}, not positive")));
        }
        let Some(out) = out else { return Ok(self.loss / w) };
        let shape =
            |what: &str| PyValueError::new_err(format!("the {what} must have {dim} coordinates"));
        let gradient =
            self.gradient.as_ref().filter(|g| g.len() == dim).ok_or_else(|| shape("gradient"))?;
        if self.error_squares.len() != dim {
            return Err(shape("gradient error"));
        }
        out.loss = self.loss / w;
        out.loss_error = self.loss_error_square.sqrt() / w;
        for (o, g) in out.gradient.iter_mut().zip(gradient) {
            *o = g / w;
        }
        for (o, e) in out.gradient_error.iter_mut().zip(&self.error_squares) {
            *o = e.sqrt() / w;
        }
        if needs != "gradient" {
            let gram =
                self.gram.as_ref().filter(|g| g.len() == dim * dim).ok_or_else(|| shape("Gram"))?;
            // Row-major; S is symmetric, so the order does not matter.
            for (o, g) in out.gram.as_mut_slice().iter_mut().zip(gram) {
                *o = g / w;
            }
        }
        Ok(out.loss)
    }
}

/// The family a distributed fit's chunks compute, from its name and parameters.
fn chunk_family(
    family: &str,
    quantile: f64,
    nu: f64,
    sigma: Option<f64>,
    nb_theta: Option<f64>,
) -> PyResult<Family> {
    Ok(match family.parse::<Family>().map_err(to_py)? {
        Family::Binomial => {
            return Err(PyValueError::new_err(format!(
                "distributed fits take the logistic, gaussian, hinge, quantile, student_t, \
                 poisson and negative_binomial families; got {family:?}"
            )));
        }
        Family::NegativeBinomial { .. } => Family::NegativeBinomial {
            theta: nb_theta.ok_or_else(|| {
                PyValueError::new_err(
                    "distributed negative_binomial fits need theta (it is not estimated)",
                )
            })?,
        },
        Family::StudentT { .. } => Family::StudentT {
            nu,
            sigma: sigma.ok_or_else(|| {
                PyValueError::new_err("distributed student_t fits need sigma (it is not estimated)")
            })?,
        },
        other => other.with_parameters(Some(quantile), None, None),
    })
}

/// The [`Statistics`] of one chunk of rows at `theta`: sums, so chunks add up and the client
/// divides by W. `needs`: "loss" (the loss by its definition only), "gradient", "gram" (with
/// the EM weights' Gram) or "hessian" (with ℓ''); `offset`: a per-row offset in η. `backend` is "cpu", "gpu" (the worker's default GPU, an error without one) or "auto"
/// (its GPU where the chunk is large enough, as a single fit decides). Runs on a Dask worker;
/// nothing but these d × d results leaves it.
#[pyfunction]
#[pyo3(signature = (x, y, sample_weight, theta, *, family="logistic", quantile=0.5,
    fit_intercept=true, needs="gradient", backend="cpu", nu=4.0, sigma=None, nb_theta=None,
    offset=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn chunk_statistics<'py>(
    py: Python<'py>,
    x: Bound<'py, PyAny>,
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
    nb_theta: Option<f64>,
    offset: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Statistics> {
    let family = chunk_family(family, quantile, nu, sigma, nb_theta)?;
    let needs = match needs {
        "loss" => None,
        "gradient" => Some(Needs::Gradient),
        "gram" => Some(Needs::GradientAndGram),
        "hessian" => Some(Needs::GradientAndHessian),
        other => return Err(PyValueError::new_err(format!("unknown needs {other:?}"))),
    };
    let choice: BackendChoice = backend.parse().map_err(to_py)?;
    let x = XArrays::new(&x)?;
    let x = x.design()?;
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
    let dim_sums = |needed: bool, values: &[f64]| needed.then(|| values.to_vec());
    let gram_needed = matches!(needs, Some(Needs::GradientAndGram | Needs::GradientAndHessian));
    Ok(Statistics {
        weight_sum,
        loss: stats.loss,
        gradient: dim_sums(needs.is_some(), stats.gradient.as_slice()),
        // Row-major (the transpose of nalgebra's column-major S, which is symmetric anyway).
        gram: dim_sums(gram_needed, stats.gram.transpose().as_slice()),
        error_squares: stats.gradient_error.iter().map(|e| (e * weight_sum).powi(2)).collect(),
        loss_error_square: (stats.loss_error * weight_sum).powi(2),
        devices: vec![device],
    })
}

/// The statistics of every row, from a Python callable (a Dask map and tree reduction over the
/// workers' chunks): `evaluate(theta, needs, in_f64)` returns the [`Statistics`] summed over
/// every chunk.
struct CallbackRows<'py> {
    evaluate: Bound<'py, PyAny>,
    dim: usize,
    /// The devices of the passes not asked for f64 so far.
    devices: Vec<String>,
    /// The callable's own exception, raised again once the fit has stopped.
    error: Option<PyErr>,
}

/// A pass's [`Statistics`] (see [`CallbackRows`]) as means, written into `out` where given;
/// returns the mean loss and the devices that computed them.
fn read_pass(
    returned: &Bound<'_, PyAny>,
    dim: usize,
    needs: &str,
    out: Option<&mut Stats>,
) -> PyResult<(f64, Vec<String>)> {
    let sums = returned.cast::<Statistics>()?.get();
    Ok((sums.means_into(dim, needs, out)?, sums.devices.clone()))
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
    fit_intercept=true, quantile=0.5, nu=4.0, sigma=None, nb_theta=None, max_iter=1000,
    tol=1e-12))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_statistics<'py>(
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
    nb_theta: Option<f64>,
    max_iter: usize,
    tol: f64,
) -> PyResult<Bound<'py, PyDict>> {
    chunk_family(family, quantile, nu, sigma, nb_theta)?;
    let glm = model(
        family,
        lam,
        alpha,
        fit_intercept,
        quantile,
        nu,
        sigma,
        nb_theta,
        max_iter,
        tol,
        "cpu",
        false,
    )?;
    let summary = row_summary(&summary)?;
    let dim = summary.column_mean.len() + usize::from(fit_intercept);
    let mut rows = CallbackRows { evaluate, dim, devices: Vec::new(), error: None };
    let fit = match glm.fit_statistics(&mut rows, &summary) {
        Ok(fit) => fit,
        Err(e) => return Err(rows.error.take().unwrap_or_else(|| to_py(e))),
    };
    fit_dict(py, &fit)
}

/// The statistics of a multinomial fit's rows, from two Python callables (Dask maps and tree
/// reductions over the workers' chunks): `evaluate_class(theta, c, needs)` (θ: K × d) returns
/// class c's pass summed over the chunks ([`Statistics`]); `multinomial(theta)` returns the mean
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
pub(crate) fn fit_multinomial_statistics<'py>(
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
    let glm = model(
        "logistic",
        lam,
        alpha,
        fit_intercept,
        0.5,
        4.0,
        None,
        None,
        max_iter,
        tol,
        "cpu",
        false,
    )?
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

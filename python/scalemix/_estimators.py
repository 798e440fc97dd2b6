"""scikit-learn estimators over the Rust core (``scalemix._core``).

scalemix minimizes glmnet's objective

    F(b0, beta) = (1/W) sum_i w_i loss(y_i, x_i' beta + b0) + lam * [alpha |beta|_1 + (1-alpha)/2 |beta|^2]

with W the sum of the sample weights and an unpenalized intercept. Each estimator maps its
scikit-learn parameters onto (lam, alpha) so that the minimizer is exactly the one the
scikit-learn class of the same name finds; the mapping is in each class's docstring.

X is read in place when it is a float64 array in C or Fortran order; any other array (float32,
integers, a non-contiguous view, a DataFrame) is converted once to float64 before the fit.
scipy.sparse CSR and CSC matrices and arrays with float64 values, int32 or int64 indices and
canonical structure (sorted, no duplicates) are read in place too and never densified; other
sparse formats are converted to CSR once, and a non-canonical matrix is copied with its
duplicates summed (``sum_duplicates``), as scipy itself would count them.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def validate_data(estimator, X="no_validation", y="no_validation", reset=True, **kwargs):
        return estimator._validate_data(X, y, reset=reset, **kwargs)


from . import _core

_BACKENDS = ("auto", "cpu", "gpu")


_SPARSE = ("csr", "csc")


def _in_place(X):
    """X as the core reads it: float64, C or Fortran order, aligned (copied only if not); a
    sparse X as the tuple (format, data, indices, indptr, shape) of its arrays."""
    if sp.issparse(X):
        return _sparse_parts(X)
    if (X.flags.c_contiguous or X.flags.f_contiguous) and X.flags.aligned:
        return X
    return np.require(X, dtype=np.float64, requirements=["C", "A"])


def _sparse_parts(X):
    """A sparse X's arrays for the core: CSR or CSC as given (any other format converted to
    CSR), float64 values, indices and indptr of one integer type (int32 or int64), canonical
    structure (a copy with duplicates summed only where X is not)."""
    if X.format not in _SPARSE:
        X = X.tocsr()
    if X.dtype != np.float64:
        X = X.astype(np.float64)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    index_type = np.int32 if X.indices.dtype == np.int32 and X.indptr.dtype == np.int32 else np.int64
    indices = np.ascontiguousarray(X.indices, dtype=index_type)
    indptr = np.ascontiguousarray(X.indptr, dtype=index_type)
    data = np.ascontiguousarray(X.data, dtype=np.float64)
    return (X.format, data, indices, indptr, (int(X.shape[0]), int(X.shape[1])))


def _offset(offset, n):
    """An offset as the core reads it: one finite float64 per row."""
    offset = np.ascontiguousarray(offset, dtype=np.float64)
    if offset.ndim != 1 or offset.shape[0] != n:
        raise ValueError(f"offset must have one value per row ({n}), got shape {offset.shape}")
    bad = np.flatnonzero(~np.isfinite(offset))
    if bad.size:
        raise ValueError(f"offset[{bad[0]}] is {offset[bad[0]]}, not a finite number")
    return offset


def _wants_inference(setting, p):
    """Whether a fit computes its inference table: ``None`` up to 2 000 features."""
    return p <= 2000 if setting is None else bool(setting)


def _positive(name, value):
    if not (np.isscalar(value) and np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _nonnegative(name, value):
    if not (np.isscalar(value) and np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


class _Linear(BaseEstimator):
    """What every estimator shares: validation, the call into the core, the fitted record."""

    def __sklearn_tags__(self):
        # scipy.sparse CSR/CSC input is fitted as it is (never densified).
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_common(self):
        if self.backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        _positive("tol", self.tol)

    def _core_options(self):
        return dict(
            fit_intercept=bool(self.fit_intercept),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            backend=self.backend,
        )

    def _family_options(self):
        """The family's own parameters, as the core takes them (none by default)."""
        return {}

    def _record(self, result):
        """scalemix's own fitted attributes from the core's result."""
        self.n_iter_ = int(result["n_iter"])
        self.objective_ = float(result["objective"])
        self.kkt_violation_ = float(result.get("kkt_violation", np.nan))
        self.termination_ = result["termination"]
        self.backend_ = result.get("backend", "")

    def _eta(self, X, offset=None):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=_SPARSE)
        eta = X @ self.coef_.T + self.intercept_
        if offset is not None:
            eta = eta + _offset(offset, X.shape[0])
        return eta

    def _record_inference(self, result):
        """R's summary.glm table from the core's result, where it has one: ``bse_``,
        ``zvalues_`` (t for gaussian), ``pvalues_``, ``conf_int_`` (p × 2, the 95% Wald
        intervals), the intercept's in ``intercept_bse_`` …, and ``deviance_``,
        ``null_deviance_``, ``aic_``, ``llf_``; :meth:`summary` prints it."""
        table = result.get("inference")
        self.inference_note_ = result.get("inference_note")
        self._summary = None if table is None else table["table"]
        if table is None:
            return
        first = 1 if table["has_intercept"] else 0
        self.bse_ = table["bse"][first:]
        self.zvalues_ = table["statistic"][first:]
        self.pvalues_ = table["pvalues"][first:]
        self.conf_int_ = np.column_stack((table["lower"][first:], table["upper"][first:]))
        if first:
            self.intercept_bse_ = float(table["bse"][0])
            self.intercept_pvalue_ = float(table["pvalues"][0])
        self.deviance_ = float(table["deviance"])
        self.null_deviance_ = float(table["null_deviance"])
        self.df_residual_ = float(table["df_residual"])
        self.aic_ = float(table["aic"])
        self.llf_ = float(table["log_likelihood"])
        if "theta_std_error" in table:
            self.theta_bse_ = float(table["theta_std_error"])

    def _fit_core(self, X, y, sample_weight, offset, lam_alpha, inference=False, **family):
        """Validates X, y, the weights and the offset, fits through the core with the family's
        keyword arguments `family` at (lam, alpha) = `lam_alpha(weight_sum)`, and records the
        coefficients, the record and the inference table where `inference` asks for it (see
        `_wants_inference`). Returns the validated (X, y)."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, accept_sparse=_SPARSE)
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        lam, alpha = lam_alpha(float(sample_weight.sum()))
        result = _core.fit(
            _in_place(X),
            np.ascontiguousarray(y, dtype=np.float64),
            sample_weight,
            lam=lam,
            alpha=alpha,
            offset=None if offset is None else _offset(offset, X.shape[0]),
            inference=_wants_inference(inference, X.shape[1]),
            **family,
            **self._core_options(),
        )
        self.coef_ = result["coef"]
        self.intercept_ = float(result["intercept"])
        if "theta" in result:
            self.theta_ = float(result["theta"])
        self._record(result)
        self._record_inference(result)
        return X, y

    def summary(self):
        """R's summary.glm table of the fit (coefficients with standard errors, z or t values,
        p-values and 95% Wald intervals; deviances, AIC): for unpenalized and ridge fits of the
        logistic, gaussian, Poisson and negative binomial families."""
        check_is_fitted(self)
        if getattr(self, "_summary", None) is None:
            reason = getattr(self, "inference_note_", None) or "not computed for this estimator"
            raise ValueError(f"no inference table: {reason}")
        return self._summary


class _Regressor(RegressorMixin, _Linear):
    """A single-response regression fit: the subclass gives the family and (lam, alpha)."""

    _family = "gaussian"

    def _lam_alpha(self, weight_sum):
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        """Fits the model; ``sample_weight`` multiplies each row's loss."""
        self._check_common()
        family = dict(family=self._family, **self._family_options())
        self._fit_core(X, y, sample_weight, None, self._lam_alpha, **family)
        return self

    def predict(self, X):
        """The linear predictor X @ coef_ + intercept_."""
        return self._eta(X)


class Lasso(_Regressor):
    """Least squares with an l1 penalty, as ``sklearn.linear_model.Lasso``.

    scikit-learn minimizes (1/(2 n)) |y - X beta - b0|^2 + alpha |beta|_1 (weights rescaled to
    sum to n): scalemix's objective with the gaussian loss, lam = alpha, alpha_mix = 1.
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-12, backend="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _nonnegative("alpha", self.alpha)
        return float(self.alpha), 1.0


class ElasticNet(_Regressor):
    """Least squares with an elastic-net penalty, as ``sklearn.linear_model.ElasticNet``.

    scikit-learn minimizes (1/(2 n)) |y - X beta - b0|^2 + alpha l1_ratio |beta|_1
    + alpha (1 - l1_ratio)/2 |beta|^2: lam = alpha, alpha_mix = l1_ratio.
    """

    def __init__(
        self,
        alpha=1.0,
        *,
        l1_ratio=0.5,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-12,
        backend="auto",
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _nonnegative("alpha", self.alpha)
        if not (np.isscalar(self.l1_ratio) and 0.0 <= self.l1_ratio <= 1.0):
            raise ValueError(f"l1_ratio must lie in [0, 1], got {self.l1_ratio!r}")
        return float(self.alpha), float(self.l1_ratio)


class Ridge(_Regressor):
    """Least squares with a ridge penalty, as ``sklearn.linear_model.Ridge``.

    scikit-learn minimizes sum_i w_i (y_i - x_i' beta - b0)^2 + alpha |beta|^2; divided by
    2 W that is scalemix's objective with lam = alpha / W, alpha_mix = 0.
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, max_iter=1000, tol=1e-12, backend="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _nonnegative("alpha", self.alpha)
        return float(self.alpha) / weight_sum, 0.0


class QuantileRegressor(_Regressor):
    """Linear quantile regression with an l1 penalty, as ``sklearn.linear_model.QuantileRegressor``.

    scikit-learn minimizes (1/W) sum_i w_i pinball_q(y_i - x_i' beta - b0) + alpha |beta|_1:
    scalemix's quantile family at q = quantile, lam = alpha, alpha_mix = 1.
    """

    _family = "quantile"

    def __init__(
        self,
        *,
        quantile=0.5,
        alpha=1.0,
        fit_intercept=True,
        max_iter=5000,
        tol=1e-12,
        backend="auto",
    ):
        self.quantile = quantile
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _nonnegative("alpha", self.alpha)
        if not (np.isscalar(self.quantile) and 0.0 < self.quantile < 1.0):
            raise ValueError(f"quantile must lie in (0, 1), got {self.quantile!r}")
        return float(self.alpha), 1.0

    def _family_options(self):
        return {"quantile": float(self.quantile)}


class _Classifier(ClassifierMixin, _Linear):
    """Binary fits through the core's single-response fit, K > 2 through its multiclass fit."""

    _family = "logistic"

    def _lam_alpha(self, weight_sum):
        raise NotImplementedError

    def fit(self, X, y, sample_weight=None):
        """Fits the model; ``sample_weight`` multiplies each row's loss."""
        self._check_common()
        X, y = validate_data(self, X, y, dtype=np.float64, accept_sparse=_SPARSE)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_[0]!r}"
            )
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        lam, alpha = self._lam_alpha(float(sample_weight.sum()))
        labels = codes.astype(np.float64)
        if len(self.classes_) == 2:
            result = _core.fit(
                _in_place(X),
                labels,
                sample_weight,
                family=self._family,
                lam=lam,
                alpha=alpha,
                **self._core_options(),
            )
            self.coef_ = result["coef"][np.newaxis, :]
            self.intercept_ = np.array([result["intercept"]])
        else:
            result = _core.fit_multiclass(
                _in_place(X),
                labels,
                sample_weight,
                family=self._family,
                lam=lam,
                alpha=alpha,
                **self._core_options(),
            )
            self.coef_ = result["coef"]
            self.intercept_ = result["intercept"]
        self._record(result)
        return self

    def decision_function(self, X):
        """The linear predictor(s): one column per class, one value per row when binary."""
        eta = self._eta(X)
        return eta.ravel() if eta.shape[1] == 1 else eta

    def predict(self, X):
        """The predicted class labels."""
        eta = self.decision_function(X)
        if eta.ndim == 1:
            return self.classes_[(eta > 0).astype(int)]
        return self.classes_[np.argmax(eta, axis=1)]


class LogisticRegression(_Classifier):
    """Penalized logistic regression, as ``sklearn.linear_model.LogisticRegression``.

    scikit-learn minimizes C sum_i w_i loss_i + penalty(beta) with penalty "l2": |beta|^2/2,
    "l1": |beta|_1, "elasticnet": l1_ratio |beta|_1 + (1 - l1_ratio)/2 |beta|^2, None: 0.
    Divided by C W that is scalemix's objective with lam = 1/(C W) and alpha_mix = 0, 1 or
    l1_ratio. With K > 2 classes the fit is the symmetric multinomial scikit-learn uses: K
    coefficient vectors, all penalized.
    """

    def __init__(
        self,
        penalty="l2",
        *,
        C=1.0,
        l1_ratio=None,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-12,
        backend="auto",
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _positive("C", self.C)
        lam = 1.0 / (self.C * weight_sum)
        if self.penalty is None:
            return 0.0, 0.0
        if self.penalty == "l2":
            return lam, 0.0
        if self.penalty == "l1":
            return lam, 1.0
        if self.penalty == "elasticnet":
            if self.l1_ratio is None or not (0.0 <= self.l1_ratio <= 1.0):
                raise ValueError(
                    f"penalty='elasticnet' needs l1_ratio in [0, 1], got {self.l1_ratio!r}"
                )
            return lam, float(self.l1_ratio)
        raise ValueError(
            f"penalty must be 'l1', 'l2', 'elasticnet' or None, got {self.penalty!r}"
        )

    def predict_proba(self, X):
        """Class probabilities (sigmoid when binary, softmax over the classes otherwise)."""
        eta = self._eta(X)
        if eta.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-eta[:, 0]))
            return np.column_stack([1.0 - p, p])
        eta = eta - eta.max(axis=1, keepdims=True)
        e = np.exp(eta)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))


class LinearSVC(_Classifier):
    """Linear SVM with the hinge loss, as ``sklearn.svm.LinearSVC(loss="hinge")``.

    scikit-learn minimizes |beta|^2/2 + C sum_i w_i max(0, 1 - y_i eta_i): lam = 1/(C W),
    alpha_mix = 0. Differences: scikit-learn's default loss is the squared hinge (only
    ``loss="hinge"`` is offered here), and scikit-learn penalizes the intercept (through
    ``intercept_scaling``) where scalemix leaves it unpenalized, so the two intercepts, and the
    coefficients with them, differ slightly. K > 2 classes are fitted one-vs-rest, as
    scikit-learn does.
    """

    _family = "hinge"

    def __init__(
        self,
        *,
        C=1.0,
        loss="hinge",
        penalty="l2",
        fit_intercept=True,
        max_iter=5000,
        tol=1e-12,
        backend="auto",
    ):
        self.C = C
        self.loss = loss
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def _lam_alpha(self, weight_sum):
        _positive("C", self.C)
        if self.loss != "hinge":
            raise ValueError(f"only loss='hinge' is available, got {self.loss!r}")
        if self.penalty != "l2":
            raise ValueError(f"only penalty='l2' is available, got {self.penalty!r}")
        return 1.0 / (self.C * weight_sum), 0.0


class GLM(RegressorMixin, _Linear):
    """A glmnet-style model of any scalemix family: ``lam`` and ``alpha`` as in glmnet.

    ``family`` is one of "gaussian", "logistic" (labels 0/1), "hinge" (labels -1/+1 or 0/1),
    "quantile" (at ``quantile``), "student_t" (``nu``, and ``sigma`` or estimated), "poisson"
    (counts, log link) or "negative_binomial" (counts, log link, ``theta`` or estimated by
    maximum likelihood as R's ``MASS::glm.nb``; the fitted θ in ``theta_``). ``fit`` and
    ``predict`` take an ``offset`` per row (glum's convention: e.g. the log of an exposure).
    :meth:`predict` gives the response scale (the probability for logistic, the mean count for
    Poisson and the negative binomial, the linear predictor otherwise); :meth:`linear_predictor`
    the linear predictor. An unpenalized or ridge fit of the likelihood families carries R's
    summary.glm table (:meth:`summary`, ``bse_``, ``pvalues_``, ``conf_int_``, ``aic_`` …):
    ``inference=None`` (the default) computes it up to 2 000 features (a d × d inverse), True
    always, False never.
    """

    def __init__(
        self,
        family="gaussian",
        *,
        lam=0.0,
        alpha=0.0,
        fit_intercept=True,
        quantile=0.5,
        nu=4.0,
        sigma=None,
        theta=None,
        inference=None,
        standardize=False,
        max_iter=1000,
        tol=1e-12,
        backend="auto",
    ):
        self.family = family
        self.lam = lam
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.quantile = quantile
        self.nu = nu
        self.sigma = sigma
        self.theta = theta
        self.inference = inference
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fits the model; ``sample_weight`` multiplies each row's loss, ``offset`` is added to
        each row's linear predictor."""
        self._check_common()
        self._fit_core(
            X,
            y,
            sample_weight,
            offset,
            lambda _weight_sum: (float(self.lam), float(self.alpha)),
            inference=self.inference,
            family=self.family,
            quantile=float(self.quantile),
            nu=float(self.nu),
            sigma=None if self.sigma is None else float(self.sigma),
            theta=None if self.theta is None else float(self.theta),
            standardize=bool(self.standardize),
        )
        return self

    def linear_predictor(self, X, offset=None):
        """The linear predictor offset + X @ coef_ + intercept_."""
        return self._eta(X, offset)

    def predict(self, X, offset=None):
        """The response scale: P(y = 1) for logistic, the mean count exp(η) for Poisson and the
        negative binomial, the linear predictor otherwise."""
        eta = self._eta(X, offset)
        family = self.family.replace("-", "_")
        if family == "logistic":
            return 1.0 / (1.0 + np.exp(-eta))
        if family in ("poisson", "negative_binomial"):
            return np.exp(eta)
        return eta


class PoissonRegressor(RegressorMixin, _Linear):
    """Poisson regression with the log link and an l2 penalty, as
    ``sklearn.linear_model.PoissonRegressor``.

    scikit-learn minimizes (1/(2 W)) sum_i w_i deviance_i + (alpha/2) |beta|^2, which is
    scalemix's objective with the Poisson loss (half the deviance, less a constant), lam = alpha,
    alpha_mix = 0. ``fit`` and ``predict`` also take an ``offset`` per row (e.g. the log of an
    exposure). Up to 2 000 features the fit carries R's summary.glm table (:meth:`summary`,
    ``bse_``, ``pvalues_`` …; for alpha > 0 that of the ridge's penalized information).
    """

    def __init__(self, *, alpha=1.0, fit_intercept=True, max_iter=1000, tol=1e-12, backend="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fits the model; ``sample_weight`` multiplies each row's loss, ``offset`` is added to
        each row's linear predictor."""
        self._check_common()
        _nonnegative("alpha", self.alpha)
        self._fit_core(
            X,
            y,
            sample_weight,
            offset,
            lambda _weight_sum: (float(self.alpha), 0.0),
            inference=None,
            family="poisson",
        )
        return self

    def predict(self, X, offset=None):
        """The mean count exp(offset + X @ coef_ + intercept_)."""
        return np.exp(self._eta(X, offset))

    def __sklearn_tags__(self):
        # Counts: scikit-learn's checks then draw y >= 0 (as for its own PoissonRegressor).
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        return tags


def _arrays(X, y, sample_weight):
    from sklearn.utils import check_X_y

    X, y = check_X_y(X, y, dtype=np.float64, y_numeric=True, accept_sparse=_SPARSE)
    sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    return _in_place(X), np.ascontiguousarray(y, dtype=np.float64), sample_weight


def path(
    X,
    y,
    *,
    family="logistic",
    alpha=1.0,
    sample_weight=None,
    fit_intercept=True,
    quantile=0.5,
    nu=4.0,
    sigma=None,
    theta=None,
    offset=None,
    n_lambda=40,
    lambda_min_ratio=None,
    lambdas=None,
    standardize=False,
    backend="auto",
):
    """A glmnet-style regularization path, λ from λ_max down (``offset``: one value per row
    added to the linear predictor; ``nu`` and ``sigma`` Student-t's, ``theta`` the negative
    binomial's: a path needs σ and θ given).

    Returns a dict of arrays: ``lambdas`` (n_λ), ``coef`` (n_λ × p), ``intercept`` and
    ``objective`` (n_λ), and ``lambda_max``.
    """
    X, y, sample_weight = _arrays(X, y, sample_weight)
    return _core.path(
        X,
        y,
        sample_weight,
        family=family,
        alpha=float(alpha),
        fit_intercept=bool(fit_intercept),
        quantile=float(quantile),
        nu=float(nu),
        sigma=None if sigma is None else float(sigma),
        theta=None if theta is None else float(theta),
        offset=None if offset is None else _offset(offset, y.shape[0]),
        n_lambda=int(n_lambda),
        lambda_min_ratio=lambda_min_ratio,
        lambdas=None if lambdas is None else [float(v) for v in lambdas],
        standardize=bool(standardize),
        backend=backend,
    )


def cv(
    X,
    y,
    *,
    family="logistic",
    alpha=1.0,
    sample_weight=None,
    fit_intercept=True,
    quantile=0.5,
    nu=4.0,
    sigma=None,
    theta=None,
    offset=None,
    n_lambda=40,
    lambda_min_ratio=None,
    folds=5,
    seed=0,
    metric=None,
    standardize=False,
    backend="auto",
):
    """k-fold cross-validation along a path (as ``cv.glmnet``).

    Returns :func:`path`'s arrays plus ``mean`` and ``standard_error`` of the held-out score
    per λ, ``lambda_min`` and ``lambda_1se``. ``metric``: "deviance", "misclassification",
    "auc", "mse", "mae" or "check" (default: the family's; the deviance for counts). ``offset``
    and ``theta`` as for :func:`path`.
    """
    X, y, sample_weight = _arrays(X, y, sample_weight)
    return _core.cv(
        X,
        y,
        sample_weight,
        family=family,
        alpha=float(alpha),
        fit_intercept=bool(fit_intercept),
        quantile=float(quantile),
        nu=float(nu),
        sigma=None if sigma is None else float(sigma),
        theta=None if theta is None else float(theta),
        offset=None if offset is None else _offset(offset, y.shape[0]),
        n_lambda=int(n_lambda),
        lambda_min_ratio=lambda_min_ratio,
        folds=int(folds),
        seed=int(seed),
        metric=metric,
        standardize=bool(standardize),
        backend=backend,
    )

"""Distributed fits on Dask: the estimators of :mod:`scalemix` on Dask arrays chunked by rows.

Each pass maps every chunk to its partial statistics — Σ w loss, Σ w ℓ' x and Σ w ω x xᵀ,
computed by the Rust core inside the worker that holds the chunk — and adds them with a tree
reduction; the solver (M-step, acceleration, stopping) runs on the client. The chunks stay
persisted on the workers and only d × d results travel. The tasks are pure, so a worker lost
mid-fit is survived: its chunks and their statistics are recomputed elsewhere, with the same
result.

Estimators: ``LogisticRegression`` (binary, or the symmetric multinomial for K > 2 classes:
one pass per class step, the offsets of the other classes computed on the workers),
``LinearSVC`` (one-vs-rest for K > 2), ``Lasso``, ``ElasticNet``, ``Ridge``,
``QuantileRegressor`` and ``GLM`` (gaussian, logistic, hinge, quantile, Student-t with σ
given); the design is fitted as given (no internal rescaling). Classifiers take any labels (the
classes are gathered in the first pass). X, y and the weights may be Dask arrays or Dask
DataFrames and Series (their partitions become the chunks).

Devices: with ``backend="gpu"`` (or ``"auto"``, where a worker has a hardware GPU and the chunk
is large enough) each worker computes its chunks' statistics with the GPU kernels, in f32; the
client then checks the KKT conditions with f64 passes on the workers' CPUs and finishes the fit
with them where the check fails (hinge and quantile always), as a streamed GPU fit does.
"""

import functools

import numpy as np
import scipy.sparse as sp

from . import _core
from . import _estimators as _mem

__all__ = [
    "ElasticNet",
    "GLM",
    "Lasso",
    "LinearSVC",
    "LogisticRegression",
    "QuantileRegressor",
    "Ridge",
]


# Passes repeated after losing a worker, at most.
_RETRIES = 3


def _lost_worker(error):
    """Whether `error` says a worker (and the chunks it held) was lost, not that a task failed."""
    try:
        from distributed.client import FutureCancelledError
        from distributed.comm import CommClosedError
        from distributed.scheduler import KilledWorker
    except ImportError:  # the local schedulers lose no workers
        return False
    return isinstance(error, (FutureCancelledError, KilledWorker, CommClosedError))


def _first(mask):
    """The index of the first True of a boolean vector."""
    return int(np.argmax(mask))


# The responses a family takes as numbers (labels of a GLM), checked in the first pass.
_LABELS = {"logistic": (0.0, 1.0), "hinge": (-1.0, 0.0, 1.0)}


def _chunk_summary(x, y, w, o, index, offset, classify, family=None):
    """One chunk's checks and sums (runs on a worker): errors name the chunk and the row.

    ``o``: the chunk's offsets (None without). ``classify``: the response holds labels; the
    chunk's distinct labels and the weight of each are gathered instead of the response's
    moments. ``family``: a GLM family whose response must be one of its labels (`_LABELS`),
    or counts (≥ 0; integers for the negative binomial).
    """
    x = _chunk_matrix(x)
    y = np.asarray(y).ravel()
    w = np.asarray(w, dtype=np.float64).ravel()
    first_bad = _first_non_finite(x)
    if first_bad is not None:
        i, j, value = first_bad
        raise ValueError(
            f"chunk {index}, row {offset + i} (row {i} of the chunk), column {j}: "
            f"{value} is not finite"
        )
    checked = [("sample_weight", w)]
    if o is not None:
        checked.append(("offset", np.asarray(o, dtype=np.float64).ravel()))
    if not classify or y.dtype.kind == "f":
        checked.insert(0, ("y", y.astype(np.float64)))
    for name, values in checked:
        if not np.isfinite(values).all():
            i = _first(~np.isfinite(values))
            raise ValueError(f"chunk {index}, row {offset + i}: {name} is {values[i]}")
    if (w < 0).any():
        i = _first(w < 0)
        raise ValueError(f"chunk {index}, row {offset + i}: negative sample weight {w[i]}")
    if family in _LABELS and not np.isin(y, _LABELS[family]).all():
        i = _first(~np.isin(y, _LABELS[family]))
        raise ValueError(
            f"chunk {index}, row {offset + i}: label {y[i]} is not one of {_LABELS[family]} "
            f"({family})"
        )
    counts = family in ("poisson", "negative_binomial", "negative-binomial")
    if counts and ((y < 0) | ((y != np.round(y)) & (family != "poisson"))).any():
        i = _first((y < 0) | ((y != np.round(y)) & (family != "poisson")))
        raise ValueError(f"chunk {index}, row {offset + i}: {y[i]} is not a count ({family})")
    weight = w.sum()
    positive = w[w > 0]

    def moments(values):
        """Per column of `values`: (weighted mean, Σ w (v − mean)²); a sparse chunk's from its
        stored entries, never densified."""
        if weight <= 0:
            zeros = np.zeros(values.shape[1:])
            return zeros, zeros
        if sp.issparse(values):
            mean = values.T @ w / weight
            # Σ over stored entries of w (v − mean)², plus mean² times the unstored rows' weight.
            rows = np.repeat(np.arange(values.shape[0]), np.diff(values.indptr))
            stored = values.indices
            centered = np.bincount(
                stored, weights=w[rows] * (values.data - mean[stored]) ** 2, minlength=values.shape[1]
            )
            stored_weight = np.bincount(stored, weights=w[rows], minlength=values.shape[1])
            return mean, centered + mean**2 * np.maximum(weight - stored_weight, 0.0)
        mean = w @ values / weight
        return mean, w @ (values - mean) ** 2

    if classify:
        labels, codes = np.unique(y, return_inverse=True)
        response = None
        label_weights = np.bincount(codes.ravel(), weights=w, minlength=len(labels))
    else:
        labels = label_weights = None
        mean, m2 = moments(y.astype(np.float64)[:, None])
        response = (float(mean[0]), float(m2[0]))
    return {
        "rows": len(w),
        "weight_sum": weight,
        "min_positive_weight": positive.min() if len(positive) else np.inf,
        "response": response,
        "columns": moments(x),
        "labels": labels,
        "label_weights": label_weights,
    }


def _merge_moments(wa, a, wb, b):
    """Chan, Golub and LeVeque's pairwise update of (mean, Σ w (v − mean)²), elementwise."""
    if wb <= 0:
        return a
    if wa <= 0:
        return b
    w = wa + wb
    delta = b[0] - a[0]
    return a[0] + delta * wb / w, a[1] + b[1] + delta * delta * wa * wb / w


def _merge_summaries(a, b):
    wa, wb = a["weight_sum"], b["weight_sum"]
    merged = {
        "rows": a["rows"] + b["rows"],
        "weight_sum": wa + wb,
        "min_positive_weight": min(a["min_positive_weight"], b["min_positive_weight"]),
        "response": None,
        "columns": _merge_moments(wa, a["columns"], wb, b["columns"]),
        "labels": None,
        "label_weights": None,
    }
    if a["labels"] is None:
        merged["response"] = _merge_moments(wa, a["response"], wb, b["response"])
    else:
        labels = np.union1d(a["labels"], b["labels"])
        weights = np.zeros(len(labels))
        for part in (a, b):
            weights[np.searchsorted(labels, part["labels"])] += part["label_weights"]
        merged["labels"], merged["label_weights"] = labels, weights
    return merged


def _targets(y, classes, positive):
    """A classifier's response on a worker: the class index of each label (0/1 when binary),
    or 1 for the class `positive` and 0 for the rest (one-vs-rest)."""
    if classes is None:
        return y
    codes = np.searchsorted(classes, y)
    return (codes == positive).astype(np.float64) if positive is not None else codes.astype(np.float64)


def _ready(a):
    """`a` as the core reads it in place: an aligned, C-ordered float64 array (arrays a worker
    received over the network may sit at unaligned offsets of the message buffer); a sparse
    chunk as the core's (format, data, indices, indptr, shape) tuple."""
    if sp.issparse(a):
        return _mem._sparse_parts(_chunk_matrix(a))
    return np.require(a, dtype=np.float64, requirements=["C", "A"])


def _chunk_matrix(x):
    """A chunk of X as a float64 array, or as canonical float64 CSR for a scipy.sparse chunk."""
    if sp.issparse(x):
        x = sp.csr_matrix(x, dtype=np.float64)
        if not x.has_canonical_format:
            x = x.copy()
            x.sum_duplicates()
        return x
    return np.asarray(x, dtype=np.float64)


def _first_non_finite(x):
    """(row, column, value) of the first non-finite entry of a chunk, or None."""
    if sp.issparse(x):
        bad = np.flatnonzero(~np.isfinite(x.data))
        if not len(bad):
            return None
        k = bad[0]
        row = int(np.searchsorted(x.indptr, k, side="right") - 1)
        return row, int(x.indices[k]), x.data[k]
    bad = ~np.isfinite(x)
    if not bad.any():
        return None
    i, j = np.argwhere(bad)[0]
    return i, j, x[i, j]


def _chunk_statistics(x, y, w, o, theta, needs, backend, target, options):
    """One chunk's statistics as sums, a ``_core.Statistics`` (runs on a worker, in the Rust
    core); ``o``: the chunk's offsets, or None."""
    y = _targets(np.ravel(y), *target)
    offset = None if o is None else _ready(np.ravel(o))
    return _core.chunk_statistics(
        _ready(x),
        _ready(y),
        _ready(np.ravel(w)),
        _ready(theta),
        needs=needs,
        backend=backend,
        offset=offset,
        **options,
    )


def _linear_predictors(x, theta, fit_intercept):
    """η = X θ_cᵀ (+ b_c) for every class: rows × classes."""
    p = x.shape[1]
    eta = x @ theta[:, :p].T
    return eta + theta[:, p] if fit_intercept else eta


def _like_input(method):
    """A prediction method that returns NumPy for NumPy (or any other in-memory) input, computed
    at once, and a lazy Dask array for Dask input, as dask-ml's wrappers do."""

    @functools.wraps(method)
    def predict_like_input(self, X, *args, **kwargs):
        import dask

        out = method(self, X, *args, **kwargs)
        if dask.is_dask_collection(X):
            return out
        return np.asarray(out.compute())

    return predict_like_input


def _log_sum_exp(eta):
    top = eta.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(eta - top).sum(axis=1))


def _chunk_class_statistics(x, y, w, theta, c, needs, backend, classes, options):
    """Class c's binary logistic statistics on one chunk (runs on a worker): labels 1[y = c],
    each row offset by −log Σ_{l≠c} e^η_l with the other classes' η from θ (K × d)."""
    x = _ready(x)
    eta = _linear_predictors(x, theta, options["fit_intercept"])
    offset = -_log_sum_exp(np.delete(eta, c, axis=1))
    return _core.chunk_statistics(
        x,
        _ready(_targets(np.ravel(y), classes, c)),
        _ready(np.ravel(w)),
        _ready(theta[c]),
        needs=needs,
        backend=backend,
        offset=_ready(offset),
        family="logistic",
        **options,
    )


def _chunk_multinomial(x, y, w, theta, classes, fit_intercept):
    """The multinomial loss and the K × d gradients as sums over one chunk, in f64 (runs on a
    worker): Σ wᵢ (log Σ_l e^ηᵢₗ − ηᵢ,yᵢ) and Xᵀ(w ⊙ (p_c − 1[y = c])) per class."""
    x = _chunk_matrix(x)
    w = np.asarray(w, dtype=np.float64).ravel()
    codes = np.searchsorted(classes, np.ravel(y))
    eta = _linear_predictors(x, theta, fit_intercept)
    normalizer = _log_sum_exp(eta)
    loss = w @ (normalizer - eta[np.arange(len(codes)), codes])
    residual = np.exp(eta - normalizer[:, None])
    residual[np.arange(len(codes)), codes] -= 1.0
    residual *= w[:, None]
    gradient = np.asarray((x.T @ residual).T) if sp.issparse(x) else residual.T @ x
    if fit_intercept:
        gradient = np.hstack([gradient, residual.sum(axis=0)[:, None]])
    return loss, gradient


def _chunk_theta_terms(x, y, w, o, coef, intercept, theta):
    """One chunk's share of the negative binomial log-likelihood in θ at the means of
    (coef, intercept) and its first two derivatives (runs on a worker): sums of
    w [ln Γ(y+θ) − ln Γ(θ) − ln Γ(y+1) + θ ln θ + y ln μ − (θ+y) ln(θ+μ)] and of its derivatives,
    as the in-memory θ estimate (src/counts.rs) computes them."""
    from scipy.special import digamma, gammaln, polygamma

    x = _chunk_matrix(x)
    y = np.asarray(y, dtype=np.float64).ravel()
    w = np.asarray(w, dtype=np.float64).ravel()
    eta = np.asarray(x @ coef).ravel() + intercept
    if o is not None:
        eta = eta + np.asarray(o, dtype=np.float64).ravel()
    mu = np.exp(eta)
    total = theta + mu
    with np.errstate(divide="ignore", invalid="ignore"):
        y_term = np.where(y > 0, y * np.log(mu / total), 0.0)
    value = w @ (gammaln(y + theta) - gammaln(theta) - gammaln(y + 1) + theta * np.log(theta / total) + y_term)
    score = w @ (digamma(y + theta) - digamma(theta) + np.log(theta) + 1 - np.log(total) - (y + theta) / total)
    second = w @ (
        polygamma(1, y + theta) - polygamma(1, theta) + 1 / theta - 2 / total + (y + theta) / total**2
    )
    return np.array([value, score, second])


def _add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


def _add_statistics(a, b):
    """Two chunks' sums added (``_core.Statistics`` adds its own fields)."""
    return a + b


def _tree(parts, combine):
    """Pairwise reduction of delayed values (depth log₂ of the number of chunks)."""
    import dask

    combine = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        parts = [
            combine(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


class _Chunks:
    """The rows of a fit: X, y, the weights and any offsets persisted on the workers, chunk by
    chunk."""

    def __init__(self, X, y, sample_weight, offset=None):
        import dask.array as da

        # Dask DataFrames and Series: their partitions become the chunks (with known lengths).
        X, y, sample_weight, offset = (
            v.to_dask_array(lengths=True) if hasattr(v, "to_dask_array") else v
            for v in (X, y, sample_weight, offset)
        )
        X = da.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got {X.ndim} dimensions")
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        y = da.asarray(y).rechunk((X.chunks[0],))
        if sample_weight is None:
            sample_weight = da.ones(X.shape[0], chunks=(X.chunks[0],))
        w = da.asarray(sample_weight).rechunk((X.chunks[0],))
        self._graphs = (X, y, w)
        if offset is not None:
            self._graphs += (da.asarray(offset, dtype=np.float64).rechunk((X.chunks[0],)),)
        self._persist()
        self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]])
        self.n_features = X.shape[1]
        self.weight_sum = None

    def _persist(self):
        """The chunks computed and held on the workers, from their (pure) graphs."""
        import dask

        # Held here: the persisted collections own the futures that keep the chunks on the
        # workers (the delayed blocks alone do not).
        self._persisted = dask.persist(*self._graphs)
        columns = [a.to_delayed().ravel() for a in self._persisted]
        if len(columns) == 3:  # no offsets
            columns.append([None] * len(columns[0]))
        self.blocks = list(zip(*columns))

    def _compute(self, build):
        """`build(blocks).compute()`; where a worker was lost with chunks it held, the chunks
        are persisted again from their graphs and the pass repeated (its tasks are pure, so
        the result is the same)."""
        for attempt in range(_RETRIES + 1):
            try:
                return build(self.blocks).compute()
            except Exception as error:
                if attempt == _RETRIES or not _lost_worker(error):
                    raise
                self._persist()
        raise AssertionError("unreachable")

    def summary(self, classify=False, family=None):
        """The checks and the row statistics, in one pass over the chunks; for a classifier
        (`classify`) the sorted distinct labels too, as ``summary["classes"]``."""
        import dask

        summary = dask.delayed(_chunk_summary, pure=True)

        def build(blocks):
            parts = [
                summary(x, y, w, o, k, int(offset), classify, family)
                for k, ((x, y, w, o), offset) in enumerate(zip(blocks, self.offsets))
            ]
            return _tree(parts, _merge_summaries)

        s = self._compute(build)
        self.weight_sum = float(s["weight_sum"])
        response = s["response"] or (0.0, 0.0)
        return {
            "rows": int(s["rows"]),
            "weight_sum": float(s["weight_sum"]),
            "min_positive_weight": float(s["min_positive_weight"]),
            "response_mean": float(response[0]),
            "response_m2": float(response[1]),
            "column_mean": [float(v) for v in s["columns"][0]],
            "column_m2": [float(v) for v in s["columns"][1]],
            "classes": s["labels"],
            "class_weights": s["label_weights"],
        }

    @staticmethod
    def for_class(summary, weight):
        """`summary` with the response a 0/1 indicator of total weight `weight` (a class's)."""
        total = summary["weight_sum"]
        mean = weight / total
        return dict(summary, response_mean=mean, response_m2=total * mean * (1.0 - mean))

    def evaluator(self, backend, target, options):
        """The callable the core's distributed fit calls for each pass (see
        ``_core.fit_statistics``): one map over the chunks and a tree sum, returning the sums.

        ``target``: (classes, positive) mapping a classifier's labels on the workers, or
        (None, None); ``options``: the family's keyword arguments of ``chunk_statistics``."""
        import dask

        statistics = dask.delayed(_chunk_statistics, pure=True)

        def evaluate(theta, needs, in_f64):
            theta = np.array(theta, dtype=np.float64)
            device = "cpu" if in_f64 else backend

            def build(blocks):
                parts = [
                    statistics(x, y, w, o, theta, needs, device, target, options)
                    for x, y, w, o in blocks
                ]
                return _tree(parts, _add_statistics)

            return self._compute(build)

        return evaluate

    def theta_terms(self, coef, intercept, theta):
        """ℓ(θ), ℓ'(θ), ℓ''(θ) of the negative binomial at the means of (coef, intercept): one
        map over the chunks and a tree sum."""
        import dask

        terms = dask.delayed(_chunk_theta_terms, pure=True)

        def build(blocks):
            parts = [terms(x, y, w, o, coef, intercept, theta) for x, y, w, o in blocks]
            return _tree(parts, _add_statistics)

        return self._compute(build)

    def class_evaluators(self, backend, classes, fit_intercept):
        """The two callables of the core's distributed multinomial fit (see
        ``_core.fit_multinomial_statistics``): a class's pass, and the f64 multinomial loss
        and gradients, each one map over the chunks and a tree sum (the class passes' sums; the
        multinomial loss and gradients as means)."""
        import dask

        statistics = dask.delayed(_chunk_class_statistics, pure=True)
        multinomial = dask.delayed(_chunk_multinomial, pure=True)
        options = {"fit_intercept": bool(fit_intercept)}

        def evaluate_class(theta, c, needs):
            theta = np.array(theta, dtype=np.float64)

            def build(blocks):
                parts = [
                    statistics(x, y, w, theta, c, needs, backend, classes, options)
                    for x, y, w, _ in blocks
                ]
                return _tree(parts, _add_statistics)

            return self._compute(build)

        def evaluate_multinomial(theta):
            theta = np.array(theta, dtype=np.float64)

            def build(blocks):
                parts = [
                    multinomial(x, y, w, theta, classes, fit_intercept) for x, y, w, _ in blocks
                ]
                return _tree(parts, _add_pairs)

            loss, gradient = self._compute(build)
            return loss / self.weight_sum, np.asarray(gradient) / self.weight_sum

        return evaluate_class, evaluate_multinomial


def _lazy(X):
    """X as a Dask array (a DataFrame's partitions become its chunks)."""
    import dask.array as da

    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    return da.asarray(X)


class _DaskFit:
    """The fit itself, shared by the estimators: the summary pass, then the solver on the
    client over passes on the chunks."""

    def _fit_rows(self, chunks, summary, family, lam, alpha, target=(None, None)):
        """One fit of `family` at (lam, alpha) over `chunks`; `target` maps a classifier's
        labels on the workers (see `_targets`). Returns the core's result."""
        options = dict(self._family_options(), fit_intercept=bool(self.fit_intercept))
        evaluate = chunks.evaluator(self.backend, target, dict(options, family=family))
        return _core.fit_statistics(
            evaluate,
            summary,
            family=family,
            lam=lam,
            alpha=alpha,
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            **options,
        )

    def _fit_regression(self, X, y, sample_weight, family, lam_alpha, offset=None):
        chunks = _Chunks(X, y, sample_weight, offset)
        summary = chunks.summary(family=family)
        if family in ("poisson", "negative_binomial") and summary["response_mean"] <= 0:
            raise ValueError(f"every {family} count with positive weight is 0: no finite fit")
        lam, alpha = lam_alpha(summary["weight_sum"])
        result = self._fit_rows(chunks, summary, family, lam, alpha)
        self.n_features_in_ = chunks.n_features
        self.coef_ = np.asarray(result["coef"])
        self.intercept_ = float(result["intercept"])
        self._record(result)
        return self

    def _linear(self, X, offset=None):
        eta = _lazy(X).dot(self.coef_) + self.intercept_
        if offset is not None:
            import dask.array as da

            offset = offset.to_dask_array(lengths=True) if hasattr(offset, "to_dask_array") else offset
            eta = eta + da.asarray(offset, dtype=np.float64).rechunk(eta.chunks)
        return eta


def _theta_ml(chunks, coef, intercept, theta):
    """θ maximizing the negative binomial likelihood at the means of (coef, intercept), from
    `theta`: Newton's method on ln θ with step halving, each step one pass over the chunks
    (the in-memory estimate's iteration, src/counts.rs)."""
    value, score, second = chunks.theta_terms(coef, intercept, theta)
    for _ in range(200):
        first_t, second_t = theta * score, theta * score + theta * theta * second
        step = -first_t / second_t if second_t < 0 else np.sign(first_t)
        step = float(np.clip(step, -2.0, 2.0))
        for _ in range(60):
            candidate = min(theta * np.exp(step), _THETA_MAX)
            terms = chunks.theta_terms(coef, intercept, candidate)
            if terms[0] >= value:
                break
            step *= 0.5
        else:
            return theta
        change = abs(candidate - theta) / theta
        theta, (value, score, second) = candidate, terms
        if change <= 1e-13 or theta >= _THETA_MAX:
            break
    return theta


# As the in-memory estimate: beyond this θ the counts show no overdispersion to resolve.
_THETA_MAX = 1e10


class _DaskClassifier(_DaskFit):
    """Classifiers on Dask arrays: any labels (the classes are gathered in the first pass);
    two classes are one fit, more are fitted as the in-memory class fits them."""

    def fit(self, X, y, sample_weight=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows."""
        self._check_common()
        chunks = _Chunks(X, y, sample_weight)
        summary = chunks.summary(classify=True)
        classes, class_weights = summary["classes"], summary["class_weights"]
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}"
            )
        self.classes_ = classes
        self.n_features_in_ = chunks.n_features
        lam, alpha = self._lam_alpha(summary["weight_sum"])
        if len(classes) == 2:
            binary = _Chunks.for_class(summary, class_weights[1])
            result = self._fit_rows(chunks, binary, self._family, lam, alpha, (classes, None))
            self.coef_ = np.asarray(result["coef"])[np.newaxis, :]
            self.intercept_ = np.array([result["intercept"]])
            self._record(result)
            return self
        return self._fit_classes(chunks, summary, lam, alpha)

    def _fit_classes(self, chunks, summary, lam, alpha):
        """K > 2 classes, one-vs-rest: one fit per class, the records joined as the in-memory
        one-vs-rest fit joins them."""
        fits = [
            self._fit_rows(
                chunks,
                _Chunks.for_class(summary, weight),
                self._family,
                lam,
                alpha,
                (self.classes_, c),
            )
            for c, weight in enumerate(summary["class_weights"])
        ]
        self.coef_ = np.array([f["coef"] for f in fits])
        self.intercept_ = np.array([f["intercept"] for f in fits])
        failed = [f["termination"] for f in fits if f["termination"] != "Converged"]
        self._record(
            {
                "n_iter": sum(f["n_iter"] for f in fits),
                "objective": sum(f["objective"] for f in fits),
                "kkt_violation": max(f["kkt_violation"] for f in fits),
                "termination": failed[0] if failed else "Converged",
                "backend": fits[0]["backend"],
            }
        )
        return self

    def _linear(self, X):
        eta = _lazy(X).dot(self.coef_.T) + self.intercept_
        return eta[:, 0] if eta.shape[1] == 1 else eta

    @_like_input
    def decision_function(self, X):
        """η per row (one column per class when K > 2; lazily for Dask input)."""
        return self._linear(X)

    @_like_input
    def predict(self, X):
        """The predicted label per row (lazily for Dask input)."""
        eta = self._linear(X)
        classes = self.classes_
        if eta.ndim == 1:
            return eta.map_blocks(lambda e: classes[(e > 0).astype(int)], dtype=classes.dtype)
        return eta.map_blocks(
            lambda e: classes[np.argmax(e, axis=1)], drop_axis=1, dtype=classes.dtype
        )


class LogisticRegression(_DaskClassifier, _mem.LogisticRegression):
    """:class:`scalemix.LogisticRegression` on Dask arrays: the same objective, parameters and
    attributes. Predictions are Dask arrays, computed lazily chunk by chunk."""

    def _fit_classes(self, chunks, summary, lam, alpha):
        """K > 2 classes: the symmetric multinomial, as in memory."""
        evaluate_class, multinomial = chunks.class_evaluators(
            self.backend, self.classes_, self.fit_intercept
        )
        result = _core.fit_multinomial_statistics(
            evaluate_class,
            multinomial,
            summary,
            [float(v) for v in summary["class_weights"]],
            lam=lam,
            alpha=alpha,
            fit_intercept=bool(self.fit_intercept),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
        )
        self.coef_ = np.asarray(result["coef"])
        self.intercept_ = np.asarray(result["intercept"])
        self._record(result)
        return self

    @_like_input
    def predict_proba(self, X):
        """Class probabilities per row (sigmoid when binary, softmax otherwise; lazily for Dask
        input)."""
        import dask.array as da

        eta = self._linear(X)
        if eta.ndim == 1:
            p = 1.0 / (1.0 + da.exp(-eta))
            return da.stack([1.0 - p, p], axis=1)

        def softmax(e):
            e = np.exp(e - e.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        return eta.map_blocks(softmax, dtype=np.float64)


class LinearSVC(_DaskClassifier, _mem.LinearSVC):
    """:class:`scalemix.LinearSVC` (hinge loss) on Dask arrays; K > 2 classes one-vs-rest, as
    in memory."""


class _DaskRegressor(_DaskFit):
    def fit(self, X, y, sample_weight=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows."""
        self._check_common()
        return self._fit_regression(X, y, sample_weight, self._family, self._lam_alpha)

    @_like_input
    def predict(self, X):
        """X @ coef_ + intercept_ (lazily for Dask input)."""
        return self._linear(X)


class Lasso(_DaskRegressor, _mem.Lasso):
    """:class:`scalemix.Lasso` on Dask arrays."""


class ElasticNet(_DaskRegressor, _mem.ElasticNet):
    """:class:`scalemix.ElasticNet` on Dask arrays."""


class Ridge(_DaskRegressor, _mem.Ridge):
    """:class:`scalemix.Ridge` on Dask arrays."""


class QuantileRegressor(_DaskRegressor, _mem.QuantileRegressor):
    """:class:`scalemix.QuantileRegressor` on Dask arrays."""


class GLM(_DaskFit, _mem.GLM):
    """:class:`scalemix.GLM` on Dask arrays: every family but binomial, Student-t with its σ
    given, the negative binomial with θ given or estimated (between fits, each θ step one pass
    over the chunks); an ``offset`` per row (a Dask array chunked
    like y, or in memory); ``standardize`` is not offered (the design is fitted as given), nor
    is the inference table."""

    # The core's table of family names; binomial rows need trials, which Dask fits do not read.
    _FAMILIES = tuple(f for f in _core.families() if f != "binomial")

    def _family_options(self):
        return {
            "quantile": float(self.quantile),
            "nu": float(self.nu),
            "sigma": None if self.sigma is None else float(self.sigma),
            "nb_theta": None if self.theta is None else float(self.theta),
        }

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows;
        ``offset`` is added to each row's linear predictor."""
        self._check_common()
        if self.family.replace("-", "_") not in self._FAMILIES:
            raise ValueError(
                f"distributed GLM fits take family {', '.join(map(repr, self._FAMILIES))}; "
                f"got {self.family!r}"
            )
        if self.family.replace("-", "_") == "student_t" and self.sigma is None:
            raise ValueError("distributed student_t fits need sigma (it is not estimated)")

        if self.standardize:
            raise ValueError("distributed fits take the design as given: standardize=False")
        family = self.family.replace("-", "_")
        lam_alpha = lambda _w: (float(self.lam), float(self.alpha))  # noqa: E731
        if family == "negative_binomial" and self.theta is None:
            return self._fit_negative_binomial(X, y, sample_weight, offset, lam_alpha)
        return self._fit_regression(X, y, sample_weight, family, lam_alpha, offset)

    def _fit_negative_binomial(self, X, y, sample_weight, offset, lam_alpha):
        """θ estimated as in memory (R's MASS::glm.nb): fits at fixed θ alternating with θ's
        maximum likelihood at the fitted means, until θ moves by less than 1e-10 relative."""
        chunks = _Chunks(X, y, sample_weight, offset)
        summary = chunks.summary(family="negative_binomial")
        if summary["response_mean"] <= 0:
            raise ValueError("every negative_binomial count with positive weight is 0: no finite fit")
        lam, alpha = lam_alpha(summary["weight_sum"])
        # MASS's start at the mean: n / Σ w (y/μ − 1)² = W μ² / Σ w (y − μ)².
        mean, spread = summary["response_mean"], summary["response_m2"]
        theta = float(np.clip(summary["weight_sum"] * mean**2 / max(spread, 1e-300), 1e-4, 1e6))
        rounds = 0
        while True:
            self.theta = theta
            result = self._fit_rows(chunks, summary, "negative_binomial", lam, alpha)
            rounds += 1
            coef, intercept = np.asarray(result["coef"]), float(result["intercept"])
            following = _theta_ml(chunks, coef, intercept if self.fit_intercept else 0.0, theta)
            if abs(following - theta) <= 1e-10 * theta or rounds >= 200:
                break
            theta = following
        self.theta = None  # the parameter as given; the estimate is theta_
        self.theta_ = theta
        self.n_features_in_ = chunks.n_features
        self.coef_ = coef
        self.intercept_ = intercept
        self._record(result)
        return self

    @_like_input
    def linear_predictor(self, X, offset=None):
        """offset + X @ coef_ + intercept_ (lazily for Dask input)."""
        return self._linear(X, offset)

    @_like_input
    def predict(self, X, offset=None):
        """The response scale: P(y = 1) for logistic, the mean count for Poisson and the
        negative binomial, η otherwise (lazily for Dask input)."""
        import dask.array as da

        eta = self._linear(X, offset)
        family = self.family.replace("-", "_")
        if family == "logistic":
            return 1.0 / (1.0 + da.exp(-eta))
        if family in ("poisson", "negative_binomial"):
            return da.exp(eta)
        return eta

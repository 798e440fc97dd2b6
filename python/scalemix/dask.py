"""Distributed fits on Dask: the estimators of :mod:`scalemix` on Dask arrays chunked by rows.

Each pass maps every chunk to its partial statistics — Σ w loss, Σ w ℓ' x and Σ w ω x xᵀ,
computed by the Rust core inside the worker that holds the chunk — and adds them with a tree
reduction; the solver (M-step, acceleration, stopping) runs on the client. The chunks stay
persisted on the workers and only d × d results travel. The tasks are pure, so a worker lost
mid-fit is survived: its chunks and their statistics are recomputed elsewhere, with the same
result.

Families: logistic (``LogisticRegression``, binary), gaussian (``Lasso``, ``ElasticNet``,
``Ridge``) and ``GLM`` with either; the design is fitted as given (no internal rescaling). X, y
and the weights may be Dask arrays or Dask DataFrames and Series (their partitions become the
chunks).
"""

import numpy as np

from . import _core
from . import _estimators as _mem

__all__ = ["ElasticNet", "GLM", "Lasso", "LogisticRegression", "Ridge"]


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


def _chunk_summary(x, y, w, index, offset, family):
    """One chunk's checks and sums (runs on a worker): errors name the chunk and the row."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    w = np.asarray(w, dtype=np.float64).ravel()
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"chunk {index}, row {offset + i} (row {i} of the chunk), column {j}: "
            f"{x[i, j]} is not finite"
        )
    for name, values in (("y", y), ("sample_weight", w)):
        if not np.isfinite(values).all():
            i = int(np.argmin(np.isfinite(values)))
            raise ValueError(f"chunk {index}, row {offset + i}: {name} is {values[i]}")
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(f"chunk {index}, row {offset + i}: negative sample weight {w[i]}")
    if family == "logistic" and not np.isin(y, (0.0, 1.0)).all():
        i = int(np.argmax(~np.isin(y, (0.0, 1.0))))
        raise ValueError(f"chunk {index}, row {offset + i}: label {y[i]} is not 0 or 1")
    weight = w.sum()
    positive = w[w > 0]

    def moments(values):
        if weight <= 0:
            return 0.0, 0.0
        mean = values @ w / weight
        return mean, ((values - mean) ** 2) @ w

    columns = [moments(x[:, j]) for j in range(x.shape[1])]
    return {
        "rows": len(y),
        "weight_sum": weight,
        "min_positive_weight": positive.min() if len(positive) else np.inf,
        "response": moments(y),
        "columns": columns,
    }


def _merge_moments(wa, a, wb, b):
    """Chan, Golub and LeVeque's pairwise update of (mean, Σ w (v − mean)²)."""
    if wb <= 0:
        return a
    if wa <= 0:
        return b
    w = wa + wb
    delta = b[0] - a[0]
    return a[0] + delta * wb / w, a[1] + b[1] + delta * delta * wa * wb / w


def _merge_summaries(a, b):
    wa, wb = a["weight_sum"], b["weight_sum"]
    return {
        "rows": a["rows"] + b["rows"],
        "weight_sum": wa + wb,
        "min_positive_weight": min(a["min_positive_weight"], b["min_positive_weight"]),
        "response": _merge_moments(wa, a["response"], wb, b["response"]),
        "columns": [_merge_moments(wa, ca, wb, cb) for ca, cb in zip(a["columns"], b["columns"])],
    }


def _chunk_statistics(x, y, w, theta, family, fit_intercept, needs):
    """One chunk's statistics as sums (runs on a worker, in the Rust core)."""
    # Arrays a worker received over the network may sit at unaligned offsets of the message
    # buffer: aligned, C-ordered float64 copies of the chunk where needed.
    def ready(a):
        return np.require(a, dtype=np.float64, requirements=["C", "A"])

    return _core.chunk_statistics(
        ready(x),
        ready(np.ravel(y)),
        ready(np.ravel(w)),
        ready(theta),
        family=family,
        fit_intercept=fit_intercept,
        needs=needs,
    )


def _add_statistics(a, b):
    gram = None if a[3] is None else a[3] + b[3]
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], gram


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
    """The rows of a fit: X, y and the weights persisted on the workers, chunk by chunk."""

    def __init__(self, X, y, sample_weight, family, fit_intercept):
        import dask.array as da

        # Dask DataFrames and Series: their partitions become the chunks (with known lengths).
        X, y, sample_weight = (
            v.to_dask_array(lengths=True) if hasattr(v, "to_dask_array") else v
            for v in (X, y, sample_weight)
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
        self._persist()
        self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]])
        self.n_features = X.shape[1]
        self.family = family
        self.fit_intercept = fit_intercept
        self.weight_sum = None

    def _persist(self):
        """The chunks computed and held on the workers, from their (pure) graphs."""
        import dask

        # Held here: the persisted collections own the futures that keep the chunks on the
        # workers (the delayed blocks alone do not).
        self._persisted = dask.persist(*self._graphs)
        X, y, w = self._persisted
        self.blocks = list(
            zip(X.to_delayed().ravel(), y.to_delayed().ravel(), w.to_delayed().ravel())
        )

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

    def summary(self):
        """The checks and the row statistics, in one pass over the chunks."""
        import dask

        summary = dask.delayed(_chunk_summary, pure=True)
        def build(blocks):
            parts = [
                summary(x, y, w, k, int(offset), self.family)
                for k, ((x, y, w), offset) in enumerate(zip(blocks, self.offsets))
            ]
            return _tree(parts, _merge_summaries)

        s = self._compute(build)
        self.weight_sum = s["weight_sum"]
        return {
            "rows": int(s["rows"]),
            "weight_sum": float(s["weight_sum"]),
            "min_positive_weight": float(s["min_positive_weight"]),
            "response_mean": float(s["response"][0]),
            "response_m2": float(s["response"][1]),
            "column_mean": [float(c[0]) for c in s["columns"]],
            "column_m2": [float(c[1]) for c in s["columns"]],
        }

    def evaluate(self, theta, needs):
        """The mean statistics at θ over every row: one map over the chunks and a tree sum."""
        import dask

        statistics = dask.delayed(_chunk_statistics, pure=True)
        theta = np.array(theta, dtype=np.float64)

        def build(blocks):
            parts = [
                statistics(x, y, w, theta, self.family, self.fit_intercept, needs)
                for x, y, w in blocks
            ]
            return _tree(parts, _add_statistics)

        weight, loss, gradient, gram = self._compute(build)
        w = self.weight_sum
        return loss / w, np.asarray(gradient) / w, None if gram is None else np.asarray(gram) / w


class _DaskFit:
    """The fit itself, shared by the estimators: summary, then the solver over the chunks."""

    def _fit_chunks(self, X, y, sample_weight, family, lam_alpha, **options):
        chunks = _Chunks(X, y, sample_weight, family, bool(self.fit_intercept))
        summary = chunks.summary()
        lam, alpha = lam_alpha(summary["weight_sum"])
        result = _core.fit_statistics(
            chunks.evaluate,
            summary,
            family=family,
            lam=lam,
            alpha=alpha,
            fit_intercept=bool(self.fit_intercept),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            **options,
        )
        self.n_features_in_ = chunks.n_features
        self.coef_ = np.asarray(result["coef"])
        self.intercept_ = float(result["intercept"])
        self._record(result)
        return self

    def _linear(self, X):
        import dask.array as da

        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array(lengths=True)
        return da.asarray(X).dot(self.coef_) + self.intercept_


class LogisticRegression(_DaskFit, _mem.LogisticRegression):
    """:class:`scalemix.LogisticRegression` on Dask arrays (binary labels 0/1).

    The objective, parameters and attributes are those of the in-memory class; ``classes_`` is
    ``[0, 1]``. Predictions are Dask arrays, computed lazily chunk by chunk.
    """

    def fit(self, X, y, sample_weight=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows."""
        self._check_common()
        self.classes_ = np.array([0.0, 1.0])
        self._fit_chunks(X, y, sample_weight, "logistic", self._lam_alpha)
        self.coef_ = self.coef_[np.newaxis, :]
        self.intercept_ = np.array([self.intercept_])
        return self

    def _linear(self, X):
        import dask.array as da

        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array(lengths=True)
        return da.asarray(X).dot(self.coef_[0]) + self.intercept_[0]

    def decision_function(self, X):
        """η per row, lazily."""
        return self._linear(X)

    def predict_proba(self, X):
        """(1 − p, p) per row, lazily."""
        import dask.array as da

        p = 1.0 / (1.0 + da.exp(-self._linear(X)))
        return da.stack([1.0 - p, p], axis=1)

    def predict(self, X):
        """The label (0 or 1) per row, lazily."""
        return (self._linear(X) > 0).astype(np.float64)


class _DaskRegressor(_DaskFit):
    def fit(self, X, y, sample_weight=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows."""
        self._check_common()
        return self._fit_chunks(X, y, sample_weight, "gaussian", self._lam_alpha)

    def predict(self, X):
        """X @ coef_ + intercept_, lazily."""
        return self._linear(X)


class Lasso(_DaskRegressor, _mem.Lasso):
    """:class:`scalemix.Lasso` on Dask arrays."""


class ElasticNet(_DaskRegressor, _mem.ElasticNet):
    """:class:`scalemix.ElasticNet` on Dask arrays."""


class Ridge(_DaskRegressor, _mem.Ridge):
    """:class:`scalemix.Ridge` on Dask arrays."""


class GLM(_DaskFit, _mem.GLM):
    """:class:`scalemix.GLM` on Dask arrays: the gaussian and logistic families."""

    def fit(self, X, y, sample_weight=None):
        """Fits on Dask arrays (or anything ``dask.array.asarray`` takes), chunked by rows."""
        self._check_common()
        if self.family not in ("gaussian", "logistic"):
            raise ValueError(
                f"distributed GLM fits take family 'gaussian' or 'logistic', got {self.family!r}"
            )
        if self.standardize:
            raise ValueError("distributed fits take the design as given: standardize=False")
        return self._fit_chunks(
            X, y, sample_weight, self.family, lambda _w: (float(self.lam), float(self.alpha))
        )

    def predict(self, X):
        """The response scale, lazily."""
        import dask.array as da

        eta = self._linear(X)
        return 1.0 / (1.0 + da.exp(-eta)) if self.family == "logistic" else eta

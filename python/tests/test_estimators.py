"""The estimators against scikit-learn's on shared problems, scikit-learn's own estimator
checks, and the core's errors as Python exceptions."""

import pickle

import numpy as np
import pytest
import sklearn
from sklearn import linear_model, svm
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import scalemix

SKLEARN = tuple(int(v) for v in sklearn.__version__.split(".")[:2])


def problem(n=300, p=6, seed=0, classification=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * (1.0 + np.arange(p))
    beta = np.where(np.arange(p) % 2 == 0, 0.7, -0.4) / (1.0 + np.arange(p))
    eta = X @ beta + 0.3
    if classification:
        y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    else:
        y = eta + 0.5 * rng.standard_normal(n)
    return X, y


def logistic_objective(est, X, y, C, penalty, l1_ratio=None):
    """scikit-learn's LogisticRegression objective, divided by C n."""
    eta = X @ est.coef_.ravel() + est.intercept_[0]
    loss = np.mean(np.logaddexp(0.0, eta) - y * eta)
    b = est.coef_.ravel()
    pen = {"l2": 0.5 * b @ b, "l1": np.abs(b).sum()}.get(penalty)
    if penalty == "elasticnet":
        pen = l1_ratio * np.abs(b).sum() + 0.5 * (1 - l1_ratio) * b @ b
    return loss + pen / (C * len(y))


@pytest.mark.parametrize(
    "penalty, l1_ratio, solver",
    [("l2", None, "lbfgs"), ("l1", None, "saga"), ("elasticnet", 0.5, "saga")],
)
def test_logistic_regression_matches_scikit_learn(penalty, l1_ratio, solver):
    X, y = problem(classification=True)
    C = 0.5
    ours = scalemix.LogisticRegression(penalty=penalty, C=C, l1_ratio=l1_ratio, backend="cpu")
    ours.fit(X, y)
    kwargs = dict(C=C, solver=solver, tol=1e-12, max_iter=100_000)
    if SKLEARN >= (1, 8):
        # scikit-learn 1.8 deprecated `penalty`: the mix is l1_ratio alone.
        kwargs["l1_ratio"] = {"l2": 0.0, "l1": 1.0, "elasticnet": l1_ratio}[penalty]
    else:
        kwargs["penalty"] = penalty
        if l1_ratio is not None:
            kwargs["l1_ratio"] = l1_ratio
    theirs = linear_model.LogisticRegression(**kwargs).fit(X, y)
    ours_f = logistic_objective(ours, X, y, C, penalty, l1_ratio)
    theirs_f = logistic_objective(theirs, X, y, C, penalty, l1_ratio)
    assert ours_f <= theirs_f + 1e-12 * abs(theirs_f)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.termination_ == "Converged"
    assert ours.kkt_violation_ < 1e-8


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_multinomial_logistic_regression_matches_scikit_learn(l1_ratio):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 4))
    scores = X @ rng.standard_normal((4, 3))
    y = np.array(["a", "b", "c"])[np.argmax(scores + rng.gumbel(size=scores.shape), axis=1)]
    C = 0.5
    penalty = "l2" if l1_ratio == 0.0 else "l1"
    ours = scalemix.LogisticRegression(penalty=penalty, C=C, backend="cpu").fit(X, y)
    kwargs = dict(C=C, solver="saga" if l1_ratio else "lbfgs", tol=1e-12, max_iter=200_000)
    if SKLEARN >= (1, 8):
        kwargs["l1_ratio"] = l1_ratio
    else:
        kwargs["penalty"] = penalty
    theirs = linear_model.LogisticRegression(**kwargs).fit(X, y)

    def objective(est):
        eta = X @ est.coef_.T + est.intercept_
        codes = np.searchsorted(est.classes_, y)
        loss = np.mean(np.logaddexp.reduce(eta, axis=1) - eta[np.arange(len(y)), codes])
        b = est.coef_
        pen = np.abs(b).sum() if l1_ratio else 0.5 * (b * b).sum()
        return loss + pen / (C * len(y))

    assert objective(ours) <= objective(theirs) + 1e-12
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_regressors_match_scikit_learn():
    X, y = problem()
    w = np.linspace(0.5, 2.0, len(y))
    cases = [
        (scalemix.Lasso(alpha=0.05), linear_model.Lasso(alpha=0.05, tol=1e-14, max_iter=100_000)),
        (
            scalemix.ElasticNet(alpha=0.05, l1_ratio=0.3),
            linear_model.ElasticNet(alpha=0.05, l1_ratio=0.3, tol=1e-14, max_iter=100_000),
        ),
        (scalemix.Ridge(alpha=3.0), linear_model.Ridge(alpha=3.0)),
    ]
    for ours, theirs in cases:
        ours.set_params(backend="cpu")
        for weights in (None, w):
            ours.fit(X, y, sample_weight=weights)
            theirs.fit(X, y, sample_weight=weights)
            np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-6)


def test_quantile_regressor_matches_scikit_learn():
    X, y = problem(n=200)
    ours = scalemix.QuantileRegressor(quantile=0.3, alpha=0.01, backend="cpu").fit(X, y)
    theirs = linear_model.QuantileRegressor(quantile=0.3, alpha=0.01, solver="highs").fit(X, y)

    def objective(est):
        r = y - est.predict(X)
        return np.mean(r * (0.3 - (r < 0))) + 0.01 * np.abs(est.coef_).sum()

    assert objective(ours) <= objective(theirs) + 1e-9
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-6)


def test_linear_svc_reaches_the_hinge_optimum_with_an_unpenalized_intercept():
    X, y = problem(classification=True)
    C = 0.1
    ours = scalemix.LinearSVC(C=C, backend="cpu").fit(X, y)
    # The same problem, intercept unpenalized: libsvm's SVC with a linear kernel solves
    # ½‖w‖² + C Σ max(0, 1 − yᵢ(wᵀxᵢ + b)) through its dual, to a tight tolerance.
    theirs = svm.SVC(kernel="linear", C=C, tol=1e-12, shrinking=False).fit(X, y)

    def objective(coef, intercept):
        s = 2 * y - 1
        margin = s * (X @ coef + intercept)
        return np.mean(np.maximum(0, 1 - margin)) + 0.5 * coef @ coef / (C * len(y))

    ours_f = objective(ours.coef_.ravel(), ours.intercept_[0])
    theirs_f = objective(theirs.coef_.ravel(), theirs.intercept_[0])
    assert ours_f <= theirs_f + 1e-10 * theirs_f, (ours_f, theirs_f)
    # The optimum is unique in w (ridge): the coefficients agree to libsvm's accuracy, and the
    # intercepts too.
    np.testing.assert_allclose(ours.coef_.ravel(), theirs.coef_.ravel(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_[0], theirs.intercept_[0], atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


ESTIMATORS = [
    scalemix.LogisticRegression(backend="cpu"),
    scalemix.LinearSVC(backend="cpu"),
    scalemix.Lasso(alpha=0.01, backend="cpu"),
    scalemix.ElasticNet(alpha=0.01, backend="cpu"),
    scalemix.Ridge(backend="cpu"),
    scalemix.QuantileRegressor(alpha=0.01, backend="cpu"),
    scalemix.GLM(lam=0.01, backend="cpu"),
    scalemix.PoissonRegressor(alpha=0.01, backend="cpu"),
]


# The one check allowed to skip: array-API inputs (CuPy, PyTorch tensors) are not accepted; X
# is converted to a NumPy float64 array. Every other check must run and pass.
ALLOWED_SKIPS = {"check_array_api_input"}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_scikit_learn_estimator_checks(estimator):
    outcomes = []

    def record(**result):
        outcomes.append((result["check_name"], result["status"], result.get("exception")))

    check_estimator(estimator, on_skip=None, on_fail=None, callback=record)
    failed = [(name, repr(e)) for name, status, e in outcomes if status == "failed"]
    assert not failed, f"checks failed: {failed}"
    skipped = {name for name, status, _ in outcomes if status == "skipped"}
    assert skipped <= ALLOWED_SKIPS, f"checks skipped: {sorted(skipped - ALLOWED_SKIPS)}"
    assert len(outcomes) > 40


def test_pipeline_grid_search_and_pickle():
    X, y = problem(classification=True)
    pipe = make_pipeline(StandardScaler(), scalemix.LogisticRegression(backend="cpu"))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.6
    est = scalemix.Lasso(alpha=0.05, backend="cpu").fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert again.get_params() == est.get_params()


def test_every_memory_layout_gives_the_fit_of_its_values():
    X, y = problem()
    reference = scalemix.Ridge(alpha=1.0, backend="cpu").fit(np.ascontiguousarray(X), y)
    # X in the even columns of a wider array, other values in the odd ones.
    wide = np.full((X.shape[0], 2 * X.shape[1]), 1e6)
    wide[:, ::2] = X
    layouts = {
        "F order": np.asfortranarray(X),
        # Every second column of the wider array: neither C nor F contiguous.
        "column stride 2": wide[:, ::2],
        # Every second row, columns reversed: a negative stride.
        "row stride 2": np.repeat(X, 2, axis=0)[::2],
        # Rows stored bottom to top: a negative stride.
        "negative row stride": np.ascontiguousarray(X[::-1])[::-1],
    }
    for name, data in layouts.items():
        np.testing.assert_array_equal(data, X)  # the same values, laid out differently
        fit = scalemix.Ridge(alpha=1.0, backend="cpu").fit(data, y)
        np.testing.assert_allclose(fit.coef_, reference.coef_, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(fit.intercept_, reference.intercept_, rtol=1e-12, err_msg=name)
    f32 = scalemix.Ridge(alpha=1.0, backend="cpu").fit(X.astype(np.float32), y)
    np.testing.assert_allclose(f32.coef_, reference.coef_, rtol=1e-5)


def test_bad_input_is_a_value_error_naming_the_problem():
    X, y = problem(classification=True)
    y3 = y.copy()
    y3[5] = 0.5
    with pytest.raises(ValueError, match="row 5"):
        scalemix.GLM(family="logistic", backend="cpu").fit(X, y3)
    with pytest.raises(ValueError, match="weight"):
        scalemix.Lasso(backend="cpu").fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="family"):
        scalemix.GLM(family="gamma").fit(X, y)


def test_path_and_cv_return_arrays():
    X, y = problem(classification=True)
    p = scalemix.path(X, y, family="logistic", alpha=1.0, n_lambda=10, backend="cpu")
    assert p["coef"].shape == (len(p["lambdas"]), X.shape[1])
    assert np.all(np.diff(p["lambdas"]) < 0)
    assert np.all(p["coef"][0] == 0)
    c = scalemix.cv(X, y, family="logistic", alpha=1.0, n_lambda=10, folds=3, backend="cpu")
    assert c["mean"].shape == c["lambdas"].shape
    assert c["lambda_1se"] >= c["lambda_min"]


# A child process that fits a logistic ridge on X of 200 000 × 50 (C or F order) and prints
# how far its resident memory rose above where it stood when the fit began, and |X|. Linux:
# writing 5 to /proc/self/clear_refs resets the peak (VmHWM) to the current resident size, so
# the earlier allocations (X itself, imports) are out of the measure.
_PEAK_GROWTH = """
import sys
import numpy as np
from scalemix import _core

def status(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))

order = sys.argv[1]
n, p = 200_000, 50
X = np.asarray(np.random.default_rng(0).standard_normal((n, p)), order="F" if order == "F" else "C")
y = (X[:, 0] > 0).astype(float)
X.sum(); y.sum()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
# "copy": the probe's own check, a copy of X made inside the measured window.
data = X.copy() if order == "copy" else X
_core.fit(data, y, family="logistic", lam=1e-2, backend="cpu", max_iter=3)
print(status("VmHWM") - before, n * p * 8)
"""


def _peak_growth(order):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _PEAK_GROWTH, order], capture_output=True, text=True, check=True
    )
    growth, x_bytes = map(int, out.stdout.split())
    return growth, x_bytes


def test_x_is_read_in_place_not_copied_by_the_core():
    import os

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("measuring a fit's peak memory needs Linux's /proc/self/clear_refs")
    # The peak resident memory of a child process sees every allocation, Rust's included
    # (tracemalloc sees only Python's): a fit on C or F order X raises it by far less than X,
    # where a copy of X (80 MB) would add as much again.
    for order in ("C", "F"):
        growth, x_bytes = _peak_growth(order)
        assert growth < x_bytes / 4, f"{order} order: peak grew by {growth} bytes, X is {x_bytes}"
    # The probe sees a copy of X made inside its window, so it would see the core's.
    growth, x_bytes = _peak_growth("copy")
    assert growth >= x_bytes * 0.9, f"a copy grew the peak by only {growth} bytes, X is {x_bytes}"


def test_the_gil_is_released_while_the_core_fits():
    import threading
    import time

    from scalemix import _core

    rng = np.random.default_rng(3)
    X = rng.standard_normal((300_000, 40))
    y = (X[:, 0] + rng.standard_normal(len(X)) > 0).astype(float)
    # A pure-Python thread that records the time at every turn of its loop.
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.perf_counter())

    worker = threading.Thread(target=tick)
    worker.start()
    time.sleep(0.05)
    # The Rust call alone, between two clock readings (no Python-side checks inside).
    start = time.perf_counter()
    result = _core.fit(X, y, family="logistic", lam=1e-6, backend="cpu", tol=1e-14)
    end = time.perf_counter()
    stop.set()
    worker.join()
    assert end - start > 0.2, f"the fit took {end - start:.3f} s: too short to tell"
    inside = [start] + [t for t in ticks if start < t < end] + [end]
    longest_pause = max(b - a for a, b in zip(inside, inside[1:]))
    # Holding the GIL through the fit would stall the other thread for all of it; released,
    # it pauses at most for the interpreter's switch interval (5 ms) and the call's own
    # entry and exit.
    assert longest_pause < 0.25 * (end - start), (
        f"the other thread stood still for {longest_pause:.3f} s of the {end - start:.3f} s "
        f"fit ({result['elapsed']:.3f} s in the core): the GIL was held"
    )

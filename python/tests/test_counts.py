"""Count models from Python: Poisson and negative binomial fits against R's published results
(the data and figures of tests/fixtures/counts/), scikit-learn's PoissonRegressor, offsets, the
inference table, and bad offsets."""

import json
import pathlib

import numpy as np
import pytest
from sklearn.linear_model import PoissonRegressor as SkPoissonRegressor

import scalemix

COUNTS = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "counts"


def published(name):
    record = json.loads((COUNTS / "counts.json").read_text())[name]
    data = np.loadtxt(COUNTS / record["file"], delimiter=",", skiprows=1)
    return record, data[:, :-1], data[:, -1]


def test_poisson_glm_with_an_offset_equals_r():
    record, X, y = published("cpunish_poisson_offset")
    offset = np.full(len(y), record["offset"])
    model = scalemix.GLM("poisson", backend="cpu").fit(X, y, offset=offset)
    np.testing.assert_allclose(model.coef_, record["coef"], rtol=1e-6)
    np.testing.assert_allclose(model.intercept_, record["intercept"], rtol=1e-6)
    np.testing.assert_allclose(model.bse_, record["se"], rtol=5e-4)  # R printed 4 digits
    full = published("cpunish_poisson")[0]
    np.testing.assert_allclose(model.deviance_, full["deviance"], rtol=1e-12)
    np.testing.assert_allclose(model.aic_, full["aic"], rtol=1e-12)
    assert "Null deviance" in model.summary() and "Pr(>|z|)" in model.summary()
    # The same rows with offset log 100 predict R's fitted means; with log 200, twice them.
    fitted = model.predict(X, offset=offset)
    np.testing.assert_allclose(fitted[:3], [35.2263655, 8.1965744, 1.3118966], rtol=1e-6)
    np.testing.assert_allclose(model.predict(X, offset=offset + np.log(2.0)), 2.0 * fitted)


def test_negative_binomial_theta_equals_glm_nb():
    record, X, y = published("randhie_negative_binomial")
    model = scalemix.GLM("negative_binomial", backend="cpu").fit(X, y)
    np.testing.assert_allclose(model.theta_, np.exp(-record["log_alpha"]), rtol=1e-8)
    np.testing.assert_allclose(model.coef_, record["coef"], rtol=1e-6)
    np.testing.assert_allclose(model.bse_, record["se"], rtol=1e-6)
    assert model.theta_bse_ > 0
    fixed = scalemix.GLM("negative_binomial", theta=model.theta_, backend="cpu").fit(X, y)
    np.testing.assert_allclose(fixed.coef_, model.coef_, rtol=1e-9)
    assert not hasattr(fixed, "theta_bse_")  # θ was given


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_poisson_regressor_matches_scikit_learn(alpha):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    y = rng.poisson(np.exp(0.3 + X @ [0.4, -0.3, 0.0, 0.2, 0.1]))
    w = rng.uniform(0.5, 2.0, size=400)
    ours = scalemix.PoissonRegressor(alpha=alpha, backend="cpu").fit(X, y, sample_weight=w)
    theirs = SkPoissonRegressor(alpha=alpha, tol=1e-12, max_iter=10_000, solver="newton-cholesky")
    theirs.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-7)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)
    # The table: z = estimate / standard error; Wald intervals at ±1.96 SE.
    np.testing.assert_allclose(ours.zvalues_, ours.coef_ / ours.bse_)
    np.testing.assert_allclose(ours.conf_int_[:, 1] - ours.coef_, 1.959963984540054 * ours.bse_)


def test_an_offset_shifts_a_poisson_fit_as_an_exposure():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3))
    exposure = rng.uniform(0.5, 5.0, size=300)
    y = rng.poisson(exposure * np.exp(0.2 + X @ [0.5, 0.0, -0.4]))
    model = scalemix.GLM("poisson", backend="cpu").fit(X, y, offset=np.log(exposure))
    without = scalemix.GLM("poisson", backend="cpu").fit(X, y)
    assert np.abs(model.coef_ - [0.5, 0.0, -0.4]).max() < 0.15
    assert np.abs(model.coef_ - without.coef_).max() > 1e-3
    # KKT by NumPy: X̃ᵀ(μ − y) = 0 with μ = exposure · e^(Xβ + b₀).
    mu = exposure * np.exp(X @ model.coef_ + model.intercept_)
    np.testing.assert_allclose(np.append(X.T @ (mu - y), (mu - y).sum()) / len(y), 0.0, atol=1e-9)
    lasso = scalemix.GLM("poisson", lam=0.05, alpha=1.0, backend="cpu").fit(X, y, offset=np.log(exposure))
    with pytest.raises(ValueError, match="no inference table"):
        lasso.summary()
    result = scalemix.cv(X, y, family="poisson", offset=np.log(exposure), n_lambda=10, folds=3)
    assert np.all(np.isfinite(result["mean"])) and result["lambda_min"] > 0


def test_bad_offsets_and_counts_are_value_errors():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([1.0, 0.0, 2.0, 3.0, 0.0, 1.0])
    offset = np.zeros(6)
    offset[4] = np.nan
    with pytest.raises(ValueError, match=r"offset\[4\]"):
        scalemix.GLM("poisson").fit(X, y, offset=offset)
    with pytest.raises(ValueError, match="one value per row"):
        scalemix.GLM("poisson").fit(X, y, offset=np.zeros(5))
    with pytest.raises(ValueError, match="value -2 at row 2"):
        scalemix.PoissonRegressor().fit(X, np.array([1.0, 0.0, -2.0, 3.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="theta"):
        scalemix.GLM("negative_binomial", theta=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="every poisson count"):
        scalemix.GLM("poisson").fit(X, np.zeros(6))


def test_paths_take_the_family_parameter_given():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 3))
    y = rng.poisson(np.exp(0.3 + X @ [0.4, 0.0, -0.3])).astype(float)
    with pytest.raises(ValueError, match="a path needs the family"):
        scalemix.path(X, y, family="negative_binomial")
    with pytest.raises(ValueError, match="a path needs the family"):
        scalemix.cv(X, y, family="student_t", folds=3)
    result = scalemix.path(X, y, family="negative_binomial", theta=2.0, n_lambda=5)
    assert len(result["lambdas"]) == 5 and np.all(np.isfinite(result["objective"]))
    result = scalemix.path(X, y, family="student_t", nu=3.0, sigma=1.0, n_lambda=5)
    assert len(result["lambdas"]) == 5

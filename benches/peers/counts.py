"""Count models: Poisson and negative binomial fits and lasso paths with an exposure offset,
scalemix next to glum and scikit-learn, in one run.

    python benches/peers/counts.py [--n 100000] [--p 50] [--n-lambda 40] [--theta 2.0]

Needs scalemix (`pip install ./python`), glum and scikit-learn in one environment. The data:
n rows of p correlated Gaussian features (AR(1), ρ = 0.5), an exposure e ~ U(0.5, 5) per row
(offset log e), a sparse β (every fifth coefficient nonzero), Poisson counts, and negative
binomial counts with dispersion θ drawn from the same means. Every problem has an unpenalized
intercept and the objective

    F = (1/n) Σ [ℓ(y, o + xβ + b0) − ℓ_saturated(y)] + λ [α |β|₁ + (1 − α)/2 |β|²],

half the mean deviance plus glmnet's penalty, which is glum's objective with `alpha = λ`,
`l1_ratio = α` and scikit-learn's `PoissonRegressor(alpha = λ)` for α = 0. F is recomputed here
from one definition for every solver; each row of the tables gives the time and the gap
(F − F_best)/F_best, F_best the lowest any solver reached (per λ for the paths: the worst gap
over the path).
"""

import argparse
import time

import numpy as np
from glum import GeneralizedLinearRegressor
from sklearn.linear_model import PoissonRegressor as SkPoissonRegressor

import scalemix


def data(n, p, theta, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        X[:, j] = 0.5 * X[:, j - 1] + np.sqrt(0.75) * rng.standard_normal(n)
    beta = np.zeros(p)
    beta[::5] = rng.choice([-1.0, 1.0], size=len(beta[::5])) * 0.3
    exposure = rng.uniform(0.5, 5.0, size=n)
    offset = np.log(exposure)
    mu = np.exp(offset + X @ beta - 0.5)
    poisson = rng.poisson(mu).astype(float)
    nb = rng.poisson(rng.gamma(theta, mu / theta)).astype(float)
    return X, offset, poisson, nb


def half_deviance(family, y, eta, theta):
    mu = np.exp(eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.where(y > 0, y * np.log(y / mu), 0.0)
    if family == "poisson":
        return np.mean(log_ratio - (y - mu))
    return np.mean(log_ratio - (y + theta) * np.log((y + theta) / (mu + theta)))


def objective(family, X, y, offset, coef, intercept, lam, alpha, theta):
    loss = half_deviance(family, y, offset + X @ coef + intercept, theta)
    return loss + lam * (alpha * np.abs(coef).sum() + 0.5 * (1 - alpha) * coef @ coef)


def glum_family(family, theta):
    # glum's negative binomial parameter is our 1/θ (its variance is μ + θ_glum μ²).
    return "poisson" if family == "poisson" else f"negative.binomial({1.0 / theta!r})"


def single_fits(X, y, offset, family, lam, theta):
    rows = []
    t = time.perf_counter()
    model = scalemix.GLM(family, lam=lam, alpha=0.0, theta=theta, inference=False, backend="cpu")
    model.fit(X, y, offset=offset)
    rows.append(("scalemix", time.perf_counter() - t, model.coef_, model.intercept_))
    for tol in (1e-8, 1e-12):
        t = time.perf_counter()
        g = GeneralizedLinearRegressor(family=glum_family(family, theta), alpha=lam,
                                       l1_ratio=0.0, gradient_tol=tol, max_iter=1000)
        g.fit(X, y, offset=offset)
        rows.append((f"glum (gradient_tol {tol:g})", time.perf_counter() - t, g.coef_, g.intercept_))
    if family == "poisson":
        for solver in ("newton-cholesky", "lbfgs"):
            t = time.perf_counter()
            # scikit-learn has no offset: the exposure enters as weights on the rates y/e,
            # which has the same minimizer (and the same objective up to a constant).
            e = np.exp(offset)
            sk = SkPoissonRegressor(alpha=lam * len(y) / e.sum(), solver=solver, tol=1e-12,
                                    max_iter=10_000)
            sk.fit(X, y / e, sample_weight=e)
            rows.append((f"sklearn {solver}", time.perf_counter() - t, sk.coef_, sk.intercept_))
    values = [objective(family, X, y, offset, c, b, lam, 0.0, theta) for _, _, c, b in rows]
    best = min(values)
    return [(name, s, (v - best) / abs(best)) for (name, s, _, _), v in zip(rows, values)]


def paths(X, y, offset, family, n_lambda, alpha, theta):
    t = time.perf_counter()
    ours = scalemix.path(X, y, family=family, alpha=alpha, theta=theta, offset=offset,
                         n_lambda=n_lambda, lambda_min_ratio=1e-3, backend="cpu")
    rows = [("scalemix", time.perf_counter() - t, ours["coef"], ours["intercept"])]
    lambdas = ours["lambdas"]
    # glum's path at gradient_tol 1e-12 ran past 15 minutes on the default size: 1e-6 and 1e-8.
    for tol in (1e-6, 1e-8):
        t = time.perf_counter()
        g = GeneralizedLinearRegressor(family=glum_family(family, theta), alphas=lambdas,
                                       l1_ratio=alpha, alpha_search=True, gradient_tol=tol,
                                       max_iter=1000)
        g.fit(X, y, offset=offset)
        coefs = np.asarray(g.coef_path_)
        rows.append((f"glum (gradient_tol {tol:g})", time.perf_counter() - t,
                     coefs[:, 1:] if coefs.shape[1] == X.shape[1] + 1 else coefs,
                     np.asarray(g.intercept_path_)))
    values = np.array([[objective(family, X, y, offset, c[k], b[k], lam, alpha, theta)
                        for k, lam in enumerate(lambdas)] for _, _, c, b in rows])
    best = values.min(axis=0)
    gaps = (values - best) / np.abs(best)
    return [(name, s, gaps[i].max()) for i, (name, s, _, _) in enumerate(rows)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--n-lambda", type=int, default=40)
    parser.add_argument("--theta", type=float, default=2.0)
    args = parser.parse_args()
    X, offset, poisson, nb = data(args.n, args.p, args.theta)
    lam = 1e-3
    print(f"count models, n = {args.n}, p = {args.p}, offset log(exposure), θ = {args.theta}")
    print(f"{'problem':<34} {'solver':<26} {'time (s)':>9} {'gap to best':>12}")
    for family, y in (("poisson", poisson), ("negative_binomial", nb)):
        for name, seconds, gap in single_fits(X, y, offset, family, lam, args.theta):
            print(f"{family + f' ridge λ={lam:g}':<34} {name:<26} {seconds:>9.3f} {gap:>12.1e}")
        for name, seconds, gap in paths(X, y, offset, family, args.n_lambda, 1.0, args.theta):
            label = f"{family} lasso path ({args.n_lambda} λ)"
            print(f"{label:<34} {name:<26} {seconds:>9.3f} {gap:>12.1e}")


if __name__ == "__main__":
    main()

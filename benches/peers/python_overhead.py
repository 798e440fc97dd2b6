"""The Python package's overhead and its place next to scikit-learn and glum.

Run with the package installed (`pip install ./python`) and, optionally, glum:

    python benches/peers/python_overhead.py [--n 100000] [--p 100] [--repeats 3]

1. Overhead: `scalemix.LogisticRegression(...).fit` timed from Python against the core's own
   wall time for the same fit (the `elapsed` the extension returns: checks, fit and report in
   Rust), for X in C order, in Fortran order, and as float32 (converted once).
2. Peers: scikit-learn's LogisticRegression (newton-cholesky, lbfgs, saga) and glum on the
   same l2 problem at tight tolerances: time and the gap of each objective to the best.
"""

import argparse
import time

import numpy as np
from sklearn import linear_model

import scalemix
from scalemix import _core


def objective(coef, intercept, X, y, lam):
    eta = X @ coef + intercept
    return np.mean(np.logaddexp(0.0, eta) - y * eta) + 0.5 * lam * coef @ coef


def best_of(repeats, fn):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, p = args.n, args.p
    X = rng.standard_normal((n, p)) * np.linspace(0.5, 3.0, p)
    beta = rng.standard_normal(p) / np.sqrt(p)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ beta)))).astype(float)
    C = 1.0
    lam = 1.0 / (C * n)

    print(f"logistic ridge, n = {n}, p = {p}, C = {C} (λ = 1/(C n)), best of {args.repeats}")
    print(f"{'input':<22} {'Python fit (s)':>15} {'core (s)':>10} {'overhead':>9}")
    for label, data in [
        ("float64, C order", np.ascontiguousarray(X)),
        ("float64, Fortran order", np.asfortranarray(X)),
        ("float32 (converted)", X.astype(np.float32)),
    ]:
        est = scalemix.LogisticRegression(C=C, backend="cpu")
        wall, _ = best_of(args.repeats, lambda: est.fit(data, y))
        # The core's own time, measured inside Rust for the same fit.
        inner = min(
            _core.fit(np.asarray(data, dtype=np.float64), y, np.ones(n), family="logistic",
                      lam=1.0 / (C * n), backend="cpu")["elapsed"]
            for _ in range(args.repeats)
        )
        print(f"{label:<22} {wall:>15.3f} {inner:>10.3f} {wall / inner - 1:>8.1%}")

    print()
    rows = []
    ours = scalemix.LogisticRegression(C=C, backend="cpu")
    t, _ = best_of(args.repeats, lambda: ours.fit(X, y))
    rows.append(("scalemix", t, objective(ours.coef_.ravel(), ours.intercept_[0], X, y, lam)))
    for solver in ["newton-cholesky", "lbfgs", "saga"]:
        est = linear_model.LogisticRegression(C=C, solver=solver, tol=1e-10, max_iter=100_000)
        t, _ = best_of(1 if solver == "saga" else args.repeats, lambda: est.fit(X, y))
        rows.append((f"scikit-learn {solver}", t, objective(est.coef_.ravel(), est.intercept_[0], X, y, lam)))
    try:
        import glum

        est = glum.GeneralizedLinearRegressor(
            family="binomial", alpha=lam, l1_ratio=0.0, gradient_tol=1e-10, max_iter=1000
        )
        t, _ = best_of(args.repeats, lambda: est.fit(X, y))
        rows.append(("glum", t, objective(est.coef_, est.intercept_, X, y, lam)))
    except ImportError:
        print("(glum not installed: skipped)")
    best = min(f for _, _, f in rows)
    print(f"{'solver':<30} {'time (s)':>9} {'vs scalemix':>12} {'gap to best':>12}")
    for name, t, f in rows:
        print(f"{name:<30} {t:>9.3f} {t / rows[0][1]:>11.2f}× {(f - best) / best:>12.1e}")


if __name__ == "__main__":
    main()

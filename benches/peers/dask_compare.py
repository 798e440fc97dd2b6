"""scalemix.dask against dask-glm on the same Dask array, and 2 workers against 1.

    python benches/peers/dask_compare.py [--n 4000000] [--p 50] [--chunks 8]

Needs scalemix (`pip install ./python`), dask[array], distributed and dask-glm in one
environment. A logistic ridge without intercept (dask-glm's algorithms fit none):
scalemix minimizes (1/n) Σ loss + λ/2 |β|² with λ = 1/(C n); dask-glm minimizes Σ loss +
lamduh/2 |β|², the same problem with lamduh = 1/C. Every solution's objective is computed the
same way (on the cluster, in f64) and compared with the best any solver reached.
"""

import argparse
import time

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import scalemix.dask


def objective(beta, X, y, lam):
    eta = X.dot(beta)
    loss = (da.logaddexp(0.0, eta) - y * eta).mean()
    return float(loss.compute()) + 0.5 * lam * float(beta @ beta)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    n, p, C = args.n, args.p, args.C
    lam = 1.0 / (C * n)
    rows = n // args.chunks

    results = {}
    for workers in (1, 2):
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster, Client(cluster):
            rs = da.random.RandomState(0)
            X = rs.standard_normal((n, p), chunks=(rows, p))
            beta_true = np.linspace(-1, 1, p) / np.sqrt(p)
            y = (rs.random_sample(n, chunks=rows) < 1 / (1 + da.exp(-X.dot(beta_true)))).astype(
                float
            )
            X, y = dask.persist(X, y)
            t = time.perf_counter()
            est = scalemix.dask.LogisticRegression(C=C, fit_intercept=False).fit(X, y)
            elapsed = time.perf_counter() - t
            results[("scalemix.dask", workers)] = (
                elapsed,
                objective(est.coef_[0], X, y, lam),
                est.n_iter_,
            )
            print("scalemix.dask", workers, results[("scalemix.dask", workers)], flush=True)
            if workers == 2:
                try:
                    from dask_glm import algorithms
                    from dask_glm.families import Logistic
                except ImportError:
                    print("(dask-glm not installed: skipped)")
                    continue
                for name, kwargs in [
                    ("newton", dict(max_iter=50, tol=1e-10)),
                    ("admm", dict(max_iter=20, abstol=1e-10, reltol=1e-10)),
                    ("proximal_grad", dict(max_iter=100, tol=1e-10)),
                ]:
                    solver = getattr(algorithms, name)
                    # dask-glm's Newton takes no regularizer: it solves the unpenalized problem,
                    # whose gap is measured against the penalized optimum all the same.
                    extra = {} if name == "newton" else dict(regularizer="l2", lamduh=1.0 / C)
                    t = time.perf_counter()
                    beta = solver(X, y, family=Logistic, **extra, **kwargs)
                    beta = np.asarray(dask.compute(beta)[0])
                    elapsed = time.perf_counter() - t
                    results[(f"dask-glm {name}", workers)] = (
                        elapsed,
                        objective(beta, X, y, lam),
                        kwargs["max_iter"],
                    )
                    print(name, results[(f"dask-glm {name}", workers)], flush=True)
    best = min(v[1] for v in results.values())
    print(
        f"logistic ridge, n = {n}, p = {p}, {args.chunks} chunks, C = {C} (λ = {lam:.3g}), "
        "LocalCluster, 1 thread per worker"
    )
    print(f"{'solver':<26} {'workers':>7} {'time (s)':>9} {'gap to best':>12} {'iterations':>10}")
    for (name, workers), (elapsed, f, iters) in results.items():
        print(f"{name:<26} {workers:>7} {elapsed:>9.2f} {(f - best) / best:>12.1e} {iters:>10}")
    one, two = results[("scalemix.dask", 1)][0], results[("scalemix.dask", 2)][0]
    print(f"scalemix.dask: 2 workers take {two / one:.2f}× the time of 1 (speed-up {one / two:.2f}×)")


if __name__ == "__main__":
    main()

"""Multinomial logistic regression (K classes, symmetric, l2 or l1): scalemix against
scikit-learn on the same problem, in one run.

    python benches/peers/multinomial.py [--n 200000] [--p 50] [--k 5] [--C 1.0]
                                        [--design dense|text|wide] [--per-row 45] [--no-saga]

`dense` (the default): n × p Gaussian features of spread scales. `text`: sparse CSR, the text-like
design of `sparse.py` (Zipf column popularity, about `per-row` stored log(1 + count) values a row).
`wide`: dense with p ≫ n (e.g. --n 200 --p 20000). Labels: the argmax over K classes of a linear
score plus Gumbel noise (a draw from the multinomial model).

Needs scalemix (`pip install ./python`) and scikit-learn in one environment. Both minimize
C Σ loss + penalty(β) over the K coefficient vectors (scikit-learn's multinomial, every class
penalized); each result's objective is recomputed here in f64 from the same definition and
compared with the best any solver reached.
"""

import argparse
import time

import numpy as np
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import scalemix


def objective(coef, intercept, X, codes, C, penalty):
    """(1/n) Σ (log Σ_k e^η_k − η_y) + penalty/(C n): scalemix's scaling of the objective."""
    eta = X @ coef.T + intercept
    loss = (logsumexp(eta, axis=1) - eta[np.arange(len(codes)), codes]).mean()
    value = 0.5 * (coef**2).sum() if penalty == "l2" else np.abs(coef).sum()
    return loss + value / (C * len(codes))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--p", type=int, default=50)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--design", choices=("dense", "text", "wide"), default="dense")
    parser.add_argument("--per-row", type=int, default=45)
    parser.add_argument("--no-saga", action="store_true", help="skip saga (slow at tol 1e-10)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.design == "text":
        from sparse import text_like

        X, _ = text_like(args.n, args.p, args.per_row)
        B = np.zeros((args.p, args.k))
        signal = rng.choice(args.p, size=max(args.p // 50, 10), replace=False)
        B[signal] = rng.standard_normal((signal.size, args.k)) * 2.0
        score = X @ B
        score = (score - score.mean(axis=0)) / score.std(axis=0).clip(1e-12) * 2.0
    else:
        X = rng.standard_normal((args.n, args.p))
        if args.design == "dense":
            X *= np.linspace(0.2, 3.0, args.p)
        score = X @ (rng.standard_normal((args.p, args.k)) / np.sqrt(args.p))
        if args.design == "wide":
            score *= 3.0 / score.std()
    codes = np.argmax(score + rng.gumbel(size=(args.n, args.k)), axis=1)
    stored = X.nnz if args.design == "text" else X.size
    rows = []
    for penalty in ("l2", "l1"):
        solvers = [
            ("scalemix", lambda: scalemix.LogisticRegression(C=args.C, penalty=penalty, backend="cpu")),
            ("sklearn lbfgs" if penalty == "l2" else "sklearn saga",
             lambda: SkLogisticRegression(
                 C=args.C, penalty=penalty, solver="lbfgs" if penalty == "l2" else "saga",
                 tol=1e-10, max_iter=10_000)),
        ]
        if penalty == "l1" and args.no_saga:
            solvers.pop()
        if penalty == "l2":
            # newton-cholesky forms the (K·p)² Hessian: only for the narrow dense design.
            newton = "newton-cholesky" if args.design == "dense" else "newton-cg"
            solvers.append((f"sklearn {newton}", lambda: SkLogisticRegression(
                C=args.C, solver=newton, tol=1e-10, max_iter=1000)))
        results = []
        for name, make in solvers:
            est = make()
            t = time.perf_counter()
            est.fit(X, codes)
            elapsed = time.perf_counter() - t
            f = objective(est.coef_, est.intercept_, X, codes, args.C, penalty)
            results.append((name, elapsed, f, int(np.max(est.n_iter_))))
        best = min(r[2] for r in results)
        for name, elapsed, f, iters in results:
            rows.append((penalty, name, elapsed, (f - best) / best, iters))
    print(f"multinomial logistic, {args.design} design, n = {args.n}, p = {args.p}, "
          f"{stored} stored values, K = {args.k}, C = {args.C}")
    print(f"{'penalty':<8} {'solver':<24} {'time (s)':>9} {'gap to best':>12} {'iterations':>10}")
    for penalty, name, elapsed, gap, iters in rows:
        print(f"{penalty:<8} {name:<24} {elapsed:>9.2f} {gap:>12.1e} {iters:>10}")


if __name__ == "__main__":
    main()

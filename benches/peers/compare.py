"""scalemix next to scikit-learn on one ill-conditioned logistic ridge problem (see README.md)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "scalemix")


def generate(n, p, condition, scale, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    eig = np.logspace(0, -np.log10(condition), p)
    x = rng.standard_normal((n, p)) @ (q * np.sqrt(eig)) @ q.T
    beta = rng.standard_normal(p) * scale / np.sqrt(p)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ beta)))).astype(float)
    return x, y


def objective(x, y, lam, coef, b0):
    eta = x @ coef + b0
    loss = np.mean(np.logaddexp(0, eta) - y * eta)
    return loss + 0.5 * lam * float(coef @ coef)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--p", type=int, default=300)
    ap.add_argument("--condition", type=float, default=1e6)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--lambda", dest="lam", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} not found: run `cargo build --release` first")

    x, y = generate(args.n, args.p, args.condition, args.scale, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.csv")
        header = ",".join([f"x{j}" for j in range(args.p)] + ["y"])
        np.savetxt(data, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt="%.17g")
        for accel in ["none", "restart", "newton", "squarem"]:
            out = os.path.join(tmp, f"{accel}.json")
            subprocess.run(
                [BINARY, "fit", "--data", data, "--family", "logistic", "--lambda", str(args.lam),
                 "--accel", accel, "--max-iter", "5000", "--backend", "cpu", "--quiet", "--output", out],
                check=True,
            )
            with open(out) as f:
                m = json.load(f)
            f_obj = objective(x, y, args.lam, np.array(m["coef"]), m["intercept"])
            rows.append((f"scalemix {accel}", f_obj, m["iterations"], m["elapsed_seconds"]))
    c = 1.0 / (args.lam * args.n)
    for solver in ["newton-cholesky", "lbfgs"]:
        model = LogisticRegression(C=c, solver=solver, tol=1e-14, max_iter=10000)
        start = time.perf_counter()
        model.fit(x, y)
        seconds = time.perf_counter() - start
        f_obj = objective(x, y, args.lam, model.coef_[0], model.intercept_[0])
        rows.append((f"sklearn {solver}", f_obj, int(model.n_iter_[0]), seconds))

    best = min(r[1] for r in rows)
    print(f"n = {args.n}, p = {args.p}, condition {args.condition:g}, scale {args.scale:g}, "
          f"ridge λ = {args.lam:g}; F_best = {best:.15f}")
    print(f"{'solver':<26} {'relative gap':>13} {'iterations':>11} {'seconds':>9}")
    for name, f_obj, iters, seconds in rows:
        print(f"{name:<26} {(f_obj - best) / best:>13.2e} {iters:>11} {seconds:>9.3f}")


if __name__ == "__main__":
    main()

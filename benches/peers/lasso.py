"""Lasso and elastic-net paths: scalemix next to glmnet and adelie on the same data and λs.

`scalemix-bench lasso --write-data DIR` fits the problems and writes their data and a manifest
with scalemix's λ sequences, objectives and times; this script fits the same files with

- glmnet (python-glmnet's Fortran coordinate descent, `standardize=False`, the same
  `lambda_path`), which pins numpy < 2 and so runs in its own interpreter (`--glmnet-python`);
- adelie (`grpnet`, pivot screening + IRLS/CD, the same `lmda_path`, every feature its own
  group), in its own interpreter too (`--adelie-python`);

each at a loose tolerance (their default 1e-7) and a tight one, and prints per path the wall
time, the ratio to scalemix's, and the worst relative gap over the path to the best objective
any solver reached at that λ (all objectives recomputed here in f64 from the coefficients).
For the cross-validated problems, scalemix's 5-fold CV time is set against six peer paths
(the full data and five folds), the work a CV does.

    cargo build --release
    target/release/scalemix-bench lasso --write-data target/lasso-data
    python3 benches/peers/lasso.py --data target/lasso-data \\
        --glmnet-python /path/to/glmnet-venv/bin/python --adelie-python /path/to/adelie-venv/bin/python

It is not part of the tests.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def load(directory, problem):
    x = np.fromfile(os.path.join(directory, problem["x_file"]), dtype="<f8").reshape(problem["n"], problem["p"])
    y = np.fromfile(os.path.join(directory, problem["y_file"]), dtype="<f8")
    return x, y


def objective(family, x, y, coef, b0, lam, alpha):
    eta = x @ coef + b0
    if family == "logistic":
        loss = np.mean(np.logaddexp(0.0, eta) - y * eta)
    else:
        loss = 0.5 * np.mean((y - eta) ** 2)
    return loss + lam * (alpha * np.abs(coef).sum() + 0.5 * (1.0 - alpha) * coef @ coef)


# ---- child side: one peer, one problem, one tolerance; prints JSON ---------------------------


def run_glmnet(family, x, y, lambdas, alpha, tol):
    import glmnet

    cls = glmnet.LogitNet if family == "logistic" else glmnet.ElasticNet
    model = cls(alpha=alpha, lambda_path=np.array(lambdas), standardize=False, tol=tol, max_iter=10**6, n_splits=0)
    start = time.perf_counter()
    model.fit(x, y)
    seconds = time.perf_counter() - start
    coef = np.asarray(model.coef_path_).reshape(-1, x.shape[1], len(lambdas))[0]
    intercept = np.asarray(model.intercept_path_).reshape(-1, len(lambdas))[0]
    return seconds, coef.T, intercept


def run_adelie(family, x, y, lambdas, alpha, tol):
    import adelie as ad

    glm = ad.glm.binomial(y) if family == "logistic" else ad.glm.gaussian(y)
    xf = np.asfortranarray(x)
    start = time.perf_counter()
    state = ad.grpnet(
        xf,
        glm,
        alpha=alpha,
        lmda_path=np.array(lambdas),
        tol=tol,
        irls_tol=tol,
        early_exit=False,
        progress_bar=False,
        intercept=True,
    )
    seconds = time.perf_counter() - start
    betas = state.betas.toarray()
    return seconds, betas, np.asarray(state.intercepts)


def child(args):
    with open(os.path.join(args.data, "manifest-lasso.json")) as f:
        problem = [q for q in json.load(f)["problems"] if q["name"] == args.problem][0]
    x, y = load(args.data, problem)
    rows = np.arange(problem["n"])
    if args.fold >= 0:
        keep = np.asarray(problem["folds"]) != args.fold
        x, y, rows = x[keep], y[keep], rows[keep]
    run = run_glmnet if args.child == "glmnet" else run_adelie
    seconds, coef, intercept = run(problem["family"], x, y, problem["lambdas"], problem["alpha"], args.tol)
    json.dump({"seconds": seconds, "coef": np.asarray(coef).tolist(), "intercept": np.asarray(intercept).tolist()}, sys.stdout)


# ---- driver side ------------------------------------------------------------------------------


def peer(python, name, data, problem, tol, fold=-1):
    out = subprocess.run(
        [python, os.path.abspath(__file__), "--child", name, "--data", data, "--problem", problem, "--tol", str(tol), "--fold", str(fold)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="target/lasso-data")
    ap.add_argument("--glmnet-python", default="", help="an interpreter with python-glmnet (numpy < 2)")
    ap.add_argument("--adelie-python", default="", help="an interpreter with adelie")
    ap.add_argument("--tols", default="1e-7,1e-10", help="glmnet's tolerances (adelie: 1e-7 and 1e-12)")
    ap.add_argument("--no-cv", action="store_true", help="skip the six-path CV comparison")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--problem", default="", help=argparse.SUPPRESS)
    ap.add_argument("--tol", type=float, default=1e-7, help=argparse.SUPPRESS)
    ap.add_argument("--fold", type=int, default=-1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    with open(os.path.join(args.data, "manifest-lasso.json")) as f:
        manifest = json.load(f)
    print(f"machine: {manifest['machine']}; scalemix backend {manifest['backend']}")
    peers = []
    if args.glmnet_python:
        peers += [("glmnet", args.glmnet_python, float(t)) for t in args.tols.split(",")]
    if args.adelie_python:
        peers += [("adelie", args.adelie_python, t) for t in (1e-7, 1e-12)]
    for problem in manifest["problems"]:
        x, y = load(args.data, problem)
        fam, alpha, lambdas = problem["family"], problem["alpha"], problem["lambdas"]
        ours = np.array(problem["objectives"])
        print(f"\n## {problem['name']} ({fam}, α = {alpha}, {len(lambdas)} λ down to {lambdas[-1] / lambdas[0]:.0e}·λ_max)")
        results = {}
        for name, python, tol in peers:
            try:
                r = peer(python, name, args.data, problem["name"], tol)
            except Exception as e:  # a peer that fails is reported, not fatal
                print(f"  {name} tol {tol:g}: failed: {e}")
                continue
            coef, b0 = np.asarray(r["coef"]), np.asarray(r["intercept"])
            f = np.array([objective(fam, x, y, coef[k], b0[k], lam, alpha) for k, lam in enumerate(lambdas)])
            results[(name, tol)] = (r["seconds"], f)
        best = ours.copy()
        for _, f in results.values():
            best = np.minimum(best, f)
        gap = lambda f: float(np.max((f - best) / np.abs(best)))
        print(f"| solver | tol | path | × scalemix | worst gap to best |")
        print(f"|---|---|---|---|---|")
        print(f"| scalemix (auto) | 1e-12 | {problem['seconds']:.3f} s | 1.0 | {gap(ours):.1e} |")
        for (name, tol), (seconds, f) in results.items():
            print(f"| {name} | {tol:g} | {seconds:.3f} s | {seconds / problem['seconds']:.2f} | {gap(f):.1e} |")
        if problem.get("seconds_cv") and not args.no_cv:
            print(f"5-fold CV: scalemix {problem['seconds_cv']:.3f} s (full path + 5 folds)")
            for name, python, tol in peers:
                try:
                    seconds = peer(python, name, args.data, problem["name"], tol)["seconds"]
                    k = max(problem["folds"]) + 1
                    seconds += sum(peer(python, name, args.data, problem["name"], tol, fold)["seconds"] for fold in range(k))
                except Exception as e:
                    print(f"  {name} tol {tol:g}: failed: {e}")
                    continue
                print(f"  {name} tol {tol:g}: {k + 1} paths {seconds:.3f} s ({seconds / problem['seconds_cv']:.2f}× scalemix's CV)")


if __name__ == "__main__":
    main()

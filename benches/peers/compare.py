"""scalemix next to scikit-learn, glum and skglm on the problems `scalemix-bench` writes.

One run of this script: builds nothing, runs the release binary's suites with --write-data
(so scalemix's figures and the peers' are measured on the same machine in the same run), then
fits the same files with each peer and prints ratios. See README.md next to it.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "scalemix-bench")
# Tolerance ladders: a peer's time to a gap is the wall time of its first fit (loosest
# tolerance first) whose objective is within the gap of F*.
TOLS = [1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14]
TARGET_GAP = 1e-8

warnings.filterwarnings("ignore")


def load(directory, problem):
    x = np.fromfile(os.path.join(directory, problem["x_file"]), dtype="<f8")
    y = np.fromfile(os.path.join(directory, problem["y_file"]), dtype="<f8")
    return x.reshape(problem["n"], problem["p"]), y


def logistic_objective(x, y, coef, b0, ridge=0.0, lasso=0.0):
    eta = x @ coef + b0
    loss = np.mean(np.logaddexp(0.0, eta) - y * eta)
    return loss + 0.5 * ridge * float(coef @ coef) + lasso * float(np.abs(coef).sum())


def timed(fit):
    start = time.perf_counter()
    coef, b0 = fit()
    return np.asarray(coef, dtype=float).ravel(), float(b0), time.perf_counter() - start


def time_to_gap(fit_at_tol, objective, f_star, budget_s):
    """(seconds of the first fit within TARGET_GAP, or None; the smallest gap seen)."""
    best = np.inf
    for tol in TOLS:
        try:
            coef, b0, seconds = timed(lambda: fit_at_tol(tol))
        except Exception as e:  # a peer refusing a setting is reported, not fatal
            print(f"    (failed at tol {tol:g}: {e})")
            break
        gap = (objective(coef, b0) - f_star) / abs(f_star)
        best = min(best, gap)
        if gap <= TARGET_GAP:
            return seconds, best
        if seconds > budget_s:
            break
    return None, best


def logistic_peers(n, lam):
    """Each peer on mean log-loss + λ/2‖β‖² with an unpenalized intercept, as fit(tol)."""
    from sklearn.linear_model import LogisticRegression

    peers = {}
    c = 1.0 / (lam * n)  # scikit-learn: C Σ loss + ½‖β‖²

    def sklearn(solver):
        # saga's epochs cost O(n·p) each and it converges linearly: cap them so an
        # ill-conditioned problem ends (its gap then says how far it got).
        max_iter = 2000 if solver == "saga" else 100000

        def fit(x, y, tol):
            m = LogisticRegression(C=c, solver=solver, tol=tol, max_iter=max_iter).fit(x, y)
            return m.coef_[0], m.intercept_[0]

        return fit

    try:
        import scalemix

        def scalemix_python(x, y, tol):
            # The Python package (pip install ./python) on the same objective; it stops at its
            # own f64 KKT check, so every tolerance of the ladder gives the same fit.
            m = scalemix.LogisticRegression(C=c, backend="cpu").fit(x, y)
            return m.coef_[0], m.intercept_[0]

        peers["scalemix (Python)"] = scalemix_python
    except ImportError:
        print("the scalemix Python package is not installed: skipped (pip install ./python)")
    for solver in ["newton-cholesky", "lbfgs", "saga"]:
        peers[f"sklearn {solver}"] = sklearn(solver)
    try:
        from glum import GeneralizedLinearRegressor

        def glum_fit(x, y, tol):
            # glum: −(1/n) log-likelihood + α/2 ‖β‖² (l1_ratio 0).
            m = GeneralizedLinearRegressor(
                family="binomial", alpha=lam, l1_ratio=0.0, gradient_tol=tol, max_iter=10000
            ).fit(x, y)
            return m.coef_, m.intercept_

        peers["glum irls"] = glum_fit
    except ImportError:
        print("glum not installed: skipped (pip install glum)")
    try:
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import Logistic
        from skglm.penalties import L1_plus_L2
        from skglm.solvers import ProxNewton

        def skglm_fit(x, y, tol):
            # skglm's L2 has no prox for ProxNewton; L1_plus_L2 with l1_ratio 0 is λ/2‖β‖².
            m = GeneralizedLinearEstimator(
                Logistic(),
                L1_plus_L2(lam, 0.0),
                ProxNewton(tol=tol, fit_intercept=True, max_iter=1000),
            ).fit(x, 2 * y - 1)
            return m.coef_.ravel(), np.ravel(m.intercept_)[0]

        warm_x = np.random.default_rng(0).standard_normal((20, 3))
        skglm_fit(warm_x, np.arange(20) % 2, 1e-4)  # numba compiles here, untimed
        peers["skglm prox-newton"] = skglm_fit
    except ImportError:
        print("skglm not installed: skipped (pip install skglm)")
    return peers


def paper(directory, budget_s, min_p, only):
    with open(os.path.join(directory, "manifest-paper.json")) as f:
        manifest = json.load(f)
    print(f"\n## Paper problems: time to a {TARGET_GAP:g} gap ({manifest['machine']})")
    rows = []
    for problem in manifest["problems"]:
        if problem["p"] < min_p:
            continue
        x, y = load(directory, problem)
        lam, f_star = problem["lambda"], problem["f_star"]
        target_index = problem["gap_targets"].index(TARGET_GAP)
        ours = {m["method"]: m["seconds_to_gap"][target_index] for m in problem["methods"]}
        default = next(k for k in ours if k.startswith("scalemix default"))
        row = {"problem": problem["name"], "scalemix default": ours[default],
               "scalemix fit (own stop)": problem["default_fit_seconds"]}
        print(f"{problem['name']}: scalemix default {ours[default]:.3f} s "
              f"(its own stop: {problem['default_fit_seconds']:.3f} s, gap {problem['default_fit_gap']:.1e})")
        objective = lambda coef, b0: logistic_objective(x, y, coef, b0, ridge=lam)
        for name, fit in logistic_peers(problem["n"], lam).items():
            if only and not any(o in name for o in only):
                continue
            seconds, gap = time_to_gap(lambda tol: fit(x, y, tol), objective, f_star, budget_s)
            row[name] = seconds
            shown = "never" if seconds is None else f"{seconds:.3f} s"
            print(f"    {name:<22} {shown:>10}   (smallest gap {gap:.1e})")
        rows.append(row)
    if not rows:
        return
    names = [k for k in rows[0] if k != "problem"]
    print(f"\n| problem | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row in rows:
        base = row["scalemix default"]
        cells = []
        for k in names:
            v = row[k]
            if v is None:
                cells.append("never")
            elif k.startswith("scalemix") or base is None:
                cells.append(f"{v:.3f} s")
            else:
                cells.append(f"{v:.3f} s ({v / base:.1f}×)")
        print(f"| {row['problem']} | " + " | ".join(cells) + " |")
    print("(×: the peer's time over scalemix default's time to the same gap, from the manifest in "
          "--data: the same run unless --skip-suites)")


def l1_path(directory, budget_s):
    with open(os.path.join(directory, "manifest-path.json")) as f:
        problem = json.load(f)["problems"][0]
    x, y = load(directory, problem)
    lambdas, ours = problem["lambdas"], problem["objectives"]
    n = problem["n"]
    print(f"\n## ℓ1 path, {len(lambdas)} λ: {problem['name']}")
    print(f"scalemix (shared statistics): {problem['seconds_shared']:.3f} s")
    runs = {}
    from sklearn.linear_model import LogisticRegression

    def sklearn_path(tol):
        m = LogisticRegression(penalty="l1", solver="saga", tol=tol, max_iter=100000, warm_start=True)
        out = []
        for lam in lambdas:
            m.set_params(C=1.0 / (lam * n))
            m.fit(x, y)
            out.append((m.coef_[0].copy(), m.intercept_[0]))
        return out

    runs["sklearn saga (warm)"] = sklearn_path
    try:
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import Logistic
        from skglm.penalties import L1
        from skglm.solvers import ProxNewton

        def skglm_path(tol):
            out, w = [], None
            for lam in lambdas:
                solver = ProxNewton(tol=tol, fit_intercept=True, warm_start=w is not None)
                m = GeneralizedLinearEstimator(Logistic(), L1(lam), solver)
                if w is not None:
                    m.coef_, m.intercept_ = w
                m.fit(x, 2 * y - 1)
                w = (m.coef_.copy(), m.intercept_)
                out.append((m.coef_.ravel().copy(), np.ravel(m.intercept_)[0]))
            return out

        # numba compiles on the first fit: once here, untimed.
        warm_x = np.random.default_rng(0).standard_normal((20, 3))
        GeneralizedLinearEstimator(Logistic(), L1(0.01), ProxNewton(fit_intercept=True)).fit(
            warm_x, 2.0 * (np.arange(20) % 2) - 1
        )
        runs["skglm prox-newton (warm)"] = skglm_path
    except ImportError:
        print("skglm not installed: skipped")
    for name, run in runs.items():
        for tol in [1e-6, 1e-8, 1e-10]:
            start = time.perf_counter()
            try:
                points = run(tol)
            except Exception as e:
                print(f"    {name}: failed at tol {tol:g}: {e}")
                break
            seconds = time.perf_counter() - start
            gaps = [
                (logistic_objective(x, y, c, b, lasso=lam) - f) / abs(f)
                for (c, b), lam, f in zip(points, lambdas, ours)
            ]
            print(f"    {name:<26} tol {tol:<6g} {seconds:8.3f} s ({seconds / problem['seconds_shared']:.1f}× "
                  f"scalemix)  max gap to scalemix's path {max(gaps):.1e}, min {min(gaps):.1e}")
            if max(gaps) <= TARGET_GAP or seconds > budget_s:
                break


def quantile(directory):
    from sklearn.linear_model import QuantileRegressor

    with open(os.path.join(directory, "manifest-quantile.json")) as f:
        problem = json.load(f)["problems"][0]
    x, y = load(directory, problem)
    q = problem["q"]
    print(f"\n## Quantile regression: {problem['name']}")

    def check(coef, b0):
        r = y - x @ coef - b0
        return float(np.mean(np.maximum(q * r, (q - 1) * r)))

    ours = check(np.array(problem["coefficients"]), problem["intercept"])
    coef, b0, seconds = timed(
        lambda: (lambda m: (m.coef_, m.intercept_))(
            QuantileRegressor(quantile=q, alpha=0.0, solver="highs").fit(x, y)
        )
    )
    theirs = check(coef, b0)
    print(f"    scalemix                      {problem['seconds']:8.3f} s  F = {ours:.12f}")
    print(f"    sklearn QuantileRegressor     {seconds:8.3f} s  F = {theirs:.12f}   "
          f"({seconds / problem['seconds']:.1f}× scalemix; scalemix's gap to it {(ours - theirs) / theirs:.1e})")


def blas_peak(size):
    """This machine's dense f64 GEMM rate through numpy's BLAS, and its weighted Gram XᵀWX."""
    import numpy.linalg  # noqa: F401  (numpy's BLAS is what np.dot calls)

    a = np.random.default_rng(0).standard_normal((size, size))
    a @ a  # warm-up
    start = time.perf_counter()
    reps = 3
    for _ in range(reps):
        a @ a
    gemm = 2 * size**3 * reps / (time.perf_counter() - start) / 1e9
    n, p = 100_000, 100
    x = np.random.default_rng(1).standard_normal((n, p))
    w = np.random.default_rng(2).random(n)
    start = time.perf_counter()
    for _ in range(reps):
        x.T @ (w[:, None] * x)
    gram = n * p * p * reps / (time.perf_counter() - start) / 1e9  # multiply-adds, as cargo bench gram
    print(f"\n## BLAS peak: numpy {np.__version__} GEMM {size}×{size} f64: {gemm:.1f} GFLOP/s; "
          f"its weighted Gram XᵀWX at 100000×100: {gram:.1f} G multiply-adds/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="the suites' small sizes")
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per peer fit before giving up")
    ap.add_argument("--min-p", type=int, default=100, help="paper problems with at least this p")
    ap.add_argument("--paper-args", default="", help="extra arguments for `scalemix-bench paper`")
    ap.add_argument("--skip-suites", action="store_true", help="reuse the files already in --data")
    ap.add_argument("--suites", default="paper,path,quantile", help="which of paper,path,quantile")
    ap.add_argument("--only", default="", help="comma-separated substrings: only these peers (paper)")
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} not found: run `cargo build --release` first")
    quick = ["--quick"] if args.quick else []
    suites = [s for s in args.suites.split(",") if s]
    only = [o for o in args.only.split(",") if o]
    if not args.skip_suites:
        for suite in suites:
            extra = args.paper_args.split() if suite == "paper" else []
            cmd = [BINARY, suite, "--write-data", args.data] + quick + extra
            print("$", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
    min_p = 0 if args.quick else args.min_p
    if "paper" in suites:
        paper(args.data, args.budget, min_p, only)
    if "path" in suites:
        l1_path(args.data, args.budget)
    if "quantile" in suites:
        quantile(args.data)
    blas_peak(1000 if args.quick else 4000)


if __name__ == "__main__":
    main()

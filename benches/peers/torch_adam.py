"""The paper's Adam protocol in PyTorch on CUDA, on the problems `scalemix-bench paper` wrote.

Full-batch torch.optim.Adam (β₁ 0.9, β₂ 0.999, ε 1e-8) on mean log-loss + λ/2‖β‖² (intercept
unpenalized), from β = 0 and the intercept at logit(ȳ) (scalemix's start), at every rate of the
grid for the largest budget of the manifest; the best final objective is kept. Objectives are
re-evaluated in f64 on the CPU against the manifest's F*. Used by benches/gpu.sh.
"""

import argparse
import json
import os
import time

import numpy as np
import torch

GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]


def objective64(x, y, lam, coef, b0):
    eta = x @ coef + b0
    return float(np.mean(np.logaddexp(0.0, eta) - y * eta) + 0.5 * lam * coef @ coef)


def adam_grid(x, y, lam, steps, device, dtype):
    xt = torch.as_tensor(x, device=device, dtype=dtype)
    yt = torch.as_tensor(y, device=device, dtype=dtype)
    mean = float(np.clip(y.mean(), 1e-12, 1 - 1e-12))
    best = None
    total = 0.0
    for lr in GRID:
        beta = torch.zeros(x.shape[1], device=device, dtype=dtype, requires_grad=True)
        b0 = torch.tensor(np.log(mean / (1 - mean)), device=device, dtype=dtype, requires_grad=True)
        opt = torch.optim.Adam([beta, b0], lr=lr, betas=(0.9, 0.999), eps=1e-8)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            eta = xt @ beta + b0
            loss = torch.nn.functional.binary_cross_entropy_with_logits(eta, yt)
            (loss + 0.5 * lam * (beta * beta).sum()).backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        total += seconds
        coef = beta.detach().double().cpu().numpy()
        f = objective64(x, y, lam, coef, float(b0.detach().cpu()))
        if not np.isfinite(f):
            continue
        if best is None or f < best[0]:
            best = (f, lr, seconds)
    return best, total


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="the --write-data folder of `scalemix-bench paper`")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = getattr(torch, args.dtype)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (no CUDA device)"
    with open(os.path.join(args.data, "manifest-paper.json")) as f:
        manifest = json.load(f)
    print(f"PyTorch {torch.__version__} Adam on {name} ({args.dtype}); scalemix backend: "
          f"{manifest['backend']} ({manifest['machine']})")
    header = (f"{'problem':<38} {'scalemix default':>17} {'wgpu Adam':>17} {'torch Adam':>17} "
              f"{'torch grid s':>12} {'grid ratio':>10}")
    print(header)
    for problem in manifest["problems"]:
        x = np.fromfile(os.path.join(args.data, problem["x_file"]), dtype="<f8").reshape(problem["n"], problem["p"])
        y = np.fromfile(os.path.join(args.data, problem["y_file"]), dtype="<f8")
        steps = max(problem["budgets"])
        f_star = problem["f_star"]
        (f, lr, _), total = adam_grid(x, y, problem["lambda"], steps, device, dtype)
        methods = {m["method"]: m for m in problem["methods"]}
        default = next(m for k, m in methods.items() if k.startswith("scalemix default"))
        ours = methods["Adam (tuned)"]
        gap = lambda v: max((v - f_star) / abs(f_star), 0.0)
        print(f"{problem['name']:<38} "
              f"{gap(default['final_objective']):>8.1e} {default['seconds']:>7.3f}s "
              f"{gap(ours['final_objective']):>8.1e} {ours['seconds']:>7.3f}s "
              f"{gap(f):>8.1e} {total / len(GRID):>7.3f}s "
              f"{total:>11.2f}s {total / default['seconds']:>9.1f}×")
    print("gap: relative to F*; seconds: one run (Adam: the mean per rate); grid ratio: the whole "
          "torch grid over scalemix's default fit.")


if __name__ == "__main__":
    main()

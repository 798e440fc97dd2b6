"""The lasso paths of `scalemix-bench lasso`, fitted again from the Python package.

    python benches/peers/python_lasso.py [--data DIR] [--skip-suite]

Runs `scalemix-bench lasso --write-data DIR` (the release binary: the Rust figures), then fits
every logistic lasso path in it with `scalemix.path` from Python at the same λs, and prints
both times and the worst objective gap of the Python path to the Rust one, in one run.
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np

import scalemix

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "scalemix-bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "target", "lasso-data"))
    parser.add_argument("--skip-suite", action="store_true", help="reuse the files in --data")
    args = parser.parse_args()
    if not args.skip_suite:
        subprocess.run([BINARY, "lasso", "--write-data", args.data], check=True)
    with open(os.path.join(args.data, "manifest-lasso.json")) as f:
        manifest = json.load(f)
    print(f"{'problem':<36} {'Rust (s)':>9} {'Python (s)':>11} {'ratio':>6} {'worst gap':>10}")
    for problem in manifest["problems"]:
        if problem["family"] != "logistic":
            continue
        x = np.fromfile(os.path.join(args.data, problem["x_file"]), dtype="<f8")
        x = x.reshape(problem["n"], problem["p"])
        y = np.fromfile(os.path.join(args.data, problem["y_file"]), dtype="<f8")
        start = time.perf_counter()
        path = scalemix.path(
            x, y, family="logistic", alpha=problem["alpha"], lambdas=problem["lambdas"], backend="cpu"
        )
        seconds = time.perf_counter() - start
        gaps = (np.asarray(path["objective"]) - np.asarray(problem["objectives"])) / np.abs(
            problem["objectives"]
        )
        print(
            f"{problem['name']:<36} {problem['seconds']:>9.3f} {seconds:>11.3f} "
            f"{seconds / problem['seconds']:>6.2f} {gaps.max():>10.1e}"
        )


if __name__ == "__main__":
    main()

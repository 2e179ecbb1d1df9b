"""The drop-in against scikit-learn on wide sparse input, in interleaved rounds.

    python benchmarks/sparse_pairs.py [--rounds 3]

Random CSR matrices shaped like TF-IDF features (tens of thousands of columns, about
a hundred nonzeros a row), five classes, one thread: scikit-learn's defaults (adam)
for 3 epochs, lbfgs for 10 iterations, and predict_proba of every row by the adam
model.  Both libraries compute the first layer from the nonzeros: scikit-learn with
scipy.sparse's products, nncore with its sparse first layer (_sparse.h).  No target:
this records where the drop-in stands (README, "The scikit-learn drop-in").  Never run
it next to another timing job.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from harness import limit_threads

CASES = [(5_000, 20_000, 0.005), (3_000, 50_000, 0.002)]  # rows, columns, density
TASKS = [("adam, 3 epochs", dict(max_iter=3)),
         ("lbfgs, 10 iterations", dict(solver="lbfgs", max_iter=10)),
         ("predict_proba", None)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs

    from nncore.sklearn import MLPClassifier as Ours

    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"{args.rounds} interleaved rounds (scikit-learn, then nncore), 1 thread, medians:\n")
    print("| rows x columns, density | task | scikit-learn | nncore | speed-up | rounds' "
          "speed-ups |")
    print("|---|---|---:|---:|---:|---:|")
    for n, f, density in CASES:
        X = sp.random(n, f, density=density, format="csr", random_state=0)
        y = np.random.default_rng(0).integers(0, 5, n)
        times = {(task, key): [] for task, _ in TASKS for key in ("theirs", "ours")}
        with limit_threads(1):
            for _ in range(args.rounds):
                for key, cls in (("theirs", Theirs), ("ours", Ours)):
                    model = None
                    for task, kw in TASKS:
                        start = time.perf_counter()
                        if kw is None:
                            model.predict_proba(X)
                        else:
                            fitted = cls(random_state=0, **kw).fit(X, y)
                            model = model or fitted
                        times[task, key].append(time.perf_counter() - start)
        for task, _ in TASKS:
            a, b = times[task, "theirs"], times[task, "ours"]
            ratios = [p / q for p, q in zip(a, b)]
            unit, scale = ("ms", 1e3) if task == "predict_proba" else ("s", 1.0)
            print(f"| {n:,} x {f:,}, {density:.1%} | {task} | "
                  f"{statistics.median(a) * scale:.2f} {unit} | "
                  f"{statistics.median(b) * scale:.2f} {unit} | "
                  f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}-{max(ratios):.2f}x |")


if __name__ == "__main__":
    main()

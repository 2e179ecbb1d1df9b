"""The drop-in against scikit-learn on wide sparse input, in interleaved rounds.

    python benchmarks/sparse_pairs.py [--rounds 3]

Random CSR matrices shaped like TF-IDF features (tens of thousands of columns, about
a hundred nonzeros a row), five classes, one thread: scikit-learn's defaults (adam)
for 3 epochs, lbfgs for 10 iterations, and predict_proba of every row by the adam
model.  Then hashed features (2**18 columns, scikit-learn's HashingVectorizer makes
2**20 by default; 100 nonzeros a row), whose first layer holds 26 million weights:
the defaults for 2 epochs and predict_proba, on one thread and on two.  Both
libraries compute the first layer from the nonzeros: scikit-learn with scipy.sparse's
products, nncore with its sparse first layer (_sparse.h; on hashed features its
gradient over the touched columns alone, see train_epoch).  No target: this records
where the drop-in stands (README, "The scikit-learn drop-in").  Never run it next to
another timing job.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.sparse as sp
from harness import hashed_csr, limit_threads

CASES = [(5_000, 20_000, 0.005), (3_000, 50_000, 0.002)]  # rows, columns, density
TASKS = [("adam, 3 epochs", dict(max_iter=3)),
         ("lbfgs, 10 iterations", dict(solver="lbfgs", max_iter=10)),
         ("predict_proba", None)]
HASHED = (3_000, 2**18, 100)  # rows, columns, nonzeros a row
HASHED_TASKS = [("adam, 2 epochs", dict(max_iter=2)), ("predict_proba", None)]


def rounds(X, y, tasks, threads, n_rounds, contenders):
    """Each task's times per contender, the contenders alternating round by round."""
    times = {(task, key): [] for task, _ in tasks for key in contenders}
    with limit_threads(threads):
        for _ in range(n_rounds):
            for key, cls in contenders.items():
                model = None
                for task, kw in tasks:
                    start = time.perf_counter()
                    if kw is None:
                        model.predict_proba(X)
                    else:
                        fitted = cls(random_state=0, **kw).fit(X, y)
                        model = model or fitted
                    times[task, key].append(time.perf_counter() - start)
    return times


def report(label, tasks, times):
    for task, _ in tasks:
        a, b = times[task, "theirs"], times[task, "ours"]
        ratios = [p / q for p, q in zip(a, b)]
        unit, scale = ("ms", 1e3) if task == "predict_proba" else ("s", 1.0)
        print(f"| {label} | {task} | {statistics.median(a) * scale:.2f} {unit} | "
              f"{statistics.median(b) * scale:.2f} {unit} | "
              f"{statistics.median(ratios):.2f}x | {min(ratios):.2f}-{max(ratios):.2f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs

    from nncore.sklearn import MLPClassifier as Ours

    warnings.simplefilter("ignore", ConvergenceWarning)
    contenders = {"theirs": Theirs, "ours": Ours}
    print(f"{args.rounds} interleaved rounds (scikit-learn, then nncore), medians:\n")
    print("| input, threads | task | scikit-learn | nncore | speed-up | rounds' speed-ups |")
    print("|---|---|---:|---:|---:|---:|")
    for n, f, density in CASES:
        X = sp.random(n, f, density=density, format="csr", random_state=0)
        y = np.random.default_rng(0).integers(0, 5, n)
        report(f"{n:,} x {f:,}, {density:.1%}, 1 thread", TASKS,
               rounds(X, y, TASKS, 1, args.rounds, contenders))
    n, f, per_row = HASHED
    X = hashed_csr(n, f, per_row, seed=0)
    y = np.random.default_rng(0).integers(0, 5, n)
    for threads in (1, 2):
        report(f"{n:,} x 2**{f.bit_length() - 1} hashed, {per_row} a row, "
               f"{threads} thread{'s' if threads > 1 else ''}", HASHED_TASKS,
               rounds(X, y, HASHED_TASKS, threads, args.rounds, contenders))


if __name__ == "__main__":
    main()

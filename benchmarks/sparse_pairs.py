"""The drop-in against scikit-learn on wide sparse input, in interleaved rounds.

    python benchmarks/sparse_pairs.py [--rounds 3]

Random CSR matrices shaped like TF-IDF features (tens of thousands of columns, about
a hundred nonzeros a row), five classes, scikit-learn's defaults for 3 epochs on one
thread.  nncore gathers each minibatch dense, so its products run over the zeros
too; scikit-learn multiplies the sparse matrix itself.  No target: this records
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
from harness import limit_threads

CASES = [(5_000, 20_000, 0.005), (3_000, 50_000, 0.002)]  # rows, columns, density


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs

    from nncore.sklearn import MLPClassifier as Ours

    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"{args.rounds} interleaved rounds (scikit-learn, then nncore), 3 epochs, "
          "1 thread, medians:\n")
    print("| rows x columns, density | scikit-learn | nncore | speed-up | rounds' speed-ups |")
    print("|---|---:|---:|---:|---:|")
    for n, f, density in CASES:
        X = sp.random(n, f, density=density, format="csr", random_state=0)
        y = np.random.default_rng(0).integers(0, 5, n)
        times = {"theirs": [], "ours": []}
        with limit_threads(1):
            for _ in range(args.rounds):
                for key, cls in (("theirs", Theirs), ("ours", Ours)):
                    model = cls(random_state=0, max_iter=3)
                    start = time.perf_counter()
                    model.fit(X, y)
                    times[key].append(time.perf_counter() - start)
        theirs, ours = (statistics.median(times[k]) for k in ("theirs", "ours"))
        ratios = [a / b for a, b in zip(times["theirs"], times["ours"])]
        print(f"| {n:,} x {f:,}, {density:.1%} | {theirs:.2f} s | {ours:.2f} s | "
              f"{theirs / ours:.2f}x | {min(ratios):.2f}-{max(ratios):.2f}x |")


if __name__ == "__main__":
    main()

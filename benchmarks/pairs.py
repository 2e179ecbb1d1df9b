"""The drop-in against scikit-learn in interleaved rounds (issue 13's targets).

    python benchmarks/pairs.py [--rounds 5] [--threads 1 2]

The ``dropin`` group of ``pytest benchmarks/`` times each contender's rounds back to
back, so a machine whose speed drifts between them (a shared one does: ``report.py``
flags GEMM rates that moved by tens of percent within a run) moves the ratio as well.
Here every round fits scikit-learn's ``MLPClassifier`` and then nncore's from the same
parameters on the same data as that group (its data set, rows and ``random_state``),
so each pair meets the same machine; printed are the medians, the ratio of the
medians and the range of the rounds' own ratios, against the issue's targets (on one
thread: the defaults >= 2x, lbfgs >= 1.5x).  A last row per thread count fits the
defaults on images shaped as MNIST's (harness.padded_digits: blank margins, whose
inputs nncore's forward product passes over).  Never run it next to another timing
job.
"""

from __future__ import annotations

import argparse
import statistics
import time

from contenders import SEED, make_dropin
from harness import Dataset, limit_threads, padded_digits
from test_bench import DROPIN, DROPIN_TEST_ROWS

TARGETS = {"adam": 2.0, "lbfgs": 1.5}  # on one thread


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=60_000,
                        help="the data set's rows (the benchmarks' --nn-samples)")
    args = parser.parse_args()
    data = Dataset(args.samples)
    X, _ = data.get("float64")
    y = data.labels
    n_test = min(DROPIN_TEST_ROWS, X.shape[0] // 4)
    print(f"{args.rounds} interleaved rounds (scikit-learn, then nncore), medians:\n")
    print("| solver | threads | scikit-learn | nncore | speed-up | rounds' speed-ups | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    images = padded_digits(DROPIN["adam"][0] + n_test)
    cases = [(solver, rows, params, (X, y)) for solver, (rows, params) in DROPIN.items()]
    cases.append(("adam, images", DROPIN["adam"][0], DROPIN["adam"][1], images))
    for threads in args.threads:
        for solver, rows, params, (X, y) in cases:
            n = min(rows, X.shape[0] - n_test)
            fits = {c: make_dropin(c, X[:n], y[:n], random_state=SEED, **params)
                    for c in ("sklearn", "nncore")}
            times = {c: [] for c in fits}
            with limit_threads(threads):
                for _ in range(args.rounds):
                    for c, (_, fit) in fits.items():
                        start = time.perf_counter()
                        fit()
                        times[c].append(time.perf_counter() - start)
            sk, nn = (statistics.median(times[c]) for c in ("sklearn", "nncore"))
            pairs = [s / q for s, q in zip(times["sklearn"], times["nncore"])]
            accuracy = {c: est.score(X[-n_test:], y[-n_test:]) for c, (est, _) in fits.items()}
            target = TARGETS.get(solver) if threads == 1 else None
            verdict = "-" if target is None else \
                f">= {target}x: {'met' if sk / nn >= target else 'MISSED'}"
            same = "same accuracy" if abs(accuracy["sklearn"] - accuracy["nncore"]) <= 0.01 \
                else f"ACCURACY {accuracy['sklearn']:.4f} vs {accuracy['nncore']:.4f}"
            print(f"| {solver} ({n:,} rows) | {threads} | {sk:.2f} s | {nn:.2f} s | "
                  f"{sk / nn:.2f}x | {min(pairs):.2f}-{max(pairs):.2f}x | {verdict}; {same} |")


if __name__ == "__main__":
    main()

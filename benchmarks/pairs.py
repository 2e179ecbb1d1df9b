"""The drop-in against scikit-learn in interleaved rounds (issue 13's targets).

    python benchmarks/pairs.py [--rounds 5] [--threads 1 2]

A machine whose speed drifts (a shared one does: ``report.py`` flags GEMM rates that
moved by tens of percent within a run) moves the ratio of two contenders timed one
after the other, so every round here fits scikit-learn's ``MLPClassifier`` and then
nncore's from the same parameters on the same data as the ``dropin`` group of
``pytest benchmarks/`` (its data set, rows and ``random_state``; that group too runs
nncore's fit beside each of scikit-learn's rounds), so each pair meets the same
machine; printed are the medians, the ratio of the medians and the range of the
rounds' own ratios, against the issue's targets (on one thread: the defaults >= 2x,
lbfgs >= 1.5x).  A last row per thread count fits the
defaults on images shaped as MNIST's (harness.padded_digits: blank margins, whose
inputs nncore's forward product passes over).

On one thread, the defaults' pair on uniform inputs measures a floor too: its
epochs times an epoch's first-layer products timed alone (the forward one in nncore's
kernel or BLAS's, the faster; the weight gradient's in BLAS), minibatch by
minibatch: what an implementation that forms every product of the network
computes (the inputs have no zeros to pass over, and the second layer's products
are a tenth of the first's, left out).  It is timed after each round, so each
round meets its own floor.

On one thread, the lbfgs pair also measures a floor: what an implementation spends
that forms the same loss's and gradient's products as often and runs SciPy's
L-BFGS-B, both of which the fit must do to take scikit-learn's steps.  Per
evaluation that is the first layer's forward product (nncore's kernel or BLAS's,
the faster) and its weight-gradient product (BLAS's), timed alone; plus the time
the fit spends in SciPy's minimize outside the objective (L-BFGS-B and its Python;
see ``LbfgsFloor``).

scikit-learn's time over a floor is the most such an implementation reaches
against it.  nncore goes under both: the weight gradient leaves out the products
of neurons whose deltas are all zero (relu neurons negative on every row; most of
the first layer's die on these inputs, see _idle_product in _kernels.pyx), which
add only zeros.
Never run it next to another timing job.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time

import numpy as np
from contenders import SEED, make_dropin
from harness import Dataset, limit_threads, padded_digits, seconds
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
    floors = []
    images = padded_digits(DROPIN["adam"][0] + n_test)
    cases = [(solver, rows, params, (X, y)) for solver, (rows, params) in DROPIN.items()]
    cases.append(("adam, images", DROPIN["adam"][0], DROPIN["adam"][1], images))
    for threads in args.threads:
        for solver, rows, params, (X, y) in cases:
            n = min(rows, X.shape[0] - n_test)
            fits = {c: make_dropin(c, X[:n], y[:n], random_state=SEED, **params)
                    for c in ("sklearn", "nncore")}
            times = {c: [] for c in fits}
            floor = None
            if threads == 1 and solver == "lbfgs":
                floor = LbfgsFloor(X[:n])
            elif threads == 1 and solver == "adam":
                floor = EpochFloor(X[:n], fits["nncore"][0])
            with limit_threads(threads):
                for _ in range(args.rounds):
                    for c, (_, fit) in fits.items():
                        with (floor.counting() if isinstance(floor, LbfgsFloor)
                              and c == "nncore"
                              else contextlib.nullcontext()):
                            start = time.perf_counter()
                            fit()
                            times[c].append(time.perf_counter() - start)
                    if floor:
                        floor.time_products()
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
            if floor:
                floors.append((n, times, floor))
    for n, times, floor in floors:
        if isinstance(floor, EpochFloor):
            over = {c: [t / f for t, f in zip(times[c], floor.rounds)] for c in times}
            print(f"\nadam floor, 1 thread, {n:,} rows.  Each round: {floor.epochs} epochs x "
                  f"{floor.batches} minibatches of the first layer's two products alone, "
                  f"median {statistics.median(floor.rounds):.2f} s.  Each round's time over "
                  f"its floor, median (range): nncore {_spread(over['nncore'])}; scikit-learn "
                  f"{_spread(over['sklearn'])}, the most an implementation forming every "
                  f"product reaches against it here.")
            continue
        rounds = floor.floors()
        over = {c: [t / r[0] for t, r in zip(times[c], rounds)] for c in times}
        least, count, spent, own, scipy, products = sorted(rounds)[(len(rounds) - 1) // 2]
        print(f"\nlbfgs floor, 1 thread, {n:,} rows.  The median round: nncore's fit made "
              f"{count} evaluations, {spent:.2f} s, the two products of each alone "
              f"{products * 1e3:.1f} ms; it spent {scipy:.2f} s in SciPy's minimize outside "
              f"them and {own:.2f} s in its own Python around them: floor {least:.2f} s.  "
              f"Each round's "
              f"time over its floor, median (range): nncore "
              f"{statistics.median(over['nncore']):.2f} ({min(over['nncore']):.2f}-"
              f"{max(over['nncore']):.2f}); scikit-learn "
              f"{statistics.median(over['sklearn']):.2f}x ({min(over['sklearn']):.2f}-"
              f"{max(over['sklearn']):.2f}x), the most an implementation forming every product "
              f"reaches against it here.")


def _spread(values):
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f}x)"


class FirstLayerProducts:
    """The first layer's two products over rows of ``X``, ``hidden`` neurons wide,
    timed alone: the forward one the faster of nncore's kernel and BLAS's, the weight
    gradient's BLAS's either way round.  Each writes into an array made once, as a
    fit's products do: a new array of the gradient's size each call costs the
    kernel's page clearing until malloc's threshold adapts (seen here as a 25% slower
    first second)."""

    def __init__(self, X, hidden):
        import nncore

        self.X = X
        # one layer, identity: its predict is the forward product (plus the bias)
        self.layer = nncore.Network((X.shape[1], hidden), activation="identity",
                                    output="identity", seed=0)
        self.D = np.random.default_rng(0).standard_normal((X.shape[0], hidden))
        self.W = np.ascontiguousarray(self.layer.params.reshape(hidden, -1)[:, 1:].T)

    def seconds(self, batch, repeat=1):
        """``(forward, gradient)``: the seconds of a pass over all the rows, ``batch``
        rows a product, each the fastest of ``repeat`` passes of its faster way."""
        X, D, W, layer = self.X, self.D, self.W, self.layer
        H, G, GT = (np.empty(shape) for shape in ((batch, W.shape[1]), W.T.shape, W.shape))
        starts = range(0, X.shape[0], batch)

        def fastest(product):
            def run():
                for s in starts:
                    product(X[s:s + batch], D[s:s + batch])
            return min(seconds(run) for _ in range(repeat))

        forward = min(fastest(lambda x, d: np.matmul(x, W, out=H[:len(x)])),
                      fastest(lambda x, d: layer.predict(x)))
        gradient = min(fastest(lambda x, d: np.matmul(d.T, x, out=G)),
                       fastest(lambda x, d: np.matmul(x.T, d, out=GT)))
        return forward, gradient


class EpochFloor:
    """The least time of a minibatch fit of the network ``estimator`` fits (its hidden
    width, batch size and epochs, read off it after the round): each minibatch's
    first-layer forward product and weight-gradient product, timed alone over an epoch
    (see the module's docstring).  ``rounds``: each round's floor in seconds."""

    def __init__(self, X, estimator):
        hidden = estimator.hidden_layer_sizes
        self.products = FirstLayerProducts(X, hidden if isinstance(hidden, int) else hidden[0])
        self.estimator, self.n = estimator, X.shape[0]
        self.rounds = []

    def time_products(self, repeat=3):
        """One epoch's products, the fastest of ``repeat``, times the round's epochs."""
        batch = self.estimator.batch_size
        batch = min(200, self.n) if batch == "auto" else batch
        self.batches, self.epochs = -(-self.n // batch), self.estimator.n_iter_
        self.rounds.append(self.epochs * sum(self.products.seconds(batch, repeat)))


class LbfgsFloor:
    """The least time of an L-BFGS fit that forms every product of scikit-learn's
    loss and gradient as often as nncore's fit evaluates them and runs SciPy's
    L-BFGS-B (see the module's docstring): during nncore's timed fits its
    evaluations are counted and timed, and so is SciPy's minimize (less the
    objective and callbacks it calls); after each round an evaluation's two
    products are timed alone.  The floor of a round is its evaluations times those
    products, plus its time in SciPy."""

    def __init__(self, X, hidden=100):
        self.X = X
        self.products = FirstLayerProducts(X, hidden)
        # per round: evaluations, their time, nncore's own time around them (its
        # objective and callbacks), time in SciPy, then an evaluation's products
        self.rounds = []

    @contextlib.contextmanager
    def counting(self):
        """Counts and times the evaluations of the fits inside and their time in SciPy."""
        import scipy.optimize

        from nncore.training import LocalData

        minimize, evaluate = scipy.optimize.minimize, LocalData.loss_and_gradient_sums
        spent = {"count": 0, "evaluations": 0.0, "nncore": 0.0, "minimize": 0.0}

        def timed(f, key):
            @functools.wraps(f)  # (SciPy reads the callback's signature)
            def call(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return f(*args, **kwargs)
                finally:
                    spent[key] += time.perf_counter() - start
            return call

        def counted(data):
            spent["count"] += 1
            return timed(evaluate, "evaluations")(data)

        def timed_minimize(fun, x0, *args, callback=None, **kwargs):
            return timed(minimize, "minimize")(
                timed(fun, "nncore"), x0, *args,
                callback=None if callback is None else timed(callback, "nncore"), **kwargs)

        scipy.optimize.minimize, LocalData.loss_and_gradient_sums = timed_minimize, counted
        try:
            yield
        finally:
            scipy.optimize.minimize, LocalData.loss_and_gradient_sums = minimize, evaluate
        self.rounds.append([spent["count"], spent["evaluations"],
                            spent["nncore"] - spent["evaluations"],
                            spent["minimize"] - spent["nncore"]])

    def time_products(self, repeat=3):
        """An evaluation's two products alone, right after the round (the fastest of
        ``repeat``; each the faster of its two ways, nncore's kernel or NumPy's BLAS
        (forward), BLAS's product either way round (gradient))."""
        self.rounds[-1].append(sum(self.products.seconds(self.X.shape[0], repeat)))

    def floors(self):
        """Each round's (floor, evaluations, their time, nncore's own time around
        them, time in SciPy, an evaluation's products)."""
        return [(count * products + scipy, count, spent, own, scipy, products)
                for count, spent, own, scipy, products in self.rounds]


if __name__ == "__main__":
    main()

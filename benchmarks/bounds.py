"""The optimiser targets of issue 16 against what SGD's epoch plus each update's least
memory traffic would give on this machine.

    python benchmarks/bounds.py [--rounds 3]

Everything runs on one thread (threadpoolctl) in this one process, contenders interleaved
round by round; medians are printed, and each measured ratio is the median of the rounds'
ratios (an epoch against SGD's in the same round, a second apart).  For each target it
measures what no implementation of SGD's epoch with the update added can avoid, on the same
data shapes.  (That is a floor for the update bolted onto SGD's epoch, not for the epoch:
nncore's Adam and Nesterov forms also form the next minibatch's first-layer outputs from
each panel's new weights while they are in cache, where SGD's epoch reads the whole layer
again and BLAS packs it, so they can land below it.)

- Adam against SGD (784-100-10, batch 32, float64 and float32): SGD's epoch measured (its
  update is fused into the gradient product), Adam's extra work at least one pass that reads
  the weights and both moments and writes them, every step.  (Its square root and division
  need not use the divider: nncore's AVX-512 loop takes them from estimates, a series and
  Newton's iterations.  That loop is bound by its arithmetic while its vectors are in the
  first-level cache, by their traffic when they come from the third, as part of them do
  in an epoch, whose other data push them out of the second: see adam_loop.c.)
  The gradient need not go through memory: nncore forms the first layer's a panel of
  neurons at a time and steps each panel at once, while it is in cache;
- momentum against SGD: SGD's update is fused into the gradient product; momentum's needs at
  least one more pass over the parameters (read the velocity and the weights, write the
  weights) every step, whatever the implementation;
- Nesterov's momentum against SGD (float64 and float32): its step uses the gradient and the
  new velocity apart (W -= r (g + mu v)), so it cannot add the product into the velocity as
  momentum's does; with the gradient in cache (nncore's panels, as for Adam), at least one
  pass that reads the velocity and the weights and writes both every step.

(Issue 13's drop-in targets are timed by ``benchmarks/report.py`` and
``benchmarks/pairs.py``.  See the README's speed section.)

Never run it next to another timing job: it measures the machine.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import warnings

import numpy as np
from harness import median_seconds
from threadpoolctl import threadpool_limits

import nncore

SIZES = (784, 100, 10)
N_PARAMS = sum(o * (i + 1) for i, o in zip(SIZES[:-1], SIZES[1:]))


def rewrite(*vectors):
    """One pass that reads each of the vectors and writes it back (NumPy passes moving
    those bytes with next to no arithmetic: each rewritten in place)."""
    def run():
        for a in vectors:
            np.multiply(a, 1.0, out=a)
    return run


def adam_traffic(n, dtype=np.float64):
    """The least memory traffic Adam adds to SGD every step, the gradient in cache: its
    update reads and writes three vectors of n values (the weights and both moments)."""
    rng = np.random.default_rng(0)
    return rewrite(*(rng.random(n).astype(dtype) for _ in range(3)))


def nesterov_traffic(n, dtype=np.float64):
    """The least memory traffic Nesterov's momentum adds to SGD every step, the gradient in
    cache: its update reads and writes two vectors of n values (velocity, weights)."""
    rng = np.random.default_rng(0)
    return rewrite(*(rng.random(n).astype(dtype) for _ in range(2)))


def momentum_pass(n):
    """The least memory traffic momentum adds to SGD: even with the product writing the
    velocity in place (v := mu v + g, as SGD's writes the weights; nncore's kernels do),
    W := W - r v reads v and W and writes W once more every step (one NumPy pass of those
    three streams)."""
    rng = np.random.default_rng(0)
    v, w = rng.random(n), rng.random(n)

    def run():
        np.subtract(w, v, out=w)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(12345)
    X = rng.random((20_000, SIZES[0]))
    y = ((X - 0.5) @ rng.standard_normal((SIZES[0], SIZES[2]))).argmax(axis=1)
    Y = np.eye(SIZES[2])[y]
    times = {}

    def timed(name, f, repeat=1):
        times.setdefault(name, []).append(median_seconds(f, repeat))

    # each traffic pass is timed on the parameters and on 16 values, and the second
    # (NumPy's calls, not memory) taken from the first
    passes = {"adam": adam_traffic, "adam f32": functools.partial(adam_traffic, dtype=np.float32),
              "momentum": momentum_pass, "nesterov": nesterov_traffic,
              "nesterov f32": functools.partial(nesterov_traffic, dtype=np.float32)}
    with threadpool_limits(1):
        traffic = {name: (make(N_PARAMS), make(16)) for name, make in passes.items()}
        X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
        nets = {name: nncore.Network(list(SIZES), activation="relu", output="softmax",
                                     loss="cross_entropy", seed=0,
                                     dtype=np.float32 if name.endswith("f32") else np.float64)
                for name in ("sgd", "momentum", "adam", "nesterov", "sgd f32", "adam f32",
                             "nesterov f32")}
        opts = {"sgd": nncore.optimizers.SGD(0.1),
                "momentum": nncore.optimizers.SGD(0.01, momentum=0.9),
                "adam": nncore.optimizers.Adam(0.001),
                "nesterov": nncore.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                "sgd f32": nncore.optimizers.SGD(0.1),
                "adam f32": nncore.optimizers.Adam(0.001),
                "nesterov f32": nncore.optimizers.SGD(0.01, momentum=0.9, nesterov=True)}
        for _ in range(args.rounds):
            for name, (full, tiny) in traffic.items():
                timed(f"{name} traffic, one step", full, repeat=200)
                timed(f"{name} calls, one step", tiny, repeat=200)
            for name, net in nets.items():
                data = (X32, Y32) if name.endswith("f32") else (X, Y)
                timed(f"epoch {name}", lambda net=net, name=name, data=data: net.fit(
                    *data, epochs=1, batch_size=32, optimizer=opts[name], shuffle=False))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name in passes:
        med[f"{name} traffic, one step"] -= med.pop(f"{name} calls, one step")
    steps32 = -(-X.shape[0] // 32)

    rows = []
    for opt, limit, dtype in (("adam", 1.3, "f64"), ("adam", 1.3, "f32"),
                              ("momentum", 1.15, "f64"), ("nesterov", 1.15, "f64"),
                              ("nesterov", 1.15, "f32")):
        suffix = " f32" if dtype == "f32" else ""
        sgd, extra = med["epoch sgd" + suffix], med[f"{opt}{suffix} traffic, one step"]
        # (the median of each round's ratio, the two epochs a second apart: the machine's
        # drift over the run moves it less than the ratio of the medians)
        ratio = statistics.median(o / b for o, b in zip(times[f"epoch {opt}{suffix}"],
                                                         times["epoch sgd" + suffix]))
        rows.append((f"{opt} epoch <= {limit}x SGD ({dtype}, b32)",
                     ratio, (sgd + steps32 * extra) / sgd,
                     f"SGD {sgd:.3f} s + {steps32} x {extra * 1e6:.0f} us"))
    print(f"1 thread, medians of {args.rounds} rounds (seconds):")
    for k, v in med.items():
        print(f"  {k:34s} {v:.6f}")
    print()
    print("| target | nncore measured | SGD's epoch + the update's least traffic | how |")
    print("|---|---:|---:|---|")
    for name, measured, best, how in rows:
        print(f"| {name} | {measured:.2f}x SGD | {best:.2f}x SGD | {how} |")


if __name__ == "__main__":
    main()

"""The physical bounds behind the speed targets nncore misses on this machine (issues 13, 16).

    python benchmarks/bounds.py [--rounds 3]

Everything runs on one thread (threadpoolctl) in this one process, contenders interleaved
round by round; medians are printed.  For each target it measures what no implementation of
the same arithmetic can avoid, on the same data shapes and the same BLAS (SciPy's, which
nncore's kernels call), and so the best ratio this machine allows:

- the drop-in's adam defaults (784-100-10, batch 200, 20,000 float64 rows, 10 epochs): the two
  large matrix products of every minibatch (forward and weight gradient of the first layer,
  in the orientations nncore uses) plus Adam's memory traffic on every step;
- its lbfgs (4,000 rows, 100 iterations): the same two products over all the rows, in chunks
  of 512, for each evaluation, plus SciPy's L-BFGS-B on 79,510 parameters (paid by
  scikit-learn as much as by nncore);
- Adam against SGD (784-100-10, batch 32, float64 and float32): SGD's epoch measured (its
  update is fused into the gradient product), Adam's extra work at least one pass that reads
  the gradient, the weights and both moments and writes the last three, every step.  (Its
  square root and division need not use the divider: nncore's AVX-512 loop takes them from
  estimates and Newton's iterations, and is then bound by this traffic);
- momentum against SGD: SGD's update is fused into the gradient product; momentum's needs at
  least one more pass over the parameters (read the velocity and the weights, write the
  weights) every step, whatever the implementation.

Never run it next to another timing job: it measures the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import scipy.linalg.blas as fblas
import scipy.optimize
from threadpoolctl import threadpool_limits

import nncore

SIZES = (784, 100, 10)
N_PARAMS = sum(o * (i + 1) for i, o in zip(SIZES[:-1], SIZES[1:]))


def best_of(f, repeat):
    """Median of ``repeat`` timings of f()."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def first_layer_products(X, rows):
    """Seconds for the forward product Z^T = W X^T and the gradient product G = D^T X of
    the first layer over every chunk of ``rows`` rows of X, once each (Fortran calls, no
    copies: the orientations nncore's kernels use)."""
    n_in, n_out = SIZES[0], SIZES[1]
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n_out, n_in))  # row-major: W.T is Fortran (n_in, n_out)
    D = rng.standard_normal((rows, n_out))
    Z = np.empty((rows, n_out), order="F")
    G = np.empty((n_in, n_out), order="F")

    def run():
        for s in range(0, X.shape[0] - rows + 1, rows):
            Xb = X[s:s + rows]
            fblas.dgemm(1.0, Xb.T, W.T, trans_a=1, c=Z, overwrite_c=1)
            fblas.dgemm(1.0, Xb.T, D.T, trans_b=1, c=G, overwrite_c=1)
    return run


def adam_traffic(n, dtype=np.float64):
    """The least memory traffic Adam adds to SGD every step: its update reads four vectors
    of n values (gradient, weights, both moments) and writes three (NumPy passes moving
    the same bytes: three vectors rewritten in place, one read)."""
    rng = np.random.default_rng(0)
    w, m, v, g = (rng.random(n).astype(dtype) for _ in range(4))

    def run():
        for a in (w, m, v):
            np.multiply(a, 1.0, out=a)
        g.sum()
    return run


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


def lbfgs_iteration_cost(nfev):
    """Seconds of SciPy's L-BFGS-B itself over ``nfev`` evaluations on N_PARAMS parameters
    (a quadratic whose gradient costs next to nothing)."""
    d = np.linspace(1.0, 2.0, N_PARAMS)

    def run():
        scipy.optimize.minimize(lambda x: (0.5 * float(d @ (x * x)), d * x), np.ones(N_PARAMS),
                                jac=True, method="L-BFGS-B",
                                options={"maxiter": nfev, "maxfun": nfev, "gtol": 0, "ftol": 0})
    return run


def lbfgs_evaluations(estimator, X, y):
    """The loss-and-gradient evaluations of ``estimator(solver="lbfgs", max_iter=100)``
    (scikit-learn's fit, from the same start, takes the same steps)."""
    seen = []
    minimize = nncore.optimizers.LBFGS.minimize

    def counted(self, *args, **kwargs):
        result = minimize(self, *args, **kwargs)
        seen.append(result.nfev)
        return result
    nncore.optimizers.LBFGS.minimize = counted
    try:
        estimator(solver="lbfgs", max_iter=100, random_state=0).fit(X, y)
    finally:
        nncore.optimizers.LBFGS.minimize = minimize
    return int(seen[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from sklearn.neural_network import MLPClassifier as Theirs

    from nncore.sklearn import MLPClassifier as Ours

    rng = np.random.default_rng(12345)
    X = rng.random((20_000, SIZES[0]))
    y = ((X - 0.5) @ rng.standard_normal((SIZES[0], SIZES[2]))).argmax(axis=1)
    Y = np.eye(SIZES[2])[y]
    small = np.ascontiguousarray(X[:4000])
    times = {}

    def timed(name, f, repeat=1):
        times.setdefault(name, []).append(best_of(f, repeat))

    with threadpool_limits(1):
        nfev = lbfgs_evaluations(Ours, small, y[:4000])
        adam_steps = 10 * (20_000 // 200)
        fwd_adam = first_layer_products(X, 200)
        fwd_lbfgs = first_layer_products(small, 512)
        adam_pass = adam_traffic(N_PARAMS)
        stream = momentum_pass(N_PARAMS)
        setulb = lbfgs_iteration_cost(nfev)
        adam_pass32 = adam_traffic(N_PARAMS, np.float32)
        X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
        nets = {name: nncore.Network(list(SIZES), activation="relu", output="softmax",
                                     loss="cross_entropy", seed=0,
                                     dtype=np.float32 if name.endswith("f32") else np.float64)
                for name in ("sgd", "momentum", "adam", "sgd f32", "adam f32")}
        opts = {"sgd": nncore.optimizers.SGD(0.1),
                "momentum": nncore.optimizers.SGD(0.01, momentum=0.9),
                "adam": nncore.optimizers.Adam(0.001),
                "sgd f32": nncore.optimizers.SGD(0.1),
                "adam f32": nncore.optimizers.Adam(0.001)}
        for _ in range(args.rounds):
            timed("sklearn adam", lambda: Theirs(max_iter=10, random_state=0).fit(X, y))
            timed("nncore adam", lambda: Ours(max_iter=10, random_state=0).fit(X, y))
            timed("sklearn lbfgs", lambda: Theirs(solver="lbfgs", max_iter=100,
                                                  random_state=0).fit(small, y[:4000]))
            timed("nncore lbfgs", lambda: Ours(solver="lbfgs", max_iter=100,
                                               random_state=0).fit(small, y[:4000]))
            timed("products, adam defaults", lambda: [fwd_adam() for _ in range(10)])
            timed("products, one lbfgs evaluation", fwd_lbfgs, repeat=5)
            timed("adam traffic, one step", adam_pass, repeat=200)
            timed("adam traffic f32, one step", adam_pass32, repeat=200)
            timed("momentum traffic, one step", stream, repeat=200)
            timed("L-BFGS-B alone", setulb)
            for name, net in nets.items():
                data = (X32, Y32) if name.endswith("f32") else (X, Y)
                timed(f"epoch {name}", lambda net=net, name=name, data=data: net.fit(
                    *data, epochs=1, batch_size=32, optimizer=opts[name], shuffle=False))
    med = {k: statistics.median(v) for k, v in times.items()}
    steps32 = -(-X.shape[0] // 32)

    rows = []
    bound = med["products, adam defaults"] + adam_steps * med["adam traffic, one step"]
    rows.append(("drop-in adam defaults >= 2x scikit-learn",
                 med["sklearn adam"] / med["nncore adam"], med["sklearn adam"] / bound,
                 f"products {med['products, adam defaults']:.3f} s + Adam's traffic "
                 f"{adam_steps} x {med['adam traffic, one step'] * 1e6:.0f} us"))
    bound = nfev * med["products, one lbfgs evaluation"] + med["L-BFGS-B alone"]
    rows.append(("drop-in lbfgs >= 1.5x scikit-learn",
                 med["sklearn lbfgs"] / med["nncore lbfgs"], med["sklearn lbfgs"] / bound,
                 f"{nfev} evaluations x {med['products, one lbfgs evaluation'] * 1e3:.1f} ms "
                 f"+ L-BFGS-B {med['L-BFGS-B alone']:.3f} s"))
    sgd = med["epoch sgd"]
    rows.append(("adam epoch <= 1.3x SGD (f64, b32)", med["epoch adam"] / sgd,
                 (sgd + steps32 * med["adam traffic, one step"]) / sgd,
                 f"SGD {sgd:.3f} s + {steps32} x {med['adam traffic, one step'] * 1e6:.0f} us"))
    sgd32 = med["epoch sgd f32"]
    rows.append(("adam epoch <= 1.3x SGD (f32, b32)", med["epoch adam f32"] / sgd32,
                 (sgd32 + steps32 * med["adam traffic f32, one step"]) / sgd32,
                 f"SGD {sgd32:.3f} s + {steps32} x "
                 f"{med['adam traffic f32, one step'] * 1e6:.0f} us"))
    rows.append(("momentum epoch <= 1.15x SGD (f64, b32)", med["epoch momentum"] / sgd,
                 (sgd + steps32 * med["momentum traffic, one step"]) / sgd,
                 f"SGD {sgd:.3f} s + {steps32} x {med['momentum traffic, one step'] * 1e6:.0f} us"))
    print(f"1 thread, medians of {args.rounds} rounds (seconds):")
    for k, v in med.items():
        print(f"  {k:34s} {v:.4f}")
    print()
    print("| target | nncore measured | best this machine allows | the bound |")
    print("|---|---:|---:|---|")
    for name, measured, best, how in rows:
        ratio = "x" if "scikit" in name else "x SGD"
        print(f"| {name} | {measured:.2f}{ratio} | {best:.2f}{ratio} | {how} |")


if __name__ == "__main__":
    main()

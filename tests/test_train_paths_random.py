"""Network.fit's compiled epochs against the plain gradient and a NumPy update, on
randomly drawn set-ups.

train_epoch takes many ways through a minibatch, chosen by the set-up: the dense
kernel's 8-row groups, panels of the first layer stepped as their gradient is
formed, the next minibatch's product looked ahead, SGD fused into the product,
momentum into its velocity, zero inputs passed over, CSR rows gathered or read in
place, two threads' parts added.  Each draw here picks widths (30 to 1000 inputs,
16 to 130 hidden), a batch size around the thresholds (1 to 257), an optimiser,
its weight decay, a dtype, 0 to 97% zeros (blank margins or scattered), CSR or
dense, one or two threads, and trains two epochs without shuffling.  The same steps
are then taken minibatch by minibatch in Python: ``Network.gradient`` (the plain
data pass) and the optimiser's update written out in NumPy from its documented
formulas, in the same dtype.

Tolerances: float64 1e-12 relative to the largest parameter (over 400 draws:
median 2e-16, largest 4e-14); float32 1e-5, but 1e-4 for Adam, whose
m / (sqrt(v) + eps) magnifies float32's rounding in gradients near zero (largest
seen: 2e-6 without Adam, 3e-5 with).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import nncore
from nncore import _layout, optimizers

STEP = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3}


def _optimizer(o):
    if o["kind"] == "adam":
        return optimizers.Adam(o["lr"], weight_decay=o["wd"])
    return optimizers.SGD(o["lr"], momentum=0.0 if o["kind"] == "sgd" else o["mu"],
                          nesterov=o["kind"] == "nesterov", weight_decay=o["wd"])


def _numpy_steps(net, X, Y, batch, o, epochs):
    """The minibatches' steps: net.gradient, then the update in NumPy (net's dtype)."""
    P = net.params.copy()
    dt = P.dtype.type
    mask = _layout.weights_mask(net.sizes)
    m, v, t = np.zeros_like(P), np.zeros_like(P), 0
    X = X.toarray() if sp.issparse(X) else X
    for _ in range(epochs):
        for s in range(0, X.shape[0], batch):
            net.params = P
            g = net.gradient(X[s:s + batch], Y[s:s + batch])
            g = g + dt(o["wd"]) * P * mask
            t += 1
            r = dt(o["lr"])
            if o["kind"] == "adam":
                b1, b2, eps = 0.9, 0.999, 1e-8
                m = dt(b1) * m + dt(1 - b1) * g
                v = dt(b2) * v + dt(1 - b2) * g * g
                P = P - dt(o["lr"] / (1 - b1 ** t)) * m \
                    / (np.sqrt(v) * dt(1 / np.sqrt(1 - b2 ** t)) + dt(eps))
            elif o["kind"] == "sgd":
                P = P - r * g
            else:
                v = dt(o["mu"]) * v + g
                P = P - r * (g + dt(o["mu"]) * v) if o["kind"] == "nesterov" else P - r * v
    return P


def _draw(seed):
    rng = np.random.default_rng(seed)
    n_in = int(rng.choice([30, 200, 784, 1000]))
    sizes = [n_in, int(rng.choice([16, 24, 100, 130]))]
    if rng.random() < 0.3:
        sizes.append(int(rng.choice([10, 33])))
    sizes.append(int(rng.choice([1, 10])))
    act = str(rng.choice(["relu", "sigmoid", "tanh"]))
    out, loss = ("softmax", "cross_entropy") if sizes[-1] > 1 and rng.random() < 0.5 \
        else ("sigmoid", "mse")
    dtype = "float32" if rng.random() < 0.25 else "float64"
    batch = int(rng.choice([1, 7, 8, 16, 31, 32, 33, 48, 64, 100, 200, 257]))
    n = int(rng.choice([batch * 2 + 3, 300]))
    zero = float(rng.choice([0.0, 0.6, 0.97]))
    X = rng.random((n, n_in))
    X[rng.random((n, n_in)) < zero] = 0
    if rng.random() < 0.3:  # blank margins, as images have
        X[:, :n_in // 4] = 0
        X[:, -n_in // 5:] = 0
    X = X.astype(dtype)
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)] if sizes[-1] > 1 \
        else rng.random((n, 1))
    kind = str(rng.choice(list(STEP)))
    o = {"kind": kind, "lr": STEP[kind], "mu": float(rng.choice([0.5, 0.9])),
         "wd": float(rng.choice([0.0, 1e-3]))}
    threads = int(rng.choice([1, 2]))
    if rng.random() < 0.25:
        X = sp.csr_matrix(X)
    return dict(sizes=sizes, act=act, out=out, loss=loss, dtype=dtype, batch=batch, X=X,
                Y=Y.astype(dtype), o=o, threads=threads)


@pytest.mark.parametrize("block", range(4))
def test_random_set_ups_take_the_plain_steps(block):
    for seed in range(50 * block, 50 * block + 50):
        d = _draw(seed)
        nets = [nncore.Network(d["sizes"], activation=d["act"], output=d["out"],
                               loss=d["loss"], dtype=d["dtype"], seed=seed) for _ in range(2)]
        nets[0].fit(d["X"], d["Y"], epochs=2, batch_size=d["batch"], shuffle=False,
                    optimizer=_optimizer(d["o"]), n_threads=d["threads"], blas_threads=1)
        expected = _numpy_steps(nets[1], d["X"], d["Y"], d["batch"], d["o"], 2)
        rtol = 1e-12 if d["dtype"] == "float64" else 1e-4 if d["o"]["kind"] == "adam" else 1e-5
        scale = np.abs(expected).max()
        error = np.abs(nets[0].params - expected).max() / scale
        assert error <= rtol, (seed, error, {k: v for k, v in d.items() if k not in "XY"},
                               type(d["X"]).__name__)

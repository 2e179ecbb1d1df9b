"""Fuzzing: random shapes, dtypes, strides and values into every kernel entry point
and every public method.  Nothing may crash the interpreter or touch memory
outside the buffers it was given; wrong lengths and shapes passed straight to
the kernels must raise ValueError or TypeError.

Every array handed to a kernel here is a view into a larger buffer whose other
bytes (guard bands at both ends, and the gaps of strided views) are compared
before and after the call: an out-of-bounds *write* shows up as a changed byte.
Out-of-bounds *reads* are caught by running this file under the debug build
(Cython bounds checks on) and the AddressSanitizer build, ``ci/debug_build.sh``
and ``ci/asan.sh``.

Example counts follow the hypothesis profile (``ci``: 60 per test); set
``NNCORE_FUZZ_EXAMPLES=5000`` for a long run, and pass
``--hypothesis-show-statistics`` to pytest to see how many ran.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import nncore  # noqa: E402
from nncore import _kernels as K  # noqa: E402
from nncore import _layout  # noqa: E402

F32, F64 = np.float32, np.float64
ERRORS = (ValueError, TypeError)
GUARD = 8  # elements of guard band on each side of every buffer

# ------------------------------------------------------------------ values

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308,
           1.401298464324817e-45, 1e-40, 1.1754943508222875e-38, 1e-8, 30.0, -30.0, 88.8,
           -88.8, 104.0, -104.0, 709.9, -709.9, 745.2, 1e4, -1e4, 3.4028234663852886e38,
           -3.4028234663852886e38, 1e300, -1e300, 1.7976931348623157e308]
NONFINITE = [np.nan, np.inf, -np.inf]
REGIMES = ["normal", "huge", "tiny", "denormal", "zeros", "negative-zero", "special",
           "mixed", "nonfinite"]


def fill(rng, shape, dtype, regime):
    """Values of one regime: ordinary, huge, tiny, denormal, signed zeros, the
    special list, a mix, or one with NaN and infinities."""
    n = int(np.prod(shape))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if regime == "normal":
            v = rng.normal(0, 2, n)
        elif regime == "huge":
            v = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(30, 308, n)
        elif regime == "tiny":
            v = rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-300, -20, n)
        elif regime == "denormal":
            tiny = np.finfo(dtype).smallest_subnormal if dtype in (F32, F64) else 5e-324
            v = rng.choice([-1, 1], n) * rng.integers(1, 1000, n) * float(tiny)
        elif regime == "zeros":
            v = np.zeros(n)
        elif regime == "negative-zero":
            v = np.full(n, -0.0)
        elif regime == "special":
            v = rng.choice(SPECIAL, n)
        elif regime == "mixed":
            v = np.where(rng.uniform(size=n) < 0.5, rng.normal(0, 1, n), rng.choice(SPECIAL, n))
        else:
            v = np.where(rng.uniform(size=n) < 0.3, rng.choice(NONFINITE, n), rng.normal(0, 1, n))
        return v.astype(dtype).reshape(shape)


# ------------------------------------------------------------- arguments

@dataclasses.dataclass
class Arr:
    """An array argument, built fresh (inside a guarded buffer) for every call."""

    shape: tuple
    dtype: type
    const: bool  # the kernel only reads it
    data: np.ndarray | None = None  # exact contents (ids, sizes, counters ...)
    layout: str = "C"  # C | strided | fortran
    readonly: bool = False
    none: bool = False
    as_list: bool = False


def materialize(arg, rng, regime):
    """(the argument, a checker that the bytes around its view are untouched)."""
    if not isinstance(arg, Arr):
        return arg, lambda: True
    if arg.none:
        return None, lambda: True
    shape, dtype = tuple(arg.shape), arg.dtype
    if arg.data is not None:
        values = np.asarray(arg.data).astype(dtype, copy=False).reshape(shape)
    elif arg.const:
        values = fill(rng, shape, dtype, regime)
    else:  # an output or a workspace: garbage, as np.empty would give
        values = fill(rng, shape, dtype, "mixed") if np.dtype(dtype).kind == "f" else \
            np.zeros(shape, dtype)
    if arg.as_list:
        return values.tolist(), lambda: True
    n = int(np.prod(shape))
    per = 2 if arg.layout == "strided" else 1
    base = np.empty(n * per + 2 * GUARD, dtype=dtype)
    base_bytes = base.view(np.uint8)
    base_bytes[:] = rng.integers(0, 256, base_bytes.size, dtype=np.uint8)

    def index(buf):
        body = buf[GUARD:GUARD + n * per]
        if len(shape) == 1:
            return body[::per]
        r, c = shape
        if arg.layout == "strided":
            return body.reshape(r, 2 * c)[:, ::2]
        if arg.layout == "fortran":
            return body.reshape(c, r).T
        return body.reshape(r, c)

    view = index(base)
    view[...] = values
    mask = np.ones(base.shape, dtype=bool)
    index(mask)[...] = False  # True outside the view
    outside = base[mask].tobytes()
    if arg.readonly:
        view.flags.writeable = False
    return view, lambda: base[mask].tobytes() == outside


# ------------------------------------------------------------- networks

@st.composite
def net_config(draw, max_layers=3, max_width=6):
    L = draw(st.integers(1, max_layers))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=L + 1, max_size=L + 1))
    hidden = draw(st.lists(st.sampled_from([0, 1, 2, 3, 4]), min_size=L - 1, max_size=L - 1))
    out = draw(st.sampled_from([0, 4, 5, 6]))  # sigmoid, identity, softmax, exp
    loss = draw(st.sampled_from(LOSSES_FOR[out]))
    dtype = draw(st.sampled_from([F32, F64]))
    return np.array(sizes, dtype=np.intp), np.array(hidden + [out], dtype=np.intc), loss, dtype


#: output activation id -> the loss ids it pairs with (mse, cross_entropy,
#: half_squared_error, log_loss, poisson)
LOSSES_FOR = {0: [0, 1, 2, 3], 4: [0, 2], 5: [0, 1, 2, 3], 6: [0, 2, 4]}


def n_par(sizes):
    return int(sum(int(b) * (int(a) + 1) for a, b in zip(sizes[:-1], sizes[1:], strict=True)))


def ws_len(sizes, rows, train=False, opt=False):
    return K.workspace_size(np.asarray(sizes, dtype=np.intp), rows, train, opt)


# ------------------------------------------------------- kernel call specs
# Each builder returns (kernel, {name: argument}) for a *valid* call, and the
# rules saying which single mutations must be refused.

N_STATE = {0: 0, 1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 2}


def opt_config(kind, learning_rate=0.1, weight_decay=0.0):
    """The kernels' optimiser description (a dict that converts to their C struct)."""
    return {"kind": kind, "learning_rate": learning_rate, "weight_decay": weight_decay,
            "alpha": 0.0, "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def _as_csr(args, n, n0, F, draw, both_ok=True):
    """args' X as CSR arrays (X None), 40% of its values stored, or every one or none
    of them (the sparse first layer's tiles, its direct loops, or the gathered rows);
    or, half the time, X dense beside them (as a dense X's nonzeros: the fuzzed
    values need not agree).  Returns whether X is kept."""
    share = draw(st.sampled_from([0.0, 0.4, 1.0]))
    dense = np.where(np.random.default_rng(n).uniform(size=(n, n0)) < share, 1.0, 0.0)
    rows, cols = np.nonzero(dense)
    indptr = np.searchsorted(rows, np.arange(n + 1)).astype(np.intp)
    both = both_ok and draw(st.booleans())
    args["X"] = Arr((n, n0), F, True, none=not both)
    args["X_data"] = Arr((len(cols),), F, True)
    args["X_indices"] = Arr((len(cols),), np.intp, True, cols.astype(np.intp))
    args["X_indptr"] = Arr((n + 1,), np.intp, True, indptr)
    return both


def build(draw, name):
    sizes, acts, loss, F = draw(net_config())
    n = draw(st.integers(1, 9))
    P = n_par(sizes)
    n0, nL = int(sizes[0]), int(sizes[-1])
    if name == "n_params":
        return {"sizes": Arr((len(sizes),), np.intp, True, sizes)}
    if name == "workspace_size":
        return {"sizes": Arr((len(sizes),), np.intp, True, sizes),
                "bmax": draw(st.integers(1, 2**20)), "train": draw(st.booleans()),
                "optimizer": draw(st.booleans())}
    if name == "train_workspace_size":
        return {"sizes": Arr((len(sizes),), np.intp, True, sizes),
                "n_samples": draw(st.integers(0, 2**20)),
                "batch_size": draw(st.integers(1, 2**20)),
                "optimizer": draw(st.integers(0, 6)), "block_rows": draw(st.integers(0, 2**10)),
                "n_threads": draw(st.integers(1, 4))}
    common = {"params": Arr((P,), F, True), "sizes": Arr((len(sizes),), np.intp, True, sizes),
              "acts": Arr((len(acts),), np.intc, True, acts)}
    if name == "pass_workspace_size":
        return {"sizes": Arr((len(sizes),), np.intp, True, sizes),
                "rows": draw(st.integers(1, 2**20)), "n_threads": draw(st.integers(1, 4)),
                "gradient": draw(st.booleans())}
    if name == "split_neurons":
        return {"sizes": Arr((len(sizes),), np.intp, True, sizes),
                "rows": draw(st.integers(1, 2**20)), "n_threads": draw(st.integers(1, 4))}
    if name == "nonzeros":
        return {"X": Arr((draw(st.integers(0, 9)), draw(st.integers(0, 9))), F, True),
                "n_out": draw(st.integers(1, 2000))}
    if name == "sparse_first_layer":
        return {"nnz": draw(st.integers(0, 10**7)), "n_rows": draw(st.integers(0, 10**5)),
                "n_in": draw(st.integers(1, 10**5))}
    if name == "forward":
        chunk = draw(st.integers(1, n))
        nt = draw(st.integers(1, 4))
        args = {**common, "X": Arr((n, n0), F, True), "out": Arr((n, nL), F, False),
                "workspace": Arr((K.pass_workspace_size(sizes, chunk, nt),), F, False),
                "n_threads": nt}
        if draw(st.booleans()):  # the rows in CSR form: the sparse first layer
            _as_csr(args, n, n0, F, draw, both_ok=False)
        return args
    if name in ("loss_gradient", "per_sample_gradients"):
        chunk = draw(st.integers(1, n))
        args = {**common, "loss": loss, "X": Arr((n, n0), F, True), "Y": Arr((n, nL), F, True)}
        if name == "loss_gradient":
            args["sample_weight"] = Arr((n,), F, True, none=draw(st.booleans()))
            args["grad"] = Arr((P,), F, False)
            args["want_grad"] = draw(st.booleans())
            nt = draw(st.integers(1, 4))
            args["workspace"] = Arr((K.pass_workspace_size(sizes, chunk, nt,
                                                           args["want_grad"]),), F, False)
            args["n_threads"] = nt
            if draw(st.booleans()):
                _as_csr(args, n, n0, F, draw)
        else:
            args["out"] = Arr((n, P), F, False)
            args["workspace"] = Arr((ws_len(sizes, chunk),), F, False)
        return args
    if name == "train_epoch":
        opt = draw(st.integers(0, 6))
        bs = draw(st.integers(1, n + 2))
        block = draw(st.integers(0, n + 2))
        nt = draw(st.integers(1, 4))
        config = opt_config(opt, draw(st.sampled_from([1e-3, 0.1, 3.0, 1e6])),
                            draw(st.sampled_from([0.0, 1e-4, 0.5])))
        if opt != 0:
            config["alpha"] = draw(st.sampled_from([0.0, 1e-4, 1.0]))
        shuffle = draw(st.integers(0, 2))
        order = np.random.default_rng(draw(st.integers(0, 99))).permutation(n) \
            if shuffle == 2 else np.zeros(n, np.intp)
        args = {"params": Arr((P,), F, False), "sizes": common["sizes"], "acts": common["acts"],
                "loss": loss, "X": Arr((n, n0), F, True), "Y": Arr((n, nL), F, True),
                "sample_weight": Arr((n,), F, True, none=draw(st.booleans())),
                "order": Arr((n,), np.intp, False, order),
                "rng": Arr((1,), np.uint64, False,
                           np.array([draw(st.integers(0, 2**64 - 1))], np.uint64)),
                "opt": config,
                "opt_state": Arr((N_STATE[opt] * P,), F, False, none=opt == 0),
                "step": Arr((1,), np.uint64, False, np.zeros(1, np.uint64)),
                "workspace": Arr((K.train_workspace_size(sizes, n, bs, opt, block, nt),), F,
                                 False),
                "epoch": {"batch_size": bs, "shuffle": shuffle, "metric": draw(st.integers(0, 2)),
                          "block_rows": block, "n_threads": nt,
                          "stop_nonfinite": draw(st.integers(0, 1))}}
        if draw(st.booleans()):  # the rows in CSR form
            both = _as_csr(args, n, n0, F, draw)
            # (no buffer for gathered rows where they take the sparse first layer, X
            # aside: that one gathers where a weight or delta is not finite)
            if not both and K.sparse_first_layer(args["X_data"].shape[0], n, n0,
                                                 int(sizes[1]), F is F64):
                args["workspace"] = Arr((K.train_workspace_size(sizes, n, bs, opt, block, nt,
                                                                True),), F, False)
        return args
    if name == "l2_gradient":
        return {"grad": Arr((P,), F, True), "x": Arr((P,), F64, True), "sizes": common["sizes"],
                "divisor": draw(st.sampled_from([1.0, 7.0, 0.25])),
                "coef": draw(st.sampled_from([0.0, 1e-4, 1.0])), "out": Arr((P,), F64, False)}
    r, c = draw(st.integers(0, 7)), draw(st.integers(0, 7))
    if name == "first_nonfinite_row":
        return {"A": Arr((r, c), F, True), "n_threads": draw(st.integers(1, 9))}
    if name in ("activate", "sigmoid"):
        args = {"Z": Arr((r, c), F, True), "out": Arr((r, c), F, False)}
        if name == "activate":
            args["act"] = draw(st.integers(0, 6))
        return args
    if name in ("activation_prime", "sigmoid_prime"):
        args = {"A": Arr((r, c), F, True), "out": Arr((r, c), F, False)}
        if name == "activation_prime":
            args["act"] = draw(st.sampled_from([0, 1, 2, 3, 4, 6]))
        return args
    if name == "output_delta":
        act = draw(st.integers(0, 6))
        loss = draw(st.sampled_from(LOSSES_FOR.get(act, [0, 2])))
        return {"Z": Arr((r, c), F, True), "Y": Arr((r, c), F, True), "D": Arr((r, c), F, False),
                "loss": loss, "act": act}
    if name == "mse":
        return {"A": Arr((r, c), F, True), "Y": Arr((r, c), F, True)}
    if name == "mse_grad":
        return {"A": Arr((r, c), F, True), "Y": Arr((r, c), F, True),
                "out": Arr((r, c), F, False)}
    m = draw(st.integers(0, 40))
    if name == "sgd_update":
        return {"params": Arr((m,), F, False), "grad": Arr((m,), F, True),
                "learning_rate": draw(st.sampled_from([0.0, 1e-3, 1.0, -1.0, 1e308, np.nan]))}
    if name == "optimizer_step":
        opt = draw(st.integers(0, 6))
        config = opt_config(opt, 0.1, draw(st.sampled_from([0.0, 1e-4])))
        if opt != 0:
            config["alpha"] = draw(st.sampled_from([0.0, 1e-3]))
        return {"opt": config, "sizes": common["sizes"], "params": Arr((P,), F, False),
                "grad": Arr((P,), F, False),
                "state": Arr((N_STATE[opt] * P,), F, False, none=opt == 0 and draw(st.booleans())),
                "step": Arr((1,), np.uint64, False,
                            np.array([draw(st.integers(0, 10**6))], np.uint64)),
                "batch_weight": draw(st.sampled_from([1.0, 7.0, 0.25]))}
    if name == "shuffle_order":
        k = draw(st.integers(1, 3))
        return {"order": Arr((m,), np.intp, False, np.zeros(m, np.intp)),
                "state": Arr((k,), np.uint64, False,
                             np.full(k, draw(st.integers(0, 2**64 - 1)), np.uint64))}
    if name == "uniform":
        k = draw(st.integers(1, 3))
        return {"out": Arr((m,), F64, False),
                "state": Arr((k,), np.uint64, False,
                             np.full(k, draw(st.integers(0, 2**64 - 1)), np.uint64))}
    raise AssertionError(name)


KERNELS = ["n_params", "workspace_size", "train_workspace_size", "forward", "loss_gradient",
           "per_sample_gradients", "train_epoch", "activate", "sigmoid", "activation_prime",
           "sigmoid_prime", "output_delta", "mse", "mse_grad", "sgd_update", "optimizer_step",
           "shuffle_order", "uniform", "first_nonfinite_row", "pass_workspace_size",
           "sparse_first_layer", "split_neurons", "l2_gradient", "nonzeros"]
FLOATING = {"float32": F32, "float64": F64}


def call(name, args, rng, regime):
    built = {k: materialize(v, rng, regime) for k, v in args.items()}
    values = {k: v[0] for k, v in built.items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = getattr(K, name)(**values)
            error = None
        except ERRORS as exc:
            result, error = None, exc
    for k, (_, untouched) in built.items():
        assert untouched(), f"{name} wrote outside argument {k!r}"
    return result, error, values


def workspace_rows_needed(name, args):
    """The smallest valid workspace length of a call (one row, or the batch)."""
    sizes = args["sizes"].data
    if name == "train_epoch":
        return args["workspace"].shape[0]
    if name in ("forward", "loss_gradient"):
        return K.pass_workspace_size(sizes, 1, args["n_threads"],
                                     name == "loss_gradient" and args["want_grad"])
    return ws_len(sizes, 1)


# ------------------------------------------------------- valid calls

@pytest.mark.parametrize("name", KERNELS)
@given(data=st.data())
def test_valid_kernel_calls_stay_inside_their_buffers(name, data):
    args = build(data.draw, name)
    regime = data.draw(st.sampled_from(REGIMES), label="regime")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    # read-only inputs are part of the contract: flip some on
    for a in args.values():
        if isinstance(a, Arr) and a.const and not a.none and data.draw(st.booleans()):
            a.readonly = True
    # (training from CSR rows: the first layer's gradient over the touched columns
    # never, where the input is wide enough, or wherever it can be)
    mode = data.draw(st.sampled_from([0, 1, 2]), label="compact") \
        if name == "train_epoch" else None
    # (and on several threads, minibatches split by neurons however small the network)
    split = name == "train_epoch" and data.draw(st.booleans(), label="neuron split")
    # (and backpropagation's products leaving out idle neurons and zero inputs
    # however few the rows and inputs, where they pay)
    idle = name in ("train_epoch", "loss_gradient", "per_sample_gradients") \
        and data.draw(st.booleans(), label="idle neurons at any size")
    before = K._compact_sparse_gradient(mode)
    split_before = K._neuron_split(2**30, 1, None, 0) if split else None
    idle_before = K._idle_thresholds(1, 1) if idle else None
    try:
        result, error, values = call(name, args, rng, regime)
    finally:
        K._compact_sparse_gradient(before)
        if split:
            K._neuron_split(*split_before)
        if idle:
            K._idle_thresholds(*idle_before)
    assert error is None, f"valid call refused: {error!r}"
    if name == "n_params":
        assert result == n_par(args["sizes"].data)
    if name == "workspace_size":
        assert result >= args["bmax"] * int(args["sizes"].data[-1])
    if name == "shuffle_order":
        assert sorted(values["order"].tolist()) == list(range(args["order"].shape[0]))
    if name == "uniform":
        assert ((values["out"] >= 0) & (values["out"] < 1)).all()
    if name == "l2_gradient":
        mask = _layout.weights_mask(args["sizes"].data)
        x, got = values["x"], values["out"]
        with np.errstate(all="ignore"):
            a = values["grad"].astype(F64) / args["divisor"]
            b = np.where(mask, args["coef"] * x, 0.0)
            want = a + b
            sumsq = float(np.sum(x[mask] ** 2))
        # (each output one division and one multiply-add, maybe fused: within an
        # ulp or two of its terms' size; the same NaNs and infinities)
        finite = np.isfinite(want)
        np.testing.assert_array_equal(got[~finite], want[~finite])
        assert np.all(np.abs(got[finite] - want[finite])
                      <= 4.5e-16 * (np.abs(a) + np.abs(b))[finite])
        np.testing.assert_allclose(result, sumsq, rtol=1e-13)
    if name == "nonzeros":
        X = values["X"]
        if result is not None:  # (exactly the stored values of scipy's CSR, in order)
            import scipy.sparse as sp
            want = sp.csr_matrix(X)
            want.eliminate_zeros()
            np.testing.assert_array_equal(result[0], want.data)
            np.testing.assert_array_equal(result[1], want.indices)
            np.testing.assert_array_equal(result[2], want.indptr)
            assert result[1].dtype == np.intp and result[0].dtype == X.dtype
        else:
            assert X.size == 0 or not K.sparse_first_layer(
                np.count_nonzero(X), *X.shape, args["n_out"], X.dtype == np.float64)
    if name == "first_nonfinite_row":
        finite_rows = np.isfinite(values["A"]).all(axis=1)
        first = int(np.argmin(finite_rows)) if not finite_rows.all() else -1
        assert result == first
    if name == "train_epoch":
        total, wsum, correct, status, batch_total = result
        assert status in (K.STATUS_OK, K.STATUS_NONFINITE)
        assert 0 <= correct <= args["X"].shape[0]
        order = values["order"]
        assert sorted(order.tolist()) == list(range(len(order)))


# ------------------------------------------------------- wrong calls

def mutations(name, args):
    """Every single-argument mutation: (description, new args, must it be refused?)."""
    out = []
    for key, a in args.items():
        if not isinstance(a, Arr):
            out += scalar_mutations(name, key, a, args)
            continue
        if a.none:
            continue

        def mod(key=key, a=a, **changes):
            return {**args, key: dataclasses.replace(a, **changes)}

        def resized(shape, a=a, mod=mod):
            data = None
            if a.data is not None:
                flat = np.resize(a.data.ravel(), int(np.prod(shape))) if np.prod(shape) else \
                    a.data.ravel()[:0]
                data = flat.reshape(shape)
            return mod(shape=tuple(shape), data=data)

        # shorter along each axis: refused, except where the kernel allows any length
        for axis in range(len(a.shape)):
            for k in (1, 2, a.shape[axis]):
                if 1 <= k <= a.shape[axis]:
                    shape = list(a.shape)
                    shape[axis] -= k
                    out.append((f"{key} axis {axis} shorter by {k}", resized(shape),
                                must_refuse_shorter(name, key, a, shape, args)))
            shape = list(a.shape)
            shape[axis] += 3
            out.append((f"{key} axis {axis} longer", resized(shape), None))
        # wrong element type
        kind = np.dtype(a.dtype).kind
        if kind == "f":
            other = F32 if a.dtype is F64 else F64
            # (a kernel of one floating argument takes either precision)
            out.append((f"{key} as {np.dtype(other).name}", mod(dtype=other),
                        name not in ("first_nonfinite_row", "nonzeros")
                        and not (name == "l2_gradient" and key == "grad")))
            out.append((f"{key} as int64", mod(dtype=np.int64), True))
            out.append((f"{key} as complex", mod(dtype=np.complex128), True))
        else:
            wrong = np.int32 if a.dtype is not np.int32 else np.int64
            if a.dtype is np.uint64:
                wrong = np.int64
            out.append((f"{key} as {np.dtype(wrong).name}", mod(dtype=wrong), True))
            out.append((f"{key} as float64", mod(dtype=F64), True))
        # memory layout
        if a.shape[-1] >= 2:  # (numpy calls every empty array contiguous)
            out.append((f"{key} strided", mod(layout="strided"),
                        True if np.prod(a.shape) > 0 else None))
        if len(a.shape) == 2 and a.shape[0] >= 2 and a.shape[1] >= 2:
            out.append((f"{key} Fortran-ordered", mod(layout="fortran"), True))
        # dimensions
        if len(a.shape) == 1:
            out.append((f"{key} as a column", mod(shape=(a.shape[0], 1),
                                                  data=None if a.data is None
                                                  else a.data.reshape(-1, 1)), True))
        else:
            out.append((f"{key} raveled", mod(shape=(a.shape[0] * a.shape[1],)), True))
        # read-only where the kernel writes
        out.append((f"{key} read-only", mod(readonly=True), False if a.const else True))
        out.append((f"{key} None", mod(none=True), None))
        out.append((f"{key} as a list", mod(as_list=True), True))
    if "sizes" in args and name not in ("n_params",):
        out += sizes_mutations(name, args)
    if "acts" in args:
        out += acts_mutations(args)
    return out


def must_refuse_shorter(name, key, a, shape, args):
    new_len = int(np.prod(shape))
    if name in ("uniform", "shuffle_order") and key in ("out", "order"):
        return False  # any length is a valid request
    if name in ("first_nonfinite_row", "nonzeros"):
        return False  # any shape is a valid request
    if key == "state" and name in ("uniform", "shuffle_order"):
        return new_len < 1
    if key == "workspace" and name != "train_epoch":
        return new_len < workspace_rows_needed(name, args)
    if key == "sizes":
        return None  # n_params of fewer layers: handled by sizes_mutations
    if key == "state" and name == "optimizer_step":
        return args["opt"]["kind"] != 0
    if key == "opt_state":
        return args["opt"]["kind"] != 0
    if name in ("activate", "sigmoid", "activation_prime", "sigmoid_prime", "output_delta",
                "mse", "mse_grad", "sgd_update", "optimizer_step"):
        return True  # every operand must have the same shape
    if key == "grad" and name == "loss_gradient" and not args.get("want_grad", True):
        return False
    return True


def scalar_mutations(name, key, value, args):
    flags = {"want_grad", "shuffle", "train", "gradient"}
    if name == "workspace_size":
        flags.add("optimizer")
    if key in flags:  # bint: any object has a truth value
        return [(f"{key}={v!r}", {**args, key: v}, None) for v in (not value, "1", None)]
    if key == "epoch":  # how the epoch runs: a bad setting, a field missing
        bad = {"batch_size": [0, -1], "shuffle": [-1, 3], "metric": [-1, 3],
               "block_rows": [-1], "n_threads": [0, K.MAX_THREADS + 1]}
        out = [(f"epoch {f}={v}", {**args, key: {**value, f: v}}, True)
               for f, vs in bad.items() for v in vs]
        out += [(f"epoch without {f}", {**args, key: {k: v for k, v in value.items() if k != f}},
                 True) for f in value]
        return out
    if key == "opt":  # the optimiser's description: a bad kind, a field missing
        out = [(f"opt kind={v}", {**args, key: {**value, "kind": v}}, True)
               for v in (-1, 7, 99)]
        out += [(f"opt without {f}", {**args, key: {k: v for k, v in value.items() if k != f}},
                 True) for f in value]
        out.append(("opt as a list", {**args, key: list(value.values())}, True))
        return out
    bad = {
        "loss": [-1, 5, 1000, -(2**31)],
        "act": [-1, 7 if name != "activation_prime" else 5, 2**31 - 1],
        "optimizer": [-1, 7, 99],
        "batch_size": [0, -1, -(2**62)],
        "bmax": [0, -1],
        "rows": [0, -1],
        "n_samples": [-1],
        "block_rows": [-1, -(2**40)],
        "n_threads": [0, -1, K.MAX_THREADS + 1, 2**40],
        "nnz": [-1],
        "n_rows": [-1],
        "n_in": [0, -1],
    }.get(key, [])
    if key == "batch_weight":
        bad = [0.0, -1.0, np.nan]
    out = [(f"{key}={v}", {**args, key: v}, True) for v in bad]
    either = {
        "batch_size": [2**40],
        "metric": [3, -1, 99],
        "learning_rate": [np.inf, -np.inf],
    }.get(key, [])
    out += [(f"{key}={v}", {**args, key: v}, None) for v in either]
    out.append((f"{key} as a string", {**args, key: "1"}, True))
    return out


def sizes_mutations(name, args):
    sizes = args["sizes"].data
    has_params = "params" in args
    out = []

    def with_sizes(new):
        new = np.asarray(new, dtype=np.intp)
        return {**args, "sizes": Arr((len(new),), np.intp, True, new)}

    for i in range(len(sizes)):
        for delta in (1, -1):
            new = sizes.copy()
            new[i] += delta
            refuse = True if new[i] < 1 else (True if has_params else None)
            out.append((f"sizes[{i}] {delta:+d}", with_sizes(new), refuse))
        for v in (0, -1, -(2**62), 2**31, 2**62):
            new = sizes.copy()
            new[i] = v
            out.append((f"sizes[{i}]={v}", with_sizes(new), True))
    out.append(("sizes of one layer", with_sizes(sizes[:1]), True))
    out.append(("sizes empty", with_sizes(sizes[:0]), True))
    out.append(("one more layer", with_sizes(np.r_[sizes, 2]), True if has_params else None))
    return out


def acts_mutations(args):
    acts = args["acts"].data
    out = []

    def with_acts(new):
        new = np.asarray(new, dtype=np.intc)
        return {**args, "acts": Arr((len(new),), np.intc, True, new)}

    out.append(("acts one short", with_acts(acts[:-1]), True))
    out.append(("acts one extra", with_acts(np.r_[acts, 0]), True))
    for i in range(len(acts)):
        for v in (-1, 7, 2**31 - 1):
            new = acts.copy()
            new[i] = v
            out.append((f"acts[{i}]={v}", with_acts(new), True))
    if len(acts) >= 2:
        new = acts.copy()
        new[0] = 5
        out.append(("softmax in a hidden layer", with_acts(new), True))
    return out


@pytest.mark.parametrize("name", KERNELS)
@given(data=st.data())
def test_wrong_kernel_calls_are_refused(name, data):
    args = build(data.draw, name)
    candidates = mutations(name, args)
    assume(candidates)
    what, bad_args, refuse = data.draw(st.sampled_from(candidates), label="mutation")
    regime = data.draw(st.sampled_from(REGIMES), label="regime")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    result, error, _ = call(name, bad_args, rng, regime)
    if refuse is True:
        assert error is not None, f"{name}: {what} was accepted"
    elif refuse is False:
        assert error is None, f"{name}: {what} was refused: {error!r}"


def test_every_kernel_entry_point_is_fuzzed():
    public = {n for n in dir(K) if callable(getattr(K, n)) and not n.startswith("_")
              and getattr(getattr(K, n), "__module__", "nncore._kernels") == "nncore._kernels"
              and n not in {"np"}}
    assert public <= set(KERNELS), public - set(KERNELS)


@given(data=st.data())
def test_the_predictors_lean_path_takes_only_what_it_can(data):
    """Predictor.predict returns the network's outputs for a few finite rows of the
    right dtype, shape and layout, and None for anything else -- never a crash, a
    read outside the array, or an answer for an input it cannot take."""
    sizes_, acts, loss, F = data.draw(net_config(max_width=6))
    net = nncore.Network([int(v) for v in sizes_], activation="tanh", output="identity",
                         dtype=np.dtype(F).name, seed=data.draw(st.integers(0, 99)))
    pred = K._Predictor(net.params, net.spec.sizes, net.spec.acts, max_rows=4)
    n = data.draw(st.integers(0, 6))
    cols = data.draw(st.sampled_from([net.sizes[0], net.sizes[0] + 1, max(net.sizes[0] - 1, 0)]))
    dtype = data.draw(st.sampled_from([F32, F64, np.int64, np.float16]))
    regime = data.draw(st.sampled_from(REGIMES))
    X = fill(np.random.default_rng(data.draw(st.integers(0, 99))), (n, cols), F64, regime)
    X = X.astype(dtype) if np.dtype(dtype).kind == "f" else np.zeros((n, cols), dtype)
    layout = data.draw(st.sampled_from(LAYOUTS))
    Xl = relayout(X, layout)
    with np.errstate(all="ignore"):
        out = pred.predict(Xl)
    ok = (type(Xl) is np.ndarray and Xl.flags.c_contiguous and X.dtype == net.dtype
          and cols == net.sizes[0]
          and 1 <= n <= 4 and np.isfinite(X).all())
    if not ok:
        assert out is None
    else:
        np.testing.assert_array_equal(out, net.predict(np.array(X, copy=True)))
    masked = np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool))
    assert pred.predict(masked) is None  # a subclass takes the general path


def test_workspace_size_never_wraps_around():
    sizes = np.array([3, 4, 2], dtype=np.intp)
    for bmax in (2**61, 2**62, 2**63 - 1):
        try:
            n = K.workspace_size(sizes, bmax)
        except (ValueError, OverflowError):
            continue
        assert n >= bmax


def test_layer_sizes_whose_parameter_count_overflows_are_refused():
    # five products of ~2**62 each: the C sum wraps around
    sizes = np.array([1] + [2**31 - 2] * 6 + [1], dtype=np.intp)
    assert n_par(sizes) >= 2**63
    with pytest.raises(ValueError):
        K.workspace_size(sizes, 1)


# ------------------------------------------------------- public methods

LAYOUTS = ["C", "fortran", "strided", "negative", "readonly", "list"]
INPUT_DTYPES = [F64, F32, np.float16, np.int64, np.int8, np.bool_]


def relayout(A, layout):
    if layout == "fortran":
        return np.asfortranarray(A)
    if layout == "strided":
        wide = np.zeros((A.shape[0] * 2, A.shape[1] * 3), dtype=A.dtype)
        wide[::2, ::3] = A
        return wide[::2, ::3]
    if layout == "negative":
        return np.ascontiguousarray(A[::-1, ::-1])[::-1, ::-1]
    if layout == "readonly":
        B = A.copy()
        B.flags.writeable = False
        return B
    if layout == "list":
        return A.tolist()
    return A


@st.composite
def public_case(draw, finite=True):
    sizes_, acts, loss, F = draw(net_config(max_width=5))
    names = ["sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax", "exp"]
    sizes = [int(s) for s in sizes_]
    if acts[-1] == 5 and sizes[-1] < 2:
        sizes[-1] = 2
    loss_name = ["mse", "cross_entropy", "half_squared_error", "log_loss", "poisson"][loss]
    net = nncore.Network(sizes, activation=[names[a] for a in acts[:-1]],
                         output=names[acts[-1]], loss=loss_name,
                         dtype=np.dtype(F).name, seed=draw(st.integers(0, 2**64 - 1)))
    n = draw(st.integers(1, 12))
    in_dtype = draw(st.sampled_from(INPUT_DTYPES))
    wide = in_dtype in (F64, F32, np.float16)
    elements = st.floats(allow_nan=not finite, allow_infinity=not finite,
                         width={F64: 64, F32: 32, np.float16: 16}.get(in_dtype, 64)) \
        if wide else st.integers(-100, 100) if in_dtype is not np.bool_ else st.booleans()
    specials = st.sampled_from([v for v in SPECIAL if not wide or in_dtype is F64
                                or abs(v) < float(np.finfo(in_dtype).max)]) if wide else elements
    elements = st.one_of(elements, specials) if wide else elements
    X = draw(hnp.arrays(in_dtype, (n, sizes[0]), elements=elements))
    Y = draw(hnp.arrays(in_dtype, (n, sizes[-1]), elements=elements))
    if loss_name == "poisson":  # (counts: a negative target is refused, tested elsewhere)
        Y = np.abs(Y)
    layout = draw(st.sampled_from(LAYOUTS))
    return net, X, Y, layout


def _canonical(A, dtype):
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(A, dtype=dtype)


def _outcome(fn):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            out = fn()
        except nncore.DivergenceError:
            return "diverged"
        except ERRORS as exc:
            return type(exc)
    if isinstance(out, nncore.Network):
        return out.params.tobytes()
    return np.asarray(out).tobytes()


@given(case=public_case())
def test_public_methods_any_layout_any_dtype(case):
    net, X, Y, layout = case
    Xc, Yc = _canonical(X, net.dtype), _canonical(Y, net.dtype)
    convertible = np.isfinite(Xc).all() and np.isfinite(Yc).all()
    Xl, Yl = relayout(X, layout), relayout(Y, layout)

    def twin():
        return nncore.Network(net.sizes, activation=net.activations[:-1],
                              output=net.activations[-1], loss=net.loss_name,
                              dtype=net.dtype, seed=net.seed)

    calls = {
        "predict": (lambda A, B: net.predict(A)),
        "loss": (lambda A, B: net.loss(A, B)),
        "gradient": (lambda A, B: net.gradient(A, B)),
        "per_sample_gradients": (lambda A, B: net.per_sample_gradients(A, B)),
        "fit": (lambda A, B: twin().fit(A, B, epochs=1, batch_size=3, learning_rate=0.1)),
    }
    for meth, fn in calls.items():
        got = _outcome(lambda fn=fn: fn(Xl, Yl))
        if not (np.isfinite(Xc).all() if meth == "predict" else convertible):
            # a value the network's dtype cannot hold (float64 1e300 -> float32)
            assert got is ValueError, meth
            continue
        want = _outcome(lambda fn=fn: fn(Xc, Yc))
        assert got == want, f"{meth} with {layout} {X.dtype} differs from the contiguous array"
        assert got not in ERRORS, f"{meth} refused a valid input"
    if np.isfinite(Xc).all():
        out = net.predict(Xl)
        assert out.shape == (X.shape[0], net.sizes[-1]) and out.dtype == net.dtype
        if net.activations[-1] in ("sigmoid", "softmax"):
            # inputs near the float maximum may overflow a hidden layer to inf and
            # then inf - inf = NaN: a numerical result, not a crash; the rest is in [0, 1]
            ok = out[~np.isnan(out)]
            assert ((ok >= 0) & (ok <= 1)).all()


@given(case=public_case(finite=False), data=st.data())
def test_public_methods_name_the_first_nonfinite_row(case, data):
    net, X, Y, _ = case
    assume(X.dtype.kind == "f")
    row = data.draw(st.integers(0, X.shape[0] - 1))
    col = data.draw(st.integers(0, X.shape[1] - 1))
    X = X.copy()
    X[row, col] = data.draw(st.sampled_from(NONFINITE))
    first = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
    for fn in (lambda: net.predict(X), lambda: net.loss(X, Y), lambda: net.gradient(X, Y),
               lambda: net.per_sample_gradients(X, Y), lambda: net.fit(X, Y, epochs=1)):
        with pytest.raises(ValueError, match=rf"X contains .* in row {first}\b"):
            fn()


@given(data=st.data())
def test_public_methods_refuse_wrong_shapes_and_types(data):
    sizes_, acts, loss, F = data.draw(net_config(max_width=5))
    sizes = [int(s) for s in sizes_]
    net = nncore.Network(sizes, activation="tanh", output="identity", dtype=np.dtype(F).name,
                         seed=0)
    n_in, n_out = sizes[0], sizes[-1]
    n = data.draw(st.integers(0, 6))
    shape = data.draw(st.sampled_from([
        (n, n_in + 1), (n, max(n_in - 1, 0)), (n,), (n, n_in, 1), (), (0, n_in), (n, 0)]))
    dtype = data.draw(st.sampled_from([F64, F32, np.complex128, object, "U3", "datetime64[s]"]))
    assume(not (shape == (n, n_in) and n > 0 and np.dtype(dtype).kind in "f"))
    X = np.zeros(shape, dtype=dtype) if np.dtype(dtype).kind != "O" else \
        np.empty(shape, dtype=object)
    Y = np.zeros((max(n, 1), n_out))
    for fn in (lambda: net.predict(X), lambda: net.loss(X, Y), lambda: net.gradient(X, Y),
               lambda: net.per_sample_gradients(X, Y), lambda: net.fit(X, Y, epochs=1)):
        with pytest.raises(ERRORS):
            fn()
    # wrong targets with right inputs
    Xok = np.zeros((max(n, 1), n_in))
    bad_Y = data.draw(st.sampled_from([
        np.zeros((max(n, 1) + 1, n_out)), np.zeros((max(n, 1), n_out + 1)),
        np.zeros((max(n, 1), n_out, 1)), np.zeros((max(n, 1), n_out), complex)]))
    for fn in (lambda: net.loss(Xok, bad_Y), lambda: net.gradient(Xok, bad_Y),
               lambda: net.per_sample_gradients(Xok, bad_Y), lambda: net.fit(Xok, bad_Y)):
        with pytest.raises(ERRORS):
            fn()

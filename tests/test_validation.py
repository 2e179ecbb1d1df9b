"""Every public entry point refuses bad input with a clear error, before any kernel runs
(predict's check for NaN and infinity runs inside its compiled pass, chunk by chunk: a
refused predict returns nothing).

``BAD_INPUTS`` is the table: one row per bad input, each with the exception type
and a regular expression the message must match.  The acceptance tests below it
check what must *not* be refused (lists, ints, bools, float16, every memory
layout, read-only and memory-mapped arrays) and that it gives exactly the
result of the plain C-contiguous float64 array.
"""

import importlib.util
import math
import re

import numpy as np
import pytest

import nncore
from nncore import _validation, cli

RNG = np.random.default_rng(7)
X = RNG.uniform(-1, 1, size=(6, 3))
Y = RNG.uniform(0, 1, size=(6, 2))
NET = nncore.Network([3, 4, 2], seed=0)
NET1 = nncore.Network([3, 4, 1], seed=0)  # one output: a 1-D Y is allowed


def _with(A, row, col, value):
    A = np.array(A, dtype=np.float64)
    A[row, col] = value
    return A


def _net(**kw):
    return lambda: nncore.Network(**kw) if "sizes" in kw else nncore.Network([3, 4, 2], **kw)


# (id, thunk, exception type, regex the message must match)
CONSTRUCTOR = [
    ("size-0", _net(sizes=[3, 0, 2]), ValueError, r"position 1 must be >= 1, got 0"),
    ("size-negative", _net(sizes=[3, -4, 2]), ValueError, r"position 1 must be >= 1, got -4"),
    ("size-0-input", _net(sizes=[0, 2]), ValueError, r"position 0 must be >= 1"),
    ("one-layer", _net(sizes=[3]), ValueError, r"at least two layer sizes.*got 1"),
    ("no-layers", _net(sizes=[]), ValueError, r"at least two layer sizes.*got 0"),
    ("size-float", _net(sizes=[3, 2.5, 2]), TypeError, r"position 1 must be an integer, got 2\.5"),
    ("size-float-integral", _net(sizes=[3, 4.0, 2]), TypeError, r"must be an integer, got 4\.0"),
    ("size-str", _net(sizes=[3, "4", 2]), TypeError, r"position 1 must be an integer, got '4'"),
    ("size-bool", _net(sizes=[3, True, 2]), TypeError, r"must be an integer, got True"),
    ("size-None", _net(sizes=[3, None, 2]), TypeError, r"must be an integer, got None"),
    ("size-float-array", _net(sizes=np.array([3.0, 4.0, 2.0])), TypeError, r"must be an integer"),
    ("size-too-large", _net(sizes=[3, 2**31, 2]), ValueError, r"position 1 is too large"),
    ("sizes-string", _net(sizes="342"), TypeError, r"sizes must be a list of layer widths"),
    ("sizes-int", _net(sizes=3), TypeError, r"sizes must be a list of layer widths"),
    ("sizes-None", _net(sizes=None), TypeError, r"sizes must be a list of layer widths"),
    ("activation-unknown", _net(activation="swish"), ValueError,
     r"unknown hidden activation 'swish'; valid: sigmoid, tanh, relu, leaky_relu, identity"),
    ("activation-softmax-hidden", _net(activation="softmax"), ValueError,
     r"unknown hidden activation 'softmax'; valid: sigmoid, tanh"),
    ("activation-None", _net(activation=None), TypeError, r"activation must be a name or a list"),
    ("activation-list-length", _net(activation=["tanh", "relu"]), ValueError,
     r"activation lists 2 names but the network has 1 hidden layers"),
    ("activation-list-unknown", _net(activation=["nope"]), ValueError,
     r"unknown hidden activation 'nope'; valid:"),
    ("output-unknown", _net(output="tanh"), ValueError,
     r"unknown output activation 'tanh'; valid: sigmoid, identity, softmax"),
    ("output-not-str", _net(output=3), ValueError, r"unknown output activation 3; valid:"),
    ("loss-unknown", _net(loss="l1"), ValueError, r"unknown loss 'l1'; valid: mse, cross_entropy"),
    ("loss-output-mismatch", _net(loss="cross_entropy", output="identity"), ValueError,
     r"cannot be used with 'identity' outputs; it needs one of: sigmoid, softmax"),
    ("softmax-one-output", _net(sizes=[3, 1], output="softmax"), ValueError,
     r"softmax over a single output"),
    ("dtype-float16", _net(dtype="float16"), ValueError,
     r"unsupported dtype 'float16'; valid: float64, float32"),
    ("dtype-int", _net(dtype=int), ValueError, r"unsupported dtype .*valid: float64, float32"),
    ("dtype-garbage", _net(dtype="double-ish"), ValueError, r"unsupported dtype 'double-ish'"),
    ("dtype-object", _net(dtype=object), ValueError, r"unsupported dtype"),
    ("seed-str", _net(seed="1"), TypeError, r"seed must be an integer or None, got '1'"),
    ("seed-float", _net(seed=1.0), TypeError, r"seed must be an integer or None, got 1\.0"),
    ("seed-bool", _net(seed=True), TypeError, r"seed must be an integer or None, got True"),
    ("seed-negative", _net(seed=-1), ValueError, r"seed must be in \[0, 2\*\*64\), got -1"),
    ("seed-too-large", _net(seed=2**64), ValueError, r"seed must be in \[0, 2\*\*64\)"),
]

# every method taking X (and Y), and how to call it with (X, Y)
XY_METHODS = {
    "fit": lambda net, X, Y: net.fit(X, Y, epochs=1),
    "loss": lambda net, X, Y: net.loss(X, Y),
    "gradient": lambda net, X, Y: net.gradient(X, Y),
    "per_sample_gradients": lambda net, X, Y: net.per_sample_gradients(X, Y),
}
X_METHODS = dict(XY_METHODS, predict=lambda net, X, Y: net.predict(X))

BAD_X = [
    ("X-1d", X[0], ValueError, r"X must be 2-D .*got 1-D.*reshape\(1, -1\)"),
    ("X-3d", X[None], ValueError, r"X must be 2-D .*got 3-D"),
    ("X-0d", 1.5, ValueError, r"X must be 2-D .*got 0-D"),
    ("X-features", X[:, :2], ValueError, r"X has 2 columns, the network expects 3"),
    ("X-empty", np.empty((0, 3)), ValueError, r"X is empty: it has 0 samples"),
    ("X-no-columns", np.empty((6, 0)), ValueError, r"X has 0 columns"),
    ("X-empty-list", [], ValueError, r"X must be 2-D"),
    ("X-nan", _with(X, 4, 1, np.nan), ValueError, r"X contains nan .* in row 4\b"),
    ("X-inf", _with(X, 2, 0, np.inf), ValueError, r"X contains inf .* in row 2\b"),
    ("X-neginf", _with(X, 5, 2, -np.inf), ValueError, r"X contains -inf .* in row 5\b"),
    ("X-nan-first-row-named", _with(_with(X, 3, 0, np.nan), 1, 2, np.inf), ValueError,
     r"in row 1\b"),
    ("X-nan-float32", _with(X, 3, 0, np.nan).astype(np.float32), ValueError, r"nan .* row 3\b"),
    ("X-nan-float16", _with(X, 3, 0, np.nan).astype(np.float16), ValueError, r"nan .* row 3\b"),
    ("X-object", X.astype(object), TypeError, r"X has dtype object .*real numbers"),
    ("X-complex", X.astype(complex), TypeError, r"X has dtype complex128 \(complex\)"),
    ("X-string", X.astype(str), TypeError, r"X has dtype <U\d+ \(string\)"),
    ("X-bytes", X.astype("S8"), TypeError, r"X has dtype \|S8 \(bytes\)"),
    ("X-datetime", np.zeros((6, 3), "datetime64[s]"), TypeError, r"\(datetime\)"),
    ("X-timedelta", np.zeros((6, 3), "timedelta64[s]"), TypeError, r"\(timedelta\)"),
    ("X-structured", np.zeros((6, 3), [("a", "f8")]), TypeError, r"\(structured\)"),
    ("X-None", None, TypeError, r"X has dtype object"),
    ("X-str", "1,2,3", TypeError, r"X must be an array of numbers, got a string"),
    ("X-ragged", [[1.0, 2.0, 3.0], [1.0]], ValueError, r"X cannot be read as a numeric array"),
    ("X-list-of-str", [["a", "b", "c"]], TypeError, r"\(string\)"),
    ("X-huge-int", [[2**70, 1, 1]], TypeError, r"X has dtype object.*too large for int64"),
    ("X-masked", np.ma.masked_array(X, mask=X > 0.5), ValueError, r"masked array"),
]
BAD_Y = [
    ("Y-rows", Y[:4], ValueError, r"X has 6 samples but Y has 4; they must match"),
    ("Y-outputs", Y[:, :1], ValueError, r"Y has 1 columns, the network expects 2"),
    ("Y-1d-two-outputs", Y[:, 0], ValueError, r"Y must be 2-D .*got 1-D"),
    ("Y-3d", Y[None], ValueError, r"Y must be 2-D .*got 3-D"),
    ("Y-nan", _with(Y, 3, 1, np.nan), ValueError, r"Y contains nan .* in row 3\b"),
    ("Y-inf", _with(Y, 0, 0, np.inf), ValueError, r"Y contains inf .* in row 0\b"),
    ("Y-neginf", _with(Y, 5, 1, -np.inf), ValueError, r"Y contains -inf .* in row 5\b"),
    ("Y-object", Y.astype(object), TypeError, r"Y has dtype object"),
    ("Y-complex", Y.astype(complex), TypeError, r"Y has dtype complex128"),
    ("Y-string", Y.astype(str), TypeError, r"Y has dtype <U\d+ \(string\)"),
    ("Y-datetime", np.zeros((6, 2), "datetime64[D]"), TypeError, r"\(datetime\)"),
    ("Y-empty", np.empty((0, 2)), ValueError, r"Y is empty"),
]

XY_ROWS = []
for meth_name, meth in X_METHODS.items():
    for rid, bad, exc, rx in BAD_X:
        XY_ROWS.append((f"{meth_name}-{rid}", lambda m=meth, b=bad: m(NET, b, Y), exc, rx))
for meth_name, meth in XY_METHODS.items():
    for rid, bad, exc, rx in BAD_Y:
        XY_ROWS.append((f"{meth_name}-{rid}", lambda m=meth, b=bad: m(NET, X, b), exc, rx))
XY_ROWS += [
    ("loss-Y-1d-wrong-length", lambda: NET1.loss(X, Y[:5, 0]), ValueError,
     r"X has 6 samples but Y has 5"),
    ("predict-X-f64-overflows-f32",
     lambda: nncore.Network([3, 2], dtype="float32").predict(_with(X, 1, 1, 1e300)),
     ValueError, r"X contains 1e\+300 in row 1, column 1, too large for float32"),
    ("loss-sample-weight-negative", lambda: NET.loss(X, Y, sample_weight=-np.ones(6)),
     ValueError, r"sample_weight must be >= 0"),
    ("loss-sample-weight-length", lambda: NET.loss(X, Y, sample_weight=np.ones(5)),
     ValueError, r"sample_weight has 5 entries but X has 6 samples"),
    ("loss-sample-weight-nan", lambda: NET.loss(X, Y, sample_weight=[1, 1, np.nan, 1, 1, 1]),
     ValueError, r"sample_weight contains nan .* row 2\b"),
    ("loss-sample-weight-zero", lambda: NET.loss(X, Y, sample_weight=np.zeros(6)),
     ValueError, r"sample_weight sums to 0"),
    ("set-params-length", lambda: NET.set_params(np.zeros(3)), ValueError,
     r"params must have 26 entries"),
    ("set-params-nan", lambda: NET.set_params(np.full(26, np.nan)), ValueError,
     r"params contains nan"),
]


def _fit(**kw):
    return lambda: nncore.Network([3, 4, 2], seed=0).fit(X, Y, **kw)


HYPER = [
    ("lr-0", _fit(learning_rate=0), ValueError, r"learning_rate must be > 0, got 0\.0"),
    ("lr-negative", _fit(learning_rate=-0.1), ValueError, r"learning_rate must be > 0, got -0\.1"),
    ("lr-nan", _fit(learning_rate=math.nan), ValueError, r"learning_rate must be finite, got nan"),
    ("lr-inf", _fit(learning_rate=math.inf), ValueError, r"learning_rate must be finite, got inf"),
    ("lr-str", _fit(learning_rate="0.1"), TypeError, r"learning_rate must be a number, got '0.1'"),
    ("lr-complex", _fit(learning_rate=1j), TypeError, r"learning_rate must be a number"),
    ("batch-0", _fit(batch_size=0), ValueError, r"batch_size must be > 0, got 0"),
    ("batch-negative", _fit(batch_size=-5), ValueError, r"batch_size must be > 0, got -5"),
    ("batch-float", _fit(batch_size=2.5), TypeError, r"batch_size must be an integer, got 2\.5"),
    ("batch-bool", _fit(batch_size=True), TypeError, r"batch_size must be an integer, got True"),
    ("epochs-0", _fit(epochs=0), ValueError, r"epochs must be > 0, got 0"),
    ("epochs-negative", _fit(epochs=-1), ValueError, r"epochs must be > 0, got -1"),
    ("epochs-float", _fit(epochs=1.5), TypeError, r"epochs must be an integer, got 1\.5"),
    ("epochs-None", _fit(epochs=None), TypeError, r"epochs must be an integer, got None"),
    ("optimizer-unknown", _fit(optimizer="rmsprop"), ValueError,
     r"unknown optimizer 'rmsprop'; valid: sgd, momentum, adam"),
    ("optimizer-None", _fit(optimizer=None), ValueError, r"unknown optimizer None; valid: sgd"),
    ("momentum-1", _fit(optimizer="momentum", momentum=1.0), ValueError,
     r"momentum must be in \[0, 1\)"),
    ("beta2-negative", _fit(optimizer="adam", beta2=-0.1), ValueError, r"beta2 must be >= 0"),
    ("epsilon-0", _fit(optimizer="adam", epsilon=0), ValueError, r"epsilon must be > 0"),
    ("weight-decay-negative", _fit(weight_decay=-1e-3), ValueError, r"weight_decay must be >= 0"),
    ("schedule-unknown", _fit(lr_schedule="cosine"), ValueError,
     r"unknown lr_schedule 'cosine'; valid: constant, exponential, step, inverse_time"),
    ("schedule-callable-bad-value", _fit(lr_schedule=lambda epoch, lr0: -1.0), ValueError,
     r"learning-rate schedule gave -1\.0"),
    ("validation-split-1", _fit(validation_split=1.0), ValueError,
     r"validation_split must be in \[0, 1\)"),
    ("validation-split-too-small", _fit(validation_split=0.05), ValueError,
     r"leaves 0 validation samples"),
    ("validation-data-not-pair", _fit(validation_data=X), ValueError,
     r"validation_data must be a pair"),
    ("validation-data-features", _fit(validation_data=(X[:, :2], Y)), ValueError,
     r"X_val has 2 columns"),
    ("validation-both", _fit(validation_data=(X, Y), validation_split=0.5), ValueError,
     r"validation_data or validation_split, not both"),
    ("verbose-3", _fit(verbose=3), ValueError, r"verbose must be 0, 1 or 2"),
    ("on-divergence-unknown", _fit(on_divergence="ignore"), ValueError,
     r"on_divergence must be 'raise' or 'warn'"),
    ("callback-not-callable", _fit(callbacks=[3]), TypeError,
     r"neither callable nor has on_epoch_end"),
    ("early-stopping-str", _fit(early_stopping="yes"), TypeError,
     r"early_stopping must be True or False"),
    ("patience-0", _fit(early_stopping=True, patience=0), ValueError, r"patience must be > 0"),
]


def _save(path):
    return lambda: NET.save(path)


def _load(path):
    return lambda: nncore.load(path)


FILES = [
    ("save-int", _save(3), TypeError, r"expected str, bytes or os\.PathLike object, not int"),
    ("save-None", _save(None), TypeError, r"expected str, bytes or os\.PathLike object"),
    ("save-list", _save(["m.npz"]), TypeError, r"expected str, bytes or os\.PathLike object"),
    ("save-missing-dir", _save("/nonexistent-nncore-dir/m.npz"), FileNotFoundError,
     r"No such file or directory"),
    ("load-int", _load(3), TypeError, r"expected str, bytes or os\.PathLike object, not int"),
    ("load-None", _load(None), TypeError, r"expected str, bytes or os\.PathLike object"),
    ("load-float", _load(1.5), TypeError, r"expected str, bytes or os\.PathLike object"),
    ("load-missing", _load("/nonexistent-nncore-dir/m.npz"), FileNotFoundError,
     r"No such file or directory: '/nonexistent-nncore-dir/m\.npz'"),
    ("load-directory", _load("/"), ValueError, r"is not a valid nncore model file"),
]

BAD_INPUTS = CONSTRUCTOR + XY_ROWS + HYPER + FILES


@pytest.mark.parametrize("thunk, exc, regex", [r[1:] for r in BAD_INPUTS],
                         ids=[r[0] for r in BAD_INPUTS])
def test_bad_input_is_refused(thunk, exc, regex):
    before = NET.params.copy()
    with pytest.raises(exc, match=regex):
        thunk()
    # a refused call never touches the shared network
    assert NET.params.tobytes() == before.tobytes()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("bad_rows", [[0], [1500], [5999], [4100, 700], [2600, 2599]])
def test_predict_names_the_first_nonfinite_row_of_a_large_array(bad_rows, n_threads, dtype):
    # predict checks each chunk of rows inside its kernel pass (here through the
    # 64-wide first layer's Z; chunks of 512 rows, interleaved across threads): the
    # first bad row is still the one named, whichever chunk and thread meet one first
    import threadpoolctl

    from nncore import _parallel

    net = nncore.Network([200, 64, 3], dtype=dtype, seed=0)
    A = RNG.uniform(-1, 1, size=(6000, 200)).astype(dtype)
    for k, r in enumerate(bad_rows):
        A[r, (3 * k) % 200] = (np.nan, np.inf)[k % 2]
    first = min(bad_rows)
    with threadpoolctl.threadpool_limits(n_threads):
        assert _parallel.pass_threads(6000, _parallel.work_per_row(net.sizes)) == min(
            n_threads, _parallel.available_cpus())
        with pytest.raises(ValueError, match=rf"X contains (nan|inf) .* in row {first}, column"):
            net.predict(A)
        A[bad_rows, :] = 0.0
        np.testing.assert_array_equal(net.predict(A), nncore.Network([200, 64, 3], dtype=dtype,
                                                                     seed=0).predict(A.copy()))


@pytest.mark.parametrize("n_threads", [1, 2])
def test_predict_tells_overflow_from_a_nonfinite_input(n_threads, dtype):
    # a layer narrower than its input is checked through its Z = X W^T + b, whose
    # rows are non-finite where X's are, and also where finite inputs overflow:
    # those rows are no error, and a bad row after them is still the one named
    import threadpoolctl

    net = nncore.Network([50, 8, 2], dtype=dtype, seed=1)
    A = RNG.uniform(-1, 1, size=(3000, 50)).astype(dtype)
    A[[100, 2000], :] = np.finfo(dtype).max / 4  # finite; Z overflows to +-inf or NaN
    with threadpoolctl.threadpool_limits(n_threads):
        with np.errstate(over="ignore", invalid="ignore"):
            out = net.predict(A)
        assert np.isfinite(out[:100]).all() and np.isfinite(out[101:2000]).all()
        A[2500, 7] = -np.inf
        with pytest.raises(ValueError, match=r"X contains -inf .* in row 2500, column 7"):
            net.predict(A)
        # a column no first-layer weight reads: X itself is scanned instead (the same
        # error either way here: this BLAS multiplies by zero; one that skips zero
        # weights, as the reference BLAS does, would miss it in Z)
        net.weights[0][:, 7] = 0
        A[2500, 7] = np.nan
        with pytest.raises(ValueError, match=r"X contains nan .* in row 2500, column 7"):
            net.predict(A)


def test_the_table_has_one_row_per_bad_input():
    ids = [r[0] for r in BAD_INPUTS] + [_row_id(r) for r in SKLEARN_ROWS]
    ids += [" ".join(a) for a, _ in CLI_ROWS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 200


def test_a_refused_fit_leaves_no_trace():
    net = nncore.Network([3, 4, 2], seed=0)
    before = net.params.copy()
    for bad in (dict(learning_rate=-1), dict(batch_size=0), dict(optimizer="nope")):
        with pytest.raises((ValueError, TypeError)):
            net.fit(X, Y, **bad)
    with pytest.raises(ValueError):
        net.fit(_with(X, 5, 0, np.nan), Y)
    assert net.params.tobytes() == before.tobytes()
    assert all(len(v) == 0 for v in net.history.values())
    # and the network still trains normally afterwards
    net.fit(X, Y, epochs=2)
    assert len(net.history["loss"]) == 2


# ---------------------------------------------------------------- command line

CLI_ROWS = [
    (["train", "--epochs", "0"], r"--epochs: '0' must be >= 1"),
    (["train", "--epochs", "-3"], r"--epochs: '-3' must be >= 1"),
    (["train", "--epochs", "ten"], r"--epochs: 'ten' is not an integer"),
    (["train", "--batch-size", "0"], r"--batch-size: '0' must be >= 1"),
    (["train", "--threads", "0"], r"--threads: '0' must be >= 1"),
    (["train", "--threads", "many"], r"--threads: 'many' is not an integer"),
    (["train", "--threads", "100000"], r"--threads: '100000' must be at most 256"),
    (["train", "--learning-rate", "nan"], r"--learning-rate: 'nan' must be a finite number > 0"),
    (["train", "--learning-rate", "inf"], r"--learning-rate: 'inf' must be a finite number > 0"),
    (["train", "--learning-rate", "0"], r"--learning-rate: '0' must be a finite number > 0"),
    (["train", "--learning-rate", "-1"], r"--learning-rate: '-1' must be a finite number > 0"),
    (["train", "--learning-rate", "fast"], r"--learning-rate: 'fast' is not a number"),
    (["train", "--layers", "a,b"], r"--layers: 'a,b' is not a list of layer widths"),
    (["train", "--layers", "30,0"], r"--layers: hidden layer widths must be >= 1"),
    (["train", "--dtype", "float16"], r"--dtype: invalid choice: 'float16'"),
    (["train", "--seed", "x"], r"--seed: (invalid int value: 'x'|'x' is not an integer)"),
    (["train", "--seed", "-1", "--epochs", "1"], r"seed.*must be in \[0, 2\*\*64\)"),
    (["train", "--activation", "nope", "--epochs", "1"],
     r"unknown hidden activation 'nope'; valid: sigmoid"),
    (["train", "--output", "tanh", "--epochs", "1"], r"unknown output activation 'tanh'"),
    (["train", "--loss", "l1", "--epochs", "1"], r"unknown loss 'l1'; valid: mse, cross_entropy"),
    (["train", "--optimizer", "rmsprop", "--epochs", "1"], r"unknown optimizer 'rmsprop'"),
    (["train", "--unknown-flag"], r"unrecognized arguments: --unknown-flag"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
]


def _exit_code(args):
    try:
        return cli.main(args)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


@pytest.mark.parametrize("args, regex", CLI_ROWS, ids=[" ".join(a) for a, _ in CLI_ROWS])
def test_cli_bad_input_exits_2(args, regex, capsys):
    assert _exit_code(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.strip(), "the error goes to stderr"
    assert re.search(regex, captured.err), captured.err


def test_cli_unwritable_output_exits_2(capsys, tmp_path):
    out = tmp_path / "no-such-dir" / "m.npz"
    assert _exit_code(["train", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"No such file or directory|directory does not exist", err), err
    assert "Traceback" not in err


# --------------------------------------------------------- scikit-learn estimators

_HAVE_SKLEARN = (importlib.util.find_spec("sklearn") is not None
                 and importlib.util.find_spec("nncore.sklearn") is not None)
XS = RNG.uniform(size=(20, 3))
YS = {"NNClassifier": (XS[:, 0] > 0.5).astype(int), "NNRegressor": XS[:, 1]}


def _sk_rows():
    kw = dict(epochs=2, hidden_layer_sizes=(4,), random_state=0)
    rows = []
    for est in ("NNClassifier", "NNRegressor"):
        y = YS[est]

        def fit(X=XS, y=y, sw=None, est=est, **params):
            from nncore import sklearn as nsk
            return lambda: getattr(nsk, est)(**{**kw, **params}).fit(X, y, sample_weight=sw)

        def predict(X, est=est, y=y):
            from nncore import sklearn as nsk
            return lambda: getattr(nsk, est)(**kw).fit(XS, y).predict(X)

        rows += [
            (f"{est}-X-nan", fit(X=_with(XS, 3, 1, np.nan)), ValueError, r"Input X contains NaN"),
            (f"{est}-X-inf", fit(X=_with(XS, 3, 1, np.inf)), ValueError,
             r"Input X contains infinity"),
            (f"{est}-X-complex", fit(X=XS.astype(complex)), ValueError,
             r"Complex data not supported"),
            (f"{est}-X-string", fit(X=np.full((20, 3), "a")), ValueError,
             r"could not convert string to float"),
            (f"{est}-X-empty", fit(X=np.empty((0, 3)), y=y[:0]), ValueError,
             r"Found array with 0 sample\(s\)"),
            (f"{est}-X-1d", fit(X=XS[:, 0]), ValueError, r"Expected 2D array, got 1D array"),
            (f"{est}-X-3d", fit(X=XS[None]), ValueError, r"Found array with dim 3"),
            (f"{est}-rows", fit(y=y[:5]), ValueError, r"inconsistent numbers of samples"),
            (f"{est}-y-nan", fit(y=np.where(np.arange(20) == 4, np.nan, y)), ValueError,
             r"Input y contains NaN"),
            (f"{est}-hidden-0", fit(hidden_layer_sizes=(0,)), ValueError,
             r"hidden_layer_sizes must contain positive integers"),
            (f"{est}-hidden-None", fit(hidden_layer_sizes=None), TypeError,
             r"hidden_layer_sizes must be an int or a sequence of ints"),
            (f"{est}-lr-0", fit(learning_rate=0), ValueError, r"learning_rate must be > 0"),
            (f"{est}-lr-nan", fit(learning_rate=math.nan), ValueError,
             r"learning_rate must be finite"),
            (f"{est}-batch-0", fit(batch_size=0), ValueError, r"batch_size must be > 0"),
            (f"{est}-epochs-0", fit(epochs=0), ValueError, r"epochs must be > 0"),
            (f"{est}-optimizer", fit(optimizer="rmsprop"), ValueError,
             r"unknown optimizer 'rmsprop'; valid: sgd, momentum, adam"),
            (f"{est}-activation", fit(activation="swish"), ValueError,
             r"unknown hidden activation 'swish'; valid: sigmoid"),
            (f"{est}-loss", fit(loss="l1"), ValueError, r"unknown loss 'l1'; valid: mse"),
            (f"{est}-dtype", fit(dtype="float16"), ValueError, r"unsupported dtype 'float16'"),
            (f"{est}-random-state", fit(random_state=-1), ValueError,
             r"random_state must be in \[0, 2\*\*32\)"),
            (f"{est}-sample-weight", fit(sw=-np.ones(20)), ValueError,
             r"sample_weight must be non-negative"),
            (f"{est}-validation-fraction", fit(early_stopping=True, validation_fraction=1.5),
             ValueError, r"validation_fraction must be in \(0, 1\)"),
            (f"{est}-predict-features", predict(XS[:, :2]), ValueError,
             r"X has 2 features, but \w+ is expecting 3"),
            (f"{est}-predict-nan", predict(_with(XS, 0, 0, np.nan)), ValueError,
             r"Input X contains NaN"),
            (f"{est}-X-datetime", fit(X=np.zeros((20, 3), "datetime64[s]")), TypeError,
             r"datetime"),
        ]
    rows += [
        ("NNClassifier-one-class", lambda: __import__("nncore.sklearn").sklearn.NNClassifier(
            epochs=1).fit(XS, np.zeros(20)), ValueError, r"at least 2 classes"),
        ("NNClassifier-continuous-y", lambda: __import__("nncore.sklearn").sklearn.NNClassifier(
            epochs=1).fit(XS, XS[:, 0]), ValueError, r"Unknown label type: continuous"),
    ]
    return rows


SKLEARN_ROWS = _sk_rows()


def _row_id(row):
    return row.values[0] if hasattr(row, "values") else row[0]


@pytest.mark.skipif(not _HAVE_SKLEARN, reason="scikit-learn or nncore.sklearn missing")
@pytest.mark.parametrize("rid, thunk, exc, regex", SKLEARN_ROWS,
                         ids=[_row_id(r) for r in SKLEARN_ROWS])
def test_sklearn_bad_input_is_refused(rid, thunk, exc, regex):
    with pytest.raises(exc, match=regex):
        thunk()


def test_sklearn_unfitted_predict_is_refused():
    pytest.importorskip("sklearn")
    nsk = pytest.importorskip("nncore.sklearn")
    from sklearn.exceptions import NotFittedError
    for est in (nsk.NNClassifier, nsk.NNRegressor):
        with pytest.raises(NotFittedError, match=r"not fitted yet"):
            est().predict(XS)


# ------------------------------------------------------------------ acceptance

def _all_results(net, X, Y):
    """Every public computation on (X, Y), as bytes, for bit-for-bit comparison."""
    fitted = nncore.Network(net.sizes, activation=net.activations[:-1],
                            output=net.activations[-1], dtype=net.dtype, seed=net.seed)
    fitted.fit(X, Y, epochs=2, batch_size=4)
    return [
        net.predict(X).tobytes(),
        np.float64(net.loss(X, Y)).tobytes(),
        net.gradient(X, Y).tobytes(),
        net.per_sample_gradients(X, Y).tobytes(),
        fitted.params.tobytes(),
    ]


def _layouts(A):
    """The same values in every memory layout a user can hand over."""
    F = np.asfortranarray(A)
    wide = np.zeros((A.shape[0], 2 * A.shape[1]))
    wide[:, ::2] = A
    tall = np.zeros((2 * A.shape[0], A.shape[1]))
    tall[::2] = A
    rev = np.ascontiguousarray(A[::-1, ::-1])[::-1, ::-1]
    ro = A.copy()
    ro.flags.writeable = False
    return {
        "list": A.tolist(),
        "tuple-of-tuples": tuple(map(tuple, A.tolist())),
        "fortran": F,
        "column-strided": wide[:, ::2],
        "row-strided": tall[::2],
        "negative-strides": rev,
        "read-only": ro,
    }


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layout", ["list", "tuple-of-tuples", "fortran", "column-strided",
                                    "row-strided", "negative-strides", "read-only"])
def test_every_layout_gives_the_contiguous_result(layout, dtype):
    net = nncore.Network([3, 5, 2], seed=4, dtype=dtype)
    base = _all_results(net, X, Y)
    Xl, Yl = _layouts(X)[layout], _layouts(Y)[layout]
    assert _all_results(net, Xl, Yl) == base


def test_memmap_inputs(tmp_path):
    Xm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    Xm[:] = X
    Ym = np.memmap(tmp_path / "Y.bin", mode="w+", dtype=np.float64, shape=Y.shape)
    Ym[:] = Y
    Xr = np.load(tmp_path / "X.npy", mmap_mode="r")  # read-only memory map
    net = nncore.Network([3, 5, 2], seed=4)
    base = _all_results(net, X, Y)
    assert _all_results(net, Xm, Ym) == base
    assert _all_results(net, Xr, Ym) == base
    # no copy: the checked array is the memory map's own buffer
    for A in (Xm, Xr, Ym):
        checked = _validation.check_array(A, name="X", dtype=np.dtype(np.float64))
        assert np.shares_memory(checked, A)
    # a float32 network must convert (once), and still gets it right
    net32 = nncore.Network([3, 5, 2], seed=4, dtype="float32")
    assert net32.predict(Xr).tobytes() == net32.predict(X.astype(np.float32)).tobytes()


def test_no_copy_when_already_right():
    for dtype in (np.float64, np.float32):
        A = X.astype(dtype)
        assert _validation.check_array(A, name="X", dtype=np.dtype(dtype)) is A
        ro = A.copy()
        ro.flags.writeable = False
        assert _validation.check_array(ro, name="X", dtype=np.dtype(dtype)) is ro
        # a C-contiguous row slice is a view, used in place
        view = A[1:4]
        assert _validation.check_array(view, name="X", dtype=np.dtype(dtype)) is view
    # and these need (exactly one) copy
    for A in (np.asfortranarray(X), X[::-1], X.astype(np.float32)):
        out = _validation.check_array(A, name="X", dtype=np.dtype(np.float64))
        assert out.flags.c_contiguous and out.dtype == np.float64
        assert not np.shares_memory(out, A)
        np.testing.assert_array_equal(out, A)


def test_read_only_inputs_are_not_written():
    net = nncore.Network([3, 5, 2], seed=4)
    Xr, Yr = X.copy(), Y.copy()
    Xr.flags.writeable = Yr.flags.writeable = False
    net.fit(Xr, Yr, epochs=2, batch_size=3, sample_weight=np.ones(6))
    np.testing.assert_array_equal(Xr, X)
    np.testing.assert_array_equal(Yr, Y)


@pytest.mark.parametrize("kind", ["int64", "int8", "uint16", "bool", "float16"])
def test_ints_bools_and_float16_are_converted(kind):
    Xi = (RNG.integers(0, 3, size=(8, 3)) > 0) if kind == "bool" else \
        RNG.integers(0, 5, size=(8, 3)).astype(kind)
    Yi = RNG.integers(0, 2, size=(8, 2)).astype(kind if kind != "float16" else "bool")
    for dtype in ("float64", "float32"):
        net = nncore.Network([3, 4, 2], seed=1, dtype=dtype)
        Xf, Yf = Xi.astype(dtype), Yi.astype(dtype)
        assert net.predict(Xi).dtype == np.dtype(dtype)
        assert _all_results(net, Xi, Yi) == _all_results(net, Xf, Yf)


def test_one_output_accepts_1d_targets():
    net = nncore.Network([3, 4, 1], seed=1)
    y = Y[:, 0]
    assert net.loss(X, y) == net.loss(X, y[:, None])
    assert net.gradient(X, y.tolist()).tobytes() == net.gradient(X, y[:, None]).tobytes()
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        net.predict(X[:, 0])


def test_float32_stays_float32_and_float64_stays_float64():
    for dtype in (np.float32, np.float64):
        A = X.astype(dtype)
        out = _validation.check_array(A, name="X", dtype=np.dtype(dtype))
        assert out.dtype == dtype


def test_check_data_assume_finite_skips_only_the_scan():
    """assume_finite: the caller (the drop-in, after scikit-learn's validation) vouches
    for the values; a narrowing to the network's dtype is still checked."""
    import scipy.sparse as sp

    X = np.ones((4, 3))
    X[2, 1] = np.nan
    Y = np.zeros((4, 2))
    net = nncore.Network([3, 2], dtype="float64", seed=0)
    with pytest.raises(ValueError, match=r"X.*row 2"):
        net.check_data(X, Y)
    Xc, _ = net.check_data(X, Y, assume_finite=True)
    assert Xc is X  # (no copy, no scan)
    with pytest.raises(ValueError, match="X"):
        net.check_data(sp.csr_matrix(X), Y)
    assert np.isnan(net.check_data(sp.csr_matrix(X), Y, assume_finite=True)[0].data).any()
    # float64 values beyond float32's range become infinite in a float32 network
    big = np.ones((4, 3))
    big[1, 0] = 1e300
    net32 = nncore.Network([3, 2], dtype="float32", seed=0)
    for given in (big, sp.csr_matrix(big)):
        with pytest.raises(ValueError, match="X"):
            net32.check_data(given, Y, assume_finite=True)

"""Model files: anything that is not a file nncore wrote, intact, is refused with a
clear ValueError, and loading never executes code (``allow_pickle=False``)."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import nncore

INVALID = r"is not a valid nncore model file"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(30, 3)), rng.uniform(size=(30, 2))
    net = nncore.Network([3, 4, 2], activation="tanh", seed=0)
    net.fit(X, Y, epochs=2, batch_size=8, optimizer="adam")
    path = tmp_path_factory.mktemp("model") / "m.npz"
    net.save(path)
    return net, path


def _arrays(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays["header"].tobytes()), arrays


def _write(path, header, arrays):
    arrays = dict(arrays)
    if header is not None:
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    return path


def _same(a, b):
    return a.params.tobytes() == b.params.tobytes() and a.history == b.history \
        and a.sizes == b.sizes and a.activations == b.activations


def test_round_trip(model, tmp_path):
    net, path = model
    assert _same(nncore.load(path), net)
    assert _same(nncore.load(str(path)), net)


# ---------------------------------------------------------------- truncated

def test_every_truncation_is_refused(model, tmp_path):
    _, path = model
    raw = path.read_bytes()
    bad = tmp_path / "t.npz"
    for n in range(len(raw)):
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match=INVALID):
            nncore.load(bad)


# ---------------------------------------------------------------- corrupted

def _flip_every_byte(raw, tmp_path, net):
    """Load the file with each byte flipped (three ways); tally the outcomes."""
    bad = tmp_path / "c.npz"
    outcomes = {"refused": 0, "identical": 0}
    wrong = []
    for i in range(len(raw)):
        for mask in (0x01, 0x80, 0xFF):
            b = bytearray(raw)
            b[i] ^= mask
            bad.write_bytes(bytes(b))
            try:
                back = nncore.load(bad)
            except ValueError as exc:
                assert INVALID.split(" file")[0] in str(exc).replace("\\", "")
                outcomes["refused"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - that is the point
                wrong.append((i, mask, f"{type(exc).__name__}: {exc}"))
                continue
            # a flip in bytes nothing reads (zip timestamps, ...) may load, but
            # then it must be exactly the saved network: CRC-32 guards the data
            if _same(back, net):
                outcomes["identical"] += 1
            else:
                wrong.append((i, mask, "loaded a DIFFERENT network"))
    return outcomes, wrong


def test_every_flipped_byte_is_refused_or_harmless(model, tmp_path):
    net, path = model
    outcomes, wrong = _flip_every_byte(path.read_bytes(), tmp_path, net)
    assert not wrong, wrong[:10]
    assert outcomes["refused"] > outcomes["identical"]


def test_flipped_bytes_never_give_a_different_network(model, tmp_path):
    # the part that holds today: whatever happens, never a silently different model
    net, path = model
    _, wrong = _flip_every_byte(path.read_bytes(), tmp_path, net)
    assert not [w for w in wrong if "DIFFERENT" in w[2]]


# ---------------------------------------------------------------- tampered

def _set(key, value):
    def mod(header, arrays):
        header[key] = value
    return mod


def _del_key(key):
    def mod(header, arrays):
        del header[key]
    return mod


def _array(key, fn):
    def mod(header, arrays):
        if fn is None:
            del arrays[key]
        else:
            arrays[key] = fn(arrays[key])
    return mod


def _nan_at(i):
    def fn(a):
        a = a.copy()
        a[i] = np.nan
        return a
    return fn


def _huge_network(header, arrays):
    # a 1 KB file must not make load allocate terabytes
    header["sizes"] = [3, 10**6, 10**6, 2]
    header["activations"] = ["tanh", "tanh", "sigmoid"]


TAMPERED = [
    ("n_params", _set("n_params", 27), r"parameter count does not match|need \(26,\) param"),
    ("n_params-str", _set("n_params", "26"), r"parameter count|need \(26,\) param"),
    ("sizes", _set("sizes", [3, 5, 2]), r"parameter vector is float64\(26,\).*need.*\(32,\)"),
    ("sizes-one-layer", _set("sizes", [3]), r"activations for 0 layers|at least two"),
    ("sizes-zero", _set("sizes", [3, 0, 2]), r"configuration is invalid"),
    ("sizes-null", _set("sizes", None), r"malformed field|not a list of integers"),
    ("dtype", _set("dtype", "float32"), r"parameter vector is float64\(26,\).*needs float32"),
    ("dtype-unsupported", _set("dtype", "float16"), r"unsupported dtype 'float16'"),
    ("format-version-2", _set("format_version", 2), r"format version 2 is not supported"),
    ("format-version-str", _set("format_version", "1"), r"format version '1' is not supported"),
    ("format-version-missing", _del_key("format_version"), r"format version None"),
    ("format-other", _set("format", "keras"), r"does not say it is an nncore network"),
    ("format-missing", _del_key("format"), r"does not say it is an nncore network"),
    ("activations-count", _set("activations", ["tanh"]), r"1 activations for 2 layers"),
    ("activations-unknown", _set("activations", ["swish", "sigmoid"]), r"unknown hidden"),
    ("loss-unknown", _set("loss", "l1"), r"unknown loss 'l1'"),
    ("loss-missing", _del_key("loss"), r"malformed field"),
    ("seed-negative", _set("seed", "-1"), r"seed must be in"),
    ("seed-huge", _set("seed", str(2**70)), r"seed must be in"),
    ("counters-length", _set("counters", ["1"]), r"counters are malformed"),
    ("counters-negative", _set("counters", ["-1", "0"]), r"counters are malformed"),
    ("epochs-done-str", _set("epochs_done", "x"), r"malformed field|epochs_done"),
    ("history-not-dict", _set("history", [1.0]), r"history is malformed"),
    ("history-strings", _set("history", {"loss": ["a"]}), r"history is malformed"),
    ("optimizer-unknown", _set("optimizer", {"name": "rmsprop", "nesterov": False}),
     r"unknown optimizer 'rmsprop'"),
    ("params-short", _array("params", lambda p: p[:-1]), r"parameter vector is float64\(25,\)"),
    ("params-long", _array("params", lambda p: np.append(p, 0.0)), r"float64\(27,\)"),
    ("params-float32", _array("params", lambda p: p.astype(np.float32)), r"float32\(26,\)"),
    ("params-int", _array("params", lambda p: p.astype(np.int64)), r"int64\(26,\)"),
    ("params-2d", _array("params", lambda p: p.reshape(2, -1)), r"float64\(2, 13\)"),
    ("params-0d", _array("params", lambda p: p[0]), r"float64\(\)"),
    ("params-nan", _array("params", _nan_at(3)), r"parameter vector contains NaN or infinity"),
    ("params-inf", _array("params", lambda p: np.where(p == p[5], np.inf, p)),
     r"parameter vector contains NaN or infinity"),
    ("params-missing", _array("params", None), r"no nncore header or parameter vector"),
    ("opt-state-short", _array("opt_state", lambda s: s[:-1]), r"optimizer state does not match"),
    ("opt-state-float32", _array("opt_state", lambda s: s.astype(np.float32)),
     r"optimizer state does not match"),
]

# tampering that a lenient reader would coerce instead of refusing
TAMPERED += [
    ("sizes-float", _set("sizes", [3, 4.7, 2]), r"sizes"),
    ("sizes-str-items", _set("sizes", [3, "4", 2]), r"sizes"),
    ("sizes-a-string", _set("sizes", "342"), r"sizes"),
    ("sizes-bool", _set("sizes", [3, True, 2]), r"sizes"),
    ("sizes-huge", _huge_network, r"parameter"),
    ("format-version-true", _set("format_version", True), r"format version True"),
    ("seed-float", _set("seed", 1.5), r"seed"),
    ("epochs-done-negative", _set("epochs_done", -5), r"epochs_done"),
    ("epochs-done-float", _set("epochs_done", 2.5), r"epochs_done"),
    ("history-bools", _set("history", {"loss": [True, False]}), r"history"),
    ("optimizer-not-a-dict", _set("optimizer", "adam"), r"optimizer"),
    ("optimizer-nesterov-str", _set("optimizer", {"name": "adam", "nesterov": "yes"}),
     r"optimizer"),
    ("opt-state-nan", _array("opt_state", _nan_at(0)), r"optimizer state"),
    ("opt-state-missing", _array("opt_state", None), r"optimizer state"),
]


def _raw_header(data: bytes):
    def mod(header, arrays):
        arrays["header"] = np.frombuffer(data, dtype=np.uint8)
    return mod


BAD_HEADERS = [
    ("not-json", _raw_header(b"{not json"), r"header is not valid JSON"),
    ("bad-utf8", _raw_header(b"\xff\xfe{}"), r"header is not valid JSON"),
    ("json-list", _raw_header(b"[1, 2]"), r"does not say it is an nncore network"),
    ("json-null", _raw_header(b"null"), r"does not say it is an nncore network"),
    ("float-array", lambda h, a: a.__setitem__("header", np.zeros(3)), r"not a JSON byte string"),
    ("2d-bytes", lambda h, a: a.__setitem__("header", np.zeros((2, 2), np.uint8)),
     r"not a JSON byte string"),
    ("missing", lambda h, a: a.pop("header"), r"no nncore header"),
]
BAD_HEADERS += [
    ("deeply-nested", _raw_header(b"[" * 100_000 + b"]" * 100_000), r"header"),
    ("huge-integer", _raw_header(b'{"format": 1' + b"0" * 5000 + b"}"), r"header"),
]


# (id, change, message, whether the change edits the JSON header or the raw arrays)
DAMAGED = [(*r, True) for r in TAMPERED] + [(*r, False) for r in BAD_HEADERS]


@pytest.mark.parametrize("mod, regex, edits_json", [r[1:] for r in DAMAGED],
                         ids=[r[0] for r in DAMAGED])
def test_tampered_file_is_refused(model, tmp_path, mod, regex, edits_json):
    _, path = model
    header, arrays = _arrays(path)
    mod(header, arrays)
    bad = _write(tmp_path / "t.npz", header if edits_json else None, arrays)
    with pytest.raises(ValueError, match=INVALID) as exc:
        nncore.load(bad)
    assert exc.match(regex)


# ---------------------------------------------------------------- not nncore at all

def test_foreign_files_are_refused(tmp_path):
    cases = {
        "other.npz": lambda p: np.savez(p, weights=np.ones(3)),
        "empty.npz": lambda p: p.write_bytes(b""),
        "text.npz": lambda p: p.write_text("hello, I am not a model\n"),
        "pickle.npz": lambda p: p.write_bytes(pickle.dumps({"params": [1.0]})),
        "zip-without-npy.npz": lambda p: zipfile.ZipFile(p, "w").writestr("a.txt", "x"),
        "compressed.npz": lambda p: np.savez_compressed(p, header=np.zeros(2, np.uint8)),
    }
    for name, make in cases.items():
        p = tmp_path / name
        make(p)
        with pytest.raises(ValueError, match=INVALID):
            nncore.load(p)


def test_a_plain_npy_file_is_refused(tmp_path):
    p = tmp_path / "array.npz"
    with open(p, "wb") as fh:
        np.save(fh, np.arange(26.0))
    with pytest.raises(ValueError, match=INVALID):
        nncore.load(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        nncore.load(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match=INVALID):
        nncore.load(tmp_path)


# ---------------------------------------------------------------- never executes code

class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("where", ["params", "header", "opt_state", "extra-member"])
def test_pickle_payload_is_never_executed(model, tmp_path, where):
    _, path = model
    header, arrays = _arrays(path)
    marker = tmp_path / f"pwned-{where}"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    if where == "extra-member":
        arrays["evil"] = evil
    else:
        arrays[where] = evil
    bad = tmp_path / "evil.npz"
    np.savez(bad, **({"header": np.frombuffer(json.dumps(header).encode(), np.uint8)}
                     | arrays if where != "header" else arrays))
    # control: the payload is live, a pickle-trusting loader would run it
    with np.load(bad, allow_pickle=True) as f:
        f[where if where != "extra-member" else "evil"]
    assert marker.exists()
    marker.unlink()

    if where == "extra-member":
        # members nncore does not know are never read, so never unpickled
        assert nncore.load(bad).n_params == 26
    else:
        with pytest.raises(ValueError, match=INVALID + r".*(pickle|[Oo]bject)"):
            nncore.load(bad)
    assert not marker.exists(), "loading executed code from the file"


def test_load_source_never_uses_pickle():
    import inspect

    from nncore import io
    src = inspect.getsource(io)
    assert "allow_pickle=False" in src
    assert "allow_pickle=True" not in src and "import pickle" not in src


# ---------------------------------------------------------------- saving

def test_bytes_path_round_trip(model, tmp_path):
    net, _ = model
    p = os.fsencode(tmp_path / "b.npz")
    net.save(p)
    assert _same(nncore.load(p), net)


def test_failed_save_keeps_the_old_file(model, tmp_path, monkeypatch):
    net, path = model
    target = tmp_path / "keep.npz"
    target.write_bytes(path.read_bytes())

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(target)
    monkeypatch.undo()
    assert _same(nncore.load(target), net)


def test_failed_save_leaves_no_temporary_file(model, tmp_path, monkeypatch):
    net, _ = model

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError):
        net.save(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []

"""Saving and loading networks: one ``.npz`` file, no pickles.

The file holds ``params`` (the parameter vector), ``header`` (a JSON document
stored as a uint8 array) and, optionally, the optimiser state ``opt_state`` and
the shuffling/step counters.  It is read with ``allow_pickle=False``, so loading
never executes code, and every field is checked before a network is built.

A network may carry a ``meta`` dict (``net.meta``: class labels, feature names,
input scaling — whatever the application needs to use the model later).  It is
stored in the header as JSON, so it must hold only JSON types (dicts with string
keys, lists, strings, numbers, booleans, None); :func:`load` gives it back as
``net.meta`` (an empty dict when the file has none).
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._version import __version__

FORMAT = "nncore-network"
FORMAT_VERSION = 1


def save(net, path, *, include_optimizer=True, include_history=True, meta=None) -> None:
    """Write ``net`` to ``path``; ``meta`` (default: ``net.meta`` if set) is stored as JSON."""
    if meta is None:
        meta = getattr(net, "meta", None)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nncore_version": __version__,
        "sizes": list(net.sizes),
        "activations": list(net.activations),
        "loss": net.loss_name,
        "dtype": net.dtype.name,
        "seed": str(net.seed),
        "n_params": int(net.n_params),
        "epochs_done": int(net._epochs_done),
        "counters": [str(int(c)) for c in net._counters],
    }
    arrays = {"params": np.asarray(net.params)}
    if include_optimizer and net._opt is not None:
        (name, nesterov), state = net._opt
        header["optimizer"] = {"name": name, "nesterov": nesterov, "state_size": int(state.size)}
        arrays["opt_state"] = np.asarray(state)
    if include_history:
        header["history"] = {k: [float(v) for v in vals] for k, vals in net.history.items()}
    if meta is not None:
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"meta must hold only JSON types (dict, list, str, number, bool, "
                            f"None): {exc}") from None
        header["meta"] = meta
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    # write to a temporary file first so a failed save never leaves half a model
    tmp = path + (b".tmp" if isinstance(path, bytes) else ".tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _fail(path, why):
    raise ValueError(f"{path!s} is not a valid nncore model file: {why}")


def load(path):
    """Read a network written by :meth:`Network.save`.

    Raises ValueError naming the problem for a truncated, corrupted, tampered
    or foreign file; never unpickles anything.
    """
    from .network import Network

    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                _fail(path, "it is a single .npy array, not an .npz archive")
            files = set(f.files)
            if "header" not in files or "params" not in files:
                _fail(path, "it has no nncore header or parameter vector")
            raw = f["header"]
            params = f["params"]
            opt_state = f["opt_state"] if "opt_state" in files else None
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, TypeError,
            AttributeError, NotImplementedError, RuntimeError, SyntaxError, MemoryError,
            OverflowError) as exc:
        # zipfile and numpy's .npy reader raise all of these on damaged or
        # crafted bytes (unsupported compression, "encrypted" flag, bad header...)
        if isinstance(exc, ValueError) and "not a valid nncore model" in str(exc):
            raise
        _fail(path, f"it cannot be read as an .npz archive ({type(exc).__name__}: {exc})")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        _fail(path, "the header is not a JSON byte string")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, int-digit limits, nesting
        _fail(path, f"the header is not valid JSON ({type(exc).__name__}: {exc})")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _fail(path, "the header does not say it is an nncore network")
    if type(header.get("format_version")) is not int or \
            header.get("format_version") != FORMAT_VERSION:
        _fail(path, f"format version {header.get('format_version')!r} is not supported "
                    f"(this nncore reads version {FORMAT_VERSION})")
    try:
        sizes = header["sizes"]
        acts = header["activations"]
        loss = header["loss"]
        dtype = header["dtype"]
        seed = int(header["seed"]) if isinstance(header["seed"], str) else header["seed"]
        counters = [int(c) for c in header["counters"]]
        epochs_done = header.get("epochs_done", 0)
    except (KeyError, TypeError, ValueError) as exc:
        _fail(path, f"the header is missing or has a malformed field ({exc})")
    # exact JSON types: int() would turn 4.7 into 4, "342" into [3, 4, 2], true into 1
    if not isinstance(sizes, list) or not all(_is_int(n) for n in sizes):
        _fail(path, f"the layer sizes {sizes!r} are not a list of integers")
    if not isinstance(acts, list) or not all(isinstance(a, str) for a in acts):
        _fail(path, "the activations are not a list of names")
    if not isinstance(loss, str) or not isinstance(dtype, str) or not _is_int(seed):
        _fail(path, "the loss, dtype or seed field has the wrong type")
    if not _is_int(epochs_done) or epochs_done < 0:
        _fail(path, f"epochs_done is {epochs_done!r}, not a count")
    # the parameter count is checked before anything is allocated, so a tampered
    # header cannot make load build a huge network
    if len(sizes) >= 2 and all(n >= 1 for n in sizes):
        expected = sum(b * (a + 1) for a, b in zip(sizes[:-1], sizes[1:]))
        if params.shape != (expected,) or header.get("n_params") != expected:
            _fail(path, f"the parameter vector is {params.dtype}{params.shape}, the header's "
                        f"layer sizes {sizes} need ({expected},) parameters")
    if len(acts) != len(sizes) - 1:
        _fail(path, f"{len(acts)} activations for {len(sizes) - 1} layers")
    try:
        net = Network(sizes, activation=acts[:-1], output=acts[-1], loss=loss, dtype=dtype,
                      seed=seed)
    except (TypeError, ValueError) as exc:
        _fail(path, f"its configuration is invalid ({exc})")
    if params.dtype != net.dtype or params.shape != (net.n_params,):
        _fail(path, f"the parameter vector is {params.dtype}{params.shape}, the header's "
                    f"network needs {net.dtype}({net.n_params},)")
    if header.get("n_params") != net.n_params:
        _fail(path, "the header's parameter count does not match its layer sizes")
    if not np.isfinite(params).all():
        _fail(path, "the parameter vector contains NaN or infinity")
    net.params[:] = params
    if len(counters) != 2 or not all(0 <= c < 2**64 for c in counters):
        _fail(path, "the counters are malformed")
    net._counters[:] = np.array(counters, dtype=np.uint64)
    net._epochs_done = epochs_done
    opt = header.get("optimizer")
    if (opt is None) != (opt_state is None):
        _fail(path, "the optimizer state and the header's optimizer entry must come together")
    if opt is not None:
        from .optimizers import OPTIMIZERS
        if not isinstance(opt, dict):
            _fail(path, "the optimizer entry is malformed")
        name = opt.get("name")
        nesterov = opt.get("nesterov", False)
        if not isinstance(name, str) or name not in OPTIMIZERS:
            _fail(path, f"unknown optimizer {name!r}")
        if not isinstance(nesterov, bool):
            _fail(path, f"the optimizer's nesterov flag is {nesterov!r}, not true/false")
        need = OPTIMIZERS[name][0] * net.n_params
        if opt_state.dtype != net.dtype or opt_state.shape != (need,):
            _fail(path, "the optimizer state does not match the network")
        if not np.isfinite(opt_state).all():
            _fail(path, "the optimizer state contains NaN or infinity")
        net._opt = ((name, nesterov), np.array(opt_state))
    hist = header.get("history")
    if hist is not None:
        if not isinstance(hist, dict) or not all(
            isinstance(v, list) and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            for v in hist.values()
        ):
            _fail(path, "the history is malformed (it needs lists of numbers)")
        net.history = {str(k): [float(x) for x in v] for k, v in hist.items()}
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        _fail(path, "its meta field is not a JSON object")
    net.meta = meta
    return net

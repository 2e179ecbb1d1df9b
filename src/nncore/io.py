"""Saving and loading networks: one ``.npz`` file, no pickles.

The file holds ``params`` (the parameter vector), ``header`` (a JSON document
stored as a uint8 array) and, optionally, the optimiser's state ``opt_state``.
The header has the configuration (layer sizes, activations, loss, dtype, seed),
the training state (epochs done, the shuffling stream and the optimiser's step
count as ``counters``, the optimiser's hyperparameters), the history and the
user's ``meta``.  It is read with ``allow_pickle=False``, so loading never
executes code, and every field is checked before a network is built.

A network may carry a ``meta`` dict (``net.meta``: class labels, feature names,
input scaling — whatever the application needs to use the model later).  It is
stored in the header as JSON, so it must hold only JSON types (dicts with string
keys, lists, strings, numbers, booleans, None); :func:`load` gives it back as
``net.meta`` (an empty dict when the file has none).

:data:`FORMAT` and :data:`FORMAT_VERSION` are the header's ``format`` and
``format_version``: what a file must say to be read as a model.

This module owns the file; :meth:`nncore.Network.to_archive` and
:meth:`~nncore.Network.from_archive` own what the model puts in it.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._archive import FORMAT, FORMAT_VERSION
from .network import Network

__all__ = ["save", "load", "read", "FORMAT", "FORMAT_VERSION"]

#: the arrays a model file may hold; any other member is never read
_MEMBERS = ("header", "params", "opt_state")


def save(net, path, *, include_optimizer=True, include_history=True, meta=None) -> None:
    """Write ``net`` to ``path``; ``meta`` (default: ``net.meta`` if set) is stored as JSON."""
    net.save(path, include_optimizer=include_optimizer, include_history=include_history,
             meta=meta)


def _fail(path, why):
    raise ValueError(f"{path!s} is not a valid nncore model file: {why}")


def read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and arrays of a model file, checked as far as the file format
    goes (an .npz archive, a JSON header of this format and version).

    Raises ValueError naming the problem for a truncated, corrupted, tampered
    or foreign file; never unpickles anything.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not isinstance(f, np.lib.npyio.NpzFile):
                _fail(path, "it is a single .npy array, not an .npz archive")
            files = set(f.files)
            if "header" not in files or "params" not in files:
                _fail(path, "it has no nncore header or parameter vector")
            arrays = {name: f[name] for name in _MEMBERS if name in files}
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
    raw = arrays.pop("header")
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
    return header, arrays


def load(path) -> Network:
    """Read a network written by :meth:`nncore.Network.save`.

    Raises ValueError naming the problem for a truncated, corrupted, tampered
    or foreign file; never unpickles anything.
    """
    header, arrays = read(path)
    try:
        return Network.from_archive(header, arrays)
    except ValueError as exc:
        _fail(os.fspath(path), str(exc))

"""The model file's container: a header (JSON as a uint8 array) and named arrays in
one ``.npz``, written atomically.  The reader is :func:`nncore.io.read`."""

from __future__ import annotations

import json
import os

import numpy as np

#: what the header's ``format`` field says
FORMAT = "nncore-network"
#: the version of the file format this nncore writes and reads
FORMAT_VERSION = 1


def write(path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``header`` and ``arrays`` to ``path``; a failed write leaves any
    existing file as it was and no temporary behind."""
    arrays = dict(arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
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

"""Small real data sets shipped inside the package."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass
class Dataset:
    """A data set: ``data`` (n_samples, n_features), ``target`` (n_samples,)."""

    data: np.ndarray
    target: np.ndarray
    images: np.ndarray
    target_names: np.ndarray
    DESCR: str

    def __iter__(self):  # X, y = load_digits()
        return iter((self.data, self.target))


_DIGITS_DESCR = """UCI ML hand-written digits (optical recognition of handwritten digits).

1,797 images of 8x8 pixels, 10 classes (digits 0-9, about 180 each); each pixel
is an integer count 0..16 of set pixels in a 4x4 block of the original 32x32
bitmap.  Source: E. Alpaydin and C. Kaynak, UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49 , licensed CC BY 4.0.  This is the test part of
the UCI set, the same data scikit-learn ships as load_digits().
"""


def load_digits(*, return_X_y: bool = False, scale: bool = False):
    """The UCI handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

    Parameters
    ----------
    return_X_y : bool
        Return ``(data, target)`` instead of a :class:`Dataset`.
    scale : bool
        Divide the pixel values (0..16) by 16 so they lie in [0, 1].

    Returns
    -------
    Dataset with ``data`` (1797, 64) float64, ``target`` (1797,) int64,
    ``images`` (1797, 8, 8), ``target_names`` and ``DESCR``; or ``(data, target)``.
    """
    with resources.files("nncore").joinpath("data/digits.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as f:
            pixels = f["images"].astype(np.float64)
            target = f["target"].astype(np.int64)
    if scale:
        pixels /= 16.0
    if return_X_y:
        return pixels, target
    return Dataset(data=pixels, target=target, images=pixels.reshape(-1, 8, 8),
                   target_names=np.arange(10), DESCR=_DIGITS_DESCR)


def one_hot(y, n_classes: int | None = None, dtype=np.float64) -> np.ndarray:
    """Integer labels 0..K-1 as rows of a K-column identity matrix."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iub":
        raise ValueError("one_hot needs a 1-D array of integer labels")
    k = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.size and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must lie in [0, {k}), got {y.min()}..{y.max()}")
    out = np.zeros((y.shape[0], k), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def digits_split(*, test_fraction: float = 0.25, seed: int = 0):
    """The fixed held-out split of the digits used by the main job and the tests.

    Returns ``X_train, X_test, y_train, y_test`` with pixels scaled to [0, 1] and
    integer labels; the same ``seed`` always gives the same split (stratified
    by class, so every digit is represented in the same proportion).
    """
    X, y = load_digits(return_X_y=True, scale=True)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        test[rng.permutation(idx)[: int(round(len(idx) * test_fraction))]] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    test_idx = np.flatnonzero(test)
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


#: IDX type codes (the third byte of the magic number) -> big-endian dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx(path) -> bool:
    """Whether ``path`` starts like an IDX file (plain or gzip-compressed)."""
    try:
        with _open_maybe_gzip(path) as fh:
            head = fh.read(4)
    except (OSError, EOFError):
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES and head[3] >= 1


def _open_maybe_gzip(path):
    import gzip

    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """Read an IDX file, the format of MNIST and Fashion-MNIST (gzip'd or not).

    ``train-images-idx3-ubyte`` gives a ``(60000, 28, 28)`` uint8 array,
    ``train-labels-idx1-ubyte`` a ``(60000,)`` one.  The header (two zero
    bytes, a type code, the number of dimensions, then each dimension as a
    big-endian int32) is checked against the file's length.

    Raises
    ------
    ValueError
        If the file is not a well-formed IDX file.
    """
    import os

    name = os.fspath(path)
    with _open_maybe_gzip(path) as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES or raw[3] < 1:
        raise ValueError(f"{name} is not an IDX file (its first bytes are not an IDX magic "
                         f"number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{name} is a truncated IDX file (incomplete header)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{name} is a malformed IDX file: its header promises shape {shape} "
                         f"({expected} bytes) but the file has {len(raw)} bytes")
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return data.astype(dtype.newbyteorder("="))

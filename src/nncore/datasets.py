"""Data: the bundled UCI digits, and readers for the files the ``nncore`` command takes.

The readers (:func:`read_data`, which dispatches on the kind of file, and
:func:`read_csv`, :func:`read_npz`, :func:`read_idx_pair`) return a
:class:`Dataset` of raw float64 features, labels or targets, and where they came
from.  They raise :class:`FileNotFoundError` for a missing file and
:class:`ValueError` for anything wrong inside one, with a message naming the file
(and, for CSV, the line and the column).  Files are parsed, never unpickled.
"""

from __future__ import annotations

import csv
import errno
import gzip
import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass
class Dataset:
    """Features, labels or targets, and where they came from.

    ``X, y = dataset`` unpacks ``data`` and ``target``.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_features)
        The features, float64, as stored in the file (not scaled).
    target : ndarray of shape (n_samples,) or None
        The labels or regression targets: integers (whole-valued floats are
        returned as int64), floats, booleans or strings; None when there are none.
    images : ndarray of shape (n_samples, height, width) or None
        For images, ``data`` with each row shaped as its image (a view, not a copy).
    target_names : ndarray or None
        The class names (``load_digits``).
    DESCR : str
        A description of the data set (``load_digits``).
    feature_names : list of str or None
        The CSV columns holding the features, in the order of ``data``'s columns.
    target_name : str or None
        The CSV column holding ``target``.
    source : str
        The file read (the images file of an IDX pair), or a description.
    kind : str
        ``"csv"``, ``"npz"``, ``"idx"`` or ``"digits"``.
    pixel_max : float or None
        For images, the largest value a pixel can take (255 for 8-bit images, 16
        for the digits): divide ``data`` by it to bring the pixels to [0, 1].
    """

    data: np.ndarray
    target: np.ndarray | None
    images: np.ndarray | None = None
    target_names: np.ndarray | None = None
    DESCR: str = ""
    feature_names: list[str] | None = None
    target_name: str | None = None
    source: str = ""
    kind: str = ""
    pixel_max: float | None = None

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
    Dataset or tuple
        A :class:`Dataset` with ``data`` (1797, 64) float64, ``target`` (1797,)
        int64, ``images`` (1797, 8, 8), ``target_names``, ``DESCR`` and
        ``pixel_max`` (16, or 1 when scaled); or ``(data, target)``.

    Examples
    --------
    >>> from nncore.datasets import load_digits
    >>> X, y = load_digits(scale=True)
    >>> X.shape, float(X.max()), sorted(set(y.tolist())) == list(range(10))
    ((1797, 64), 1.0, True)
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
                   target_names=np.arange(10), DESCR=_DIGITS_DESCR, source="the UCI digits",
                   kind="digits", pixel_max=1.0 if scale else 16.0)


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


def split_indices(y, *, test_fraction: float = 0.25, stratify: bool = True, seed: int = 0):
    """A fixed held-out split: of each class, a shuffled ``test_fraction`` is held out.

    The split the ``nncore`` command holds out and :func:`digits_split` returns.
    Classes are taken in sorted order and each gives ``round(n_c * test_fraction)``
    of its ``n_c`` samples; without ``stratify`` the whole set is one class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels (any type ``numpy.unique`` sorts), or targets when ``stratify`` is False.
    test_fraction : float
        The share held out, in [0, 1).
    stratify : bool
        Hold out the share of every class (classification), not of the whole set.
    seed : int
        Seeds the shuffling: the same ``y`` and ``seed`` give the same split.

    Returns
    -------
    train, test : ndarray of int
        Indices into ``y``: ``train`` shuffled, ``test`` in ascending order.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D or ``test_fraction`` is outside [0, 1).

    Examples
    --------
    >>> from nncore.datasets import split_indices
    >>> train, test = split_indices([0, 0, 0, 0, 1, 1, 1, 1], test_fraction=0.5)
    >>> len(train), sorted(test.tolist()) == test.tolist(), len(set(train) | set(test))
    (4, True, 8)
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample), got shape {y.shape}")
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    for idx in groups:
        test[rng.permutation(idx)[: int(round(len(idx) * test_fraction))]] = True
    return rng.permutation(np.flatnonzero(~test)), np.flatnonzero(test)


def digits_split(*, test_fraction: float = 0.25, seed: int = 0):
    """The fixed held-out split of the digits used by the main job and the tests.

    Returns ``X_train, X_test, y_train, y_test`` with pixels scaled to [0, 1] and
    integer labels; the same ``seed`` always gives the same split (stratified
    by class, so every digit is represented in the same proportion: see
    :func:`split_indices`).
    """
    X, y = load_digits(return_X_y=True, scale=True)
    train, test = split_indices(y, test_fraction=test_fraction, seed=seed)
    return X[train], X[test], y[train], y[test]


# ---------------------------------------------------------------- reading data files


def read_data(path, *, target=None, features=None, labels=None, subset="train") -> Dataset:
    """Read a data file of any kind the ``nncore`` command takes.

    A directory is read as MNIST-style IDX files, a ``.npz`` file with
    :func:`read_npz`, a file that starts like IDX (see :func:`is_idx`) with
    :func:`read_idx_pair`, and anything else with :func:`read_csv`.

    Parameters
    ----------
    path : str or path-like
        A CSV file, an ``.npz`` archive, an IDX images file (gzip'd or not), or a
        directory holding IDX files.
    target : str or int, optional
        CSV files only: the column holding the labels or targets (see :func:`read_csv`).
    features : sequence of str or int, optional
        CSV files only: the columns holding the features (see :func:`read_csv`).
    labels : str or path-like, optional
        IDX only: the labels file.  By default the file named like the images
        file with ``labels-idx1`` for ``images-idx3``
        (``train-images-idx3-ubyte.gz`` -> ``train-labels-idx1-ubyte.gz``), when
        it exists; otherwise the data set has no labels.
    subset : {"train", "test"}
        Which images a directory's files give: MNIST names them ``train-*`` for
        training and ``t10k-*`` (or ``test-*``) for testing.  A directory with a
        single images file gives it for both.

    Returns
    -------
    Dataset
        See :func:`read_csv`, :func:`read_npz` and :func:`read_idx_pair`.

    Raises
    ------
    FileNotFoundError
        If ``path`` or ``labels`` does not exist.
    ValueError
        If the file is malformed, holds something other than numbers where
        features belong, or an option does not apply to it (``target`` for a
        non-CSV file, ``labels`` for a non-IDX one), or ``subset`` is neither
        ``"train"`` nor ``"test"``.

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.datasets import file_kind, read_data
    >>> np.savez("points.npz", X=[[0.0, 1.0], [2.0, 3.0]], y=[0, 1])
    >>> data = read_data("points.npz")
    >>> data.kind, data.data.shape, data.target.tolist()
    ('npz', (2, 2), [0, 1])
    >>> file_kind("points.npz")
    'npz'
    """
    name = os.fspath(path)
    kind = file_kind(name)
    if labels is not None:
        _must_exist(labels)
    if subset not in ("train", "test"):
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    if kind != "csv" and (target is not None or features is not None):
        raise ValueError(f"target and features name CSV columns, and {name} is not a CSV file")
    if kind != "idx" and labels is not None:
        raise ValueError(f"a labels file goes with IDX image files, and {name} is not one")
    if kind == "csv":
        return read_csv(name, target=target, features=features)
    if kind == "npz":
        return read_npz(name)
    images = _idx_images_in_dir(name, subset) if os.path.isdir(name) else name
    return read_idx_pair(images, _matching_labels(images) if labels is None else labels)


def file_kind(path) -> str:
    """How :func:`read_data` reads ``path``: ``"idx"``, ``"npz"`` or ``"csv"``.

    A directory is ``"idx"``; then the ``.npz`` suffix decides, then the first
    bytes (:func:`is_idx`); anything else is taken for CSV.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    name = os.fspath(path)
    _must_exist(name)
    if os.path.isdir(name):
        return "idx"
    if name.lower().endswith(".npz"):
        return "npz"
    return "idx" if is_idx(name) else "csv"


def _must_exist(path):
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.fspath(path))


def _as_features(name, X) -> np.ndarray:
    """``X`` (2-D) as float64 features, refusing what a network cannot take."""
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: X has dtype {X.dtype}; features must be numbers")
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no samples")
    if X.shape[1] == 0:
        raise ValueError(f"{name} holds no features")
    if not np.isfinite(X).all():
        row = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise ValueError(f"{name}: sample {row} has a missing, NaN or infinite feature")
    return X


def _whole_to_int(y):
    """Whole-valued float labels (as CSV and many .npz files hold them) as integers."""
    # beyond 2**53 a float64 cannot tell neighbouring integers apart (nor int64 hold 1e20)
    if y.dtype.kind == "f" and (np.abs(y) <= 2.0**53).all() and (y == np.round(y)).all():
        return y.astype(np.int64)
    return y


# ---------------------------------------------------------------- CSV

#: how much of a CSV file csv.Sniffer reads to guess its delimiter
_SNIFF_CHARS = 8192


def read_csv(path, *, target=None, features=None) -> Dataset:
    r"""Read a CSV file with a header row: numbers as features, one column as labels.

    The delimiter (comma, semicolon or tab) and the quoting are sniffed with
    :class:`csv.Sniffer`; a UTF-8 byte order mark is skipped.  An all-numeric
    file is parsed by :func:`numpy.loadtxt`; one with text labels (or a mistake)
    by the :mod:`csv` module, so that a mistake is reported with its line.

    Parameters
    ----------
    path : str or path-like
        A UTF-8 text file whose first line names the columns.
    target : str or int, optional
        The column holding the labels or targets, by name or by position
        (``-1`` is the last).  It may hold text (class names); whole numbers
        are returned as int64.  None: the file has no target column.
    features : sequence of str or int, optional
        The columns holding the features, in the order wanted, by name or by
        position; the other columns are not read.  None: every column but the
        target, in the file's order.

    Returns
    -------
    Dataset
        ``data`` (n_samples, n_features) float64, ``target`` (or None),
        ``feature_names``, ``target_name``, ``source`` (the path) and ``kind``
        ``"csv"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not UTF-8 text, is empty or has no data rows, repeats a
        column name, lacks a column asked for, has a line with the wrong number
        of fields, or a feature that is empty, not a number, NaN or infinite, or a
        target that is empty, NaN or infinite.  The message names the file, and
        the line and column where there is one.

    Examples
    --------
    >>> from pathlib import Path
    >>> from nncore.datasets import read_csv
    >>> _ = Path("flowers.csv").write_text(
    ...     "petal_length;petal_width;species\n1.4;0.2;setosa\n4.7;1.4;versicolor\n")
    >>> flowers = read_csv("flowers.csv", target="species")
    >>> flowers.data
    array([[1.4, 0.2],
           [4.7, 1.4]])
    >>> flowers.target.tolist(), flowers.feature_names, flowers.target_name
    (['setosa', 'versicolor'], ['petal_length', 'petal_width'], 'species')
    >>> read_csv("flowers.csv", target="colour")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: flowers.csv has no column 'colour' (columns: 'petal_length', ...)
    """
    name = os.fspath(path)
    dialect, header, body, header_line = _csv_layout(name, _read_text(name))
    t_idx = None if target is None else _column(name, header, target)
    if features is None:
        f_idx = [i for i in range(len(header)) if i != t_idx]
    else:
        if isinstance(features, str | bytes):
            raise TypeError("features must be a sequence of columns, not one name")
        f_idx = [_column(name, header, f) for f in features]
        if t_idx in f_idx:
            raise ValueError(f"{name}: column {header[t_idx]!r} cannot be both a feature and "
                             f"the target")
        if len(set(f_idx)) != len(f_idx):
            raise ValueError(f"{name}: features names a column twice")
    if not f_idx:
        raise ValueError(f"{name} has no feature columns besides the target {header[t_idx]!r}"
                         if features is None else f"{name}: features names no column")

    numbers = _all_numbers(body, dialect.delimiter, len(header))
    if numbers is not None:
        X = np.ascontiguousarray(numbers[:, f_idx])
        # a copy, so that the labels do not keep the whole table alive
        y = None if t_idx is None else _whole_to_int(numbers[:, t_idx].copy())
    else:  # text labels, or a mistake to point at
        rows, lines = _rows(name, body, dialect, len(header), header_line + 1)
        X = np.empty((len(rows), len(f_idx)))
        for j, c in enumerate(f_idx):
            X[:, j] = _numbers(name, header[c], [r[c] for r in rows], lines)
        y = None if t_idx is None else _labels(name, header[t_idx],
                                               [r[t_idx] for r in rows], lines)
    return Dataset(X, y, feature_names=[header[i] for i in f_idx],
                   target_name=None if t_idx is None else header[t_idx], source=name,
                   kind="csv")


def csv_header(path) -> list[str]:
    r"""The column names of a CSV file's header row, as :func:`read_csv` reads them.

    Only the beginning of the file is read.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not UTF-8 text, is empty, or its header repeats a name.

    Examples
    --------
    >>> from pathlib import Path
    >>> from nncore.datasets import csv_header
    >>> _ = Path("table.csv").write_text("a\tb\tlabel\n1\t2\tx\n")
    >>> csv_header("table.csv")
    ['a', 'b', 'label']
    """
    name = os.fspath(path)
    return _csv_layout(name, _read_text(name, head_only=True))[1]


def _read_text(name, head_only=False) -> str:
    """The file's text (without a byte order mark); ``head_only``: enough of it for
    :func:`_csv_layout` to see the header line and sniff as on the whole file."""
    try:
        with open(name, newline="", encoding="utf-8-sig") as fh:
            if not head_only:
                return fh.read()
            text = ""
            while chunk := fh.read(_SNIFF_CHARS):
                text += chunk
                head = text.lstrip("\r\n")
                if len(head) >= _SNIFF_CHARS and "\n" in head:
                    break
            return text
    except UnicodeDecodeError:
        raise ValueError(f"{name} is neither a CSV text file, an .npz archive nor an IDX "
                         f"file") from None


def _csv_layout(name, text):
    """``(dialect, header, body, header's line number)`` of a CSV file's text."""
    head = text.lstrip("\r\n")
    if not head.strip():
        raise ValueError(f"{name} is empty")
    header_line = 1 + text.count("\n", 0, len(text) - len(head))
    try:
        dialect = csv.Sniffer().sniff(head[:_SNIFF_CHARS], delimiters=",;\t")
    except csv.Error:  # one column, or nothing to tell the delimiter by
        dialect = csv.excel
    newline = head.find("\n")
    first, body = (head, "") if newline < 0 else (head[:newline], head[newline + 1:])
    try:
        header = [h.strip() for h in next(csv.reader([first], dialect))]
    except csv.Error as exc:
        raise ValueError(f"{name}, line {header_line}: {exc}") from None
    seen = set()
    for h in header:
        if h in seen:
            raise ValueError(f"{name}: the header repeats a column name ({h!r})")
        seen.add(h)
    return dialect, header, body, header_line


def _column(name, header, key) -> int:
    """The index of the column named (str) or numbered (int, negative from the end) ``key``."""
    if isinstance(key, str):
        if key not in header:
            shown = ", ".join(map(repr, header[:5]))
            more = f", ... ({len(header)} in all)" if len(header) > 5 else ""
            raise ValueError(f"{name} has no column {key!r} (columns: {shown}{more})")
        return header.index(key)
    if isinstance(key, int | np.integer) and not isinstance(key, bool):
        if not -len(header) <= key < len(header):
            raise ValueError(f"{name} has {len(header)} columns, so no column number {key}")
        return int(key) % len(header)
    raise TypeError(f"a column is named by a str or numbered by an int, not by "
                    f"{type(key).__name__}")


def _all_numbers(body, delimiter, n_columns):
    """The body as a float matrix if every field is a finite number, else None."""
    if not body.strip():
        return None
    try:
        M = np.loadtxt(io.StringIO(body), delimiter=delimiter, dtype=np.float64, ndmin=2,
                       comments=None, quotechar='"')
    except ValueError:
        return None
    if M.shape[0] == 0 or M.shape[1] != n_columns or not np.isfinite(M).all():
        return None
    return M


def _rows(name, body, dialect, n_columns, first_line):
    """The body's non-blank records and the line each starts on."""
    reader = csv.reader(io.StringIO(body), dialect)
    rows, lines = [], []
    line = first_line
    try:
        for r in reader:
            if r and any(c.strip() for c in r):
                if len(r) != n_columns:
                    raise ValueError(f"{name}, line {line}: {len(r)} fields, but the header "
                                     f"has {n_columns}")
                rows.append(r)
                lines.append(line)
            line = first_line + reader.line_num  # a quoted field may span lines
    except csv.Error as exc:
        raise ValueError(f"{name}, line {first_line + reader.line_num - 1}: {exc}") from None
    if not rows:
        raise ValueError(f"{name} has a header but no data rows")
    return rows, lines


def _numbers(name, column, cells, lines) -> np.ndarray:
    """A feature column as floats; the first bad cell is reported with its line."""
    values = np.empty(len(cells))
    for i, (cell, line) in enumerate(zip(cells, lines, strict=True)):
        try:
            values[i] = float(cell)
        except ValueError:
            what = "is empty" if not cell.strip() else f"has {cell.strip()!r}, not a number"
            raise ValueError(f"{name}, line {line}: column {column!r} {what}") from None
        if not np.isfinite(values[i]):
            raise ValueError(f"{name}, line {line}: column {column!r} is NaN or infinite")
    return values


def _labels(name, column, cells, lines) -> np.ndarray:
    """Numbers when every entry is one (integers when all are whole), else strings."""
    text = np.array([c.strip() for c in cells])
    if (text == "").any():
        line = lines[int(np.flatnonzero(text == "")[0])]
        raise ValueError(f"{name}, line {line}: column {column!r} is empty")
    try:
        values = text.astype(np.float64)
    except ValueError:
        return text
    if not np.isfinite(values).all():
        line = lines[int(np.flatnonzero(~np.isfinite(values))[0])]
        raise ValueError(f"{name}, line {line}: column {column!r} is NaN or infinite")
    return _whole_to_int(values)


# ---------------------------------------------------------------- .npz


def read_npz(path) -> Dataset:
    """Read an ``.npz`` archive holding features ``X`` and, optionally, labels ``y``.

    ``X`` may have one row per sample or, for images, one image per sample
    (``(n_samples, height, width)``, flattened into rows).  The labels may be
    named ``y`` or ``Y``.  Arrays of Python objects are refused: loading them
    would need :mod:`pickle`, which can run arbitrary code.

    Parameters
    ----------
    path : str or path-like
        An archive written by :func:`numpy.savez` or :func:`numpy.savez_compressed`.

    Returns
    -------
    Dataset
        ``data`` (n_samples, n_features) float64, ``target`` (1-D: numbers, with
        whole-valued floats as int64, booleans or strings; or None), ``images``
        when ``X`` holds images, ``pixel_max`` 255 when ``X`` is uint8, ``source``
        and ``kind`` ``"npz"``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not an ``.npz`` archive, has no ``X``, holds object
        arrays, non-numeric or non-finite features, labels that are not 1-D or
        whose number differs from the number of samples, or NaN labels.

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.datasets import read_npz
    >>> np.savez("images.npz", X=np.zeros((5, 4, 4), dtype=np.uint8), y=np.arange(5.0))
    >>> images = read_npz("images.npz")
    >>> images.data.shape, images.images.shape, images.pixel_max, images.target.dtype.name
    ((5, 16), (5, 4, 4), 255.0, 'int64')
    """
    name = os.fspath(path)
    _must_exist(name)
    if not zipfile.is_zipfile(name):
        raise ValueError(f"{name} is not an .npz archive (it is not a zip file)")
    try:
        archive = np.load(name, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{name} cannot be read as an .npz archive ({exc})") from None
    with archive as f:
        files = list(f.files)
        if "X" not in files:
            raise ValueError(f"{name} has no array named 'X' (it has: "
                             f"{', '.join(files) or 'nothing'})")
        X = _npz_array(name, f, "X")
        ykey = "y" if "y" in files else "Y" if "Y" in files else None
        y = _npz_array(name, f, ykey) if ykey else None
    if X.ndim == 0:
        raise ValueError(f"{name}: X is a single number, not one row of features per sample")
    shape = X.shape
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    elif X.ndim > 2:  # images: one row of pixels per sample
        X = X.reshape(shape[0], int(np.prod(shape[1:])))
    pixel_max = 255.0 if X.dtype == np.uint8 else None
    X = _as_features(name, X)
    images = X.reshape(shape) if len(shape) > 2 else None
    if y is not None:
        y = _npz_labels(name, ykey, y, len(X))
    return Dataset(X, y, images=images, source=name, kind="npz", pixel_max=pixel_max)


def _npz_array(name, archive, key) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except ValueError as exc:  # object arrays (allow_pickle=False), a damaged .npy header
        raise ValueError(f"{name}: array {key!r} cannot be read: {exc}") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{name}: array {key!r} is damaged ({exc})") from None


def _npz_labels(name, key, y, n_samples) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name}: {key} must be 1-D (one label or target per sample), "
                         f"got shape {y.shape}")
    if len(y) != n_samples:
        raise ValueError(f"{name}: X has {n_samples} samples but {key} has {len(y)}")
    if y.dtype.kind == "S":  # bytes would not survive into a model file's JSON
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}: {key} holds bytes that are not UTF-8 text") from None
    if y.dtype.kind not in "biufU":
        raise ValueError(f"{name}: {key} has dtype {y.dtype}; labels must be numbers or text")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"{name}: {key}[{i}] is NaN or infinite")
    return _whole_to_int(y)


# ---------------------------------------------------------------- IDX (MNIST)

#: IDX type codes (the third byte of the magic number) -> big-endian dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx(path) -> bool:
    """Whether ``path`` starts like an IDX file (plain or gzip-compressed)."""
    try:
        with _open_maybe_gzip(path) as fh:
            head = fh.read(4)
    except (OSError, EOFError, zlib.error):
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in _IDX_TYPES and head[3] >= 1


def _open_maybe_gzip(path):
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
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a well-formed IDX file (or a damaged gzip file).
    """
    name = os.fspath(path)
    try:
        with _open_maybe_gzip(path) as fh:
            raw = fh.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{name} is a damaged or truncated gzip file ({exc})") from None
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


def read_idx_pair(images, labels=None) -> Dataset:
    """Read MNIST-style IDX images and, optionally, their labels.

    Parameters
    ----------
    images : str or path-like
        An IDX file of images, ``(n_samples, height, width)`` (gzip'd or not),
        such as ``train-images-idx3-ubyte.gz``.
    labels : str or path-like, optional
        An IDX file of ``n_samples`` integer labels, such as
        ``train-labels-idx1-ubyte.gz``.  None: the data set has no labels
        (:func:`read_data` finds the file beside the images by its name).

    Returns
    -------
    Dataset
        ``data`` (n_samples, height * width) float64, ``target`` int64 (or None),
        ``images``, ``pixel_max`` (255 for uint8 pixels; None for signed or
        float pixels), ``source`` (the images file) and ``kind`` ``"idx"``.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file is not a well-formed IDX file, ``images`` holds labels (1-D),
        ``labels`` does not (or holds fractions), or the numbers of images and
        labels differ.

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.datasets import read_idx_pair
    >>> head = bytes([0, 0, 0x08, 3]) + np.array([2, 2, 2], ">u4").tobytes()
    >>> _ = open("images-idx3-ubyte", "wb").write(head + bytes(range(8)))
    >>> _ = open("labels-idx1-ubyte", "wb").write(
    ...     bytes([0, 0, 0x08, 1]) + np.array([2], ">u4").tobytes() + bytes([7, 3]))
    >>> pair = read_idx_pair("images-idx3-ubyte", "labels-idx1-ubyte")
    >>> pair.data.tolist(), pair.target.tolist(), pair.pixel_max
    ([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]], [7, 3], 255.0)
    """
    name = os.fspath(images)
    X = read_idx(name)
    if X.ndim == 1:
        raise ValueError(f"{name} holds labels (1-D), not images; give it as the labels file")
    shape = X.shape
    pixel_max = float(np.iinfo(X.dtype).max) if X.dtype.kind == "u" else None
    X = _as_features(name, X.reshape(shape[0], -1))
    y = None
    if labels is not None:
        labels = os.fspath(labels)
        y = read_idx(labels)
        if y.ndim != 1:
            raise ValueError(f"{labels} does not hold labels (it is {y.ndim}-D)")
        if len(y) != len(X):
            raise ValueError(f"{name} has {len(X)} images but {labels} has {len(y)} labels")
        y = _whole_to_int(y)
        if y.dtype.kind not in "iu":
            raise ValueError(f"{labels} holds fractions or NaN, not class labels")
        y = y.astype(np.int64)
    return Dataset(X, y, images=X.reshape(shape), source=name, kind="idx",
                   pixel_max=pixel_max)


def _matching_labels(images):
    """``...-images-idx3-ubyte[.gz]`` -> ``...-labels-idx1-ubyte[.gz]`` if it exists."""
    head, name = os.path.split(images)
    for a, b in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if a in name:
            candidate = os.path.join(head, name.replace(a, b))
            if os.path.exists(candidate):
                return candidate
    return None


def _idx_images_in_dir(path, subset):
    names = sorted(os.listdir(path))
    images = [n for n in names if "idx3" in n]
    if not images:
        raise ValueError(f"{path} is a directory without IDX image files "
                         f"(such as train-images-idx3-ubyte)")
    # MNIST's naming: train-* for training, t10k-* for testing
    prefer = ("train",) if subset == "train" else ("t10k", "test")
    chosen = [n for n in images if n.startswith(prefer)] or (images if len(images) == 1 else [])
    if len(chosen) != 1:
        raise ValueError(f"{path} holds several IDX image files ({', '.join(images)}); "
                         f"name one of them instead")
    return os.path.join(path, chosen[0])

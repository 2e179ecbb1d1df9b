"""Checks at the edge: everything a kernel trusts is established here, once."""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _kernels, _parallel

DTYPES = {"float64": np.float64, "float32": np.float32}


def check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    return dt


def check_sizes(sizes) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise TypeError(f"sizes must be a list of layer widths, got {sizes!r}")
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"layer size at position {i} must be an integer, got {s!r}")
        if s < 1:
            raise ValueError(f"layer size at position {i} must be >= 1, got {s}")
        if s >= 2**31 - 1:
            raise ValueError(f"layer size at position {i} is too large ({s})")
        out.append(int(s))
    if len(out) < 2:
        raise ValueError(
            f"a network needs at least two layer sizes (inputs and outputs), got {len(out)}"
        )
    return tuple(out)


def check_positive(value, name: str, *, integer: bool = False, allow_zero: bool = False):
    if integer:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    else:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


def check_fraction(value, name: str) -> float:
    value = check_positive(value, name, allow_zero=True)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_array(A, *, name: str, dtype: np.dtype, n_cols: int | None = None,
                one_col_1d: bool = False, kernel_checks_finite: bool = False,
                scan: bool = True):
    """A finite, non-empty, C-contiguous 2-D array of ``dtype``.

    Lists, integers and booleans are converted; float16 is widened.  A copy is
    made only when the dtype or the memory layout requires it: a C-contiguous
    array of the right dtype is returned as it is (the very same object), and
    read-only and memory-mapped arrays are used in place.  ``one_col_1d``
    accepts a 1-D array as a single column (a target with one output).

    ``kernel_checks_finite``: the caller's kernel checks each block of rows for
    NaN and infinity as it computes it (``_kernels.forward(check_finite=True)``),
    so an array used as it is skips the separate scan here; returns
    ``(array, whether the kernel must check)``.  A converted array is checked
    here, where the message can name the value before the conversion.

    ``scan=False``: the caller has checked the values for NaN and infinity; only
    a narrowing conversion's new infinities are looked for.
    """
    if kernel_checks_finite:
        if isinstance(A, np.ndarray) and A.dtype == dtype and A.ndim == 2 \
                and A.flags.c_contiguous and A.shape[0] > 0 \
                and (n_cols is None or A.shape[1] == n_cols) and A.shape[1] > 0 \
                and type(A) is np.ndarray:
            return A, True
        return check_array(A, name=name, dtype=dtype, n_cols=n_cols,
                           one_col_1d=one_col_1d), False
    if isinstance(A, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got a string")
    if hasattr(A, "toarray") and hasattr(A, "nnz"):
        raise TypeError(f"{name} is a sparse matrix; nncore needs dense arrays (call .toarray())")
    if np.ma.isMaskedArray(A) and np.ma.getmaskarray(A).any():
        # np.asarray would silently train on whatever the masked slots hold
        raise ValueError(f"{name} is a masked array with masked entries; fill them "
                         f"(A.filled(value)) or drop those rows first")
    try:
        arr = np.asarray(A)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{name} cannot be read as a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind not in "biuf":
        what = {
            "O": "object", "c": "complex", "U": "string", "S": "bytes", "M": "datetime",
            "m": "timedelta", "V": "structured",
        }.get(kind, str(arr.dtype))
        hint = ""
        if kind == "O":
            hint = " (a ragged list, None, or integers too large for int64?)"
        raise TypeError(f"{name} has dtype {arr.dtype} ({what}){hint}; nncore needs real numbers")
    if arr.ndim == 1 and one_col_1d:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        hint = ""
        if arr.ndim == 1:
            hint = (" (a single sample needs reshape(1, -1))" if n_cols is None or n_cols > 1
                    else " (one column needs reshape(-1, 1))")
        raise ValueError(f"{name} must be 2-D (n_samples, n_columns), got {arr.ndim}-D"
                         f" with shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ValueError(f"{name} has {arr.shape[1]} columns, the network expects {n_cols}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns")
    if kind == "f" and scan:
        # checked in the caller's own precision, so the message shows the value given
        _check_finite(arr, name)
    if arr.dtype != dtype or not arr.flags.c_contiguous:
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(arr, dtype=dtype)
        if kind == "f" and arr.dtype.itemsize > out.dtype.itemsize:
            _check_finite(out, name, original=arr)
        arr = out
    return arr


def is_sparse(A) -> bool:
    """Whether A is a scipy.sparse matrix or array."""
    return hasattr(A, "tocsr") and hasattr(A, "nnz")


def check_sparse(A, *, name: str, dtype: np.dtype, n_cols: int | None = None,
                 scan: bool = True):
    """A scipy.sparse matrix as a finite, non-empty CSR matrix of ``dtype`` (a CSR
    matrix of the right dtype is used as it is; other formats are converted
    without ever making a dense copy).  ``scan=False``: the caller has checked the
    values for NaN and infinity (a narrowing conversion's are still looked for)."""
    import scipy.sparse as sp

    A = sp.csr_matrix(A) if not sp.issparse(A) or A.format != "csr" else A
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {A.dtype}; nncore needs real numbers")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if n_cols is not None and A.shape[1] != n_cols:
        raise ValueError(f"{name} has {A.shape[1]} columns, the network expects {n_cols}")
    if A.shape[1] == 0:
        raise ValueError(f"{name} has 0 columns")
    narrowed = A.dtype.kind == "f" and A.dtype.itemsize > np.dtype(dtype).itemsize
    if A.dtype != dtype:
        with np.errstate(over="ignore"):
            A = A.astype(dtype)
    if (scan or narrowed) and A.data.size and not np.isfinite(A.data).all():
        p = int(np.flatnonzero(~np.isfinite(A.data))[0])
        row = int(np.searchsorted(A.indptr, p, side="right")) - 1
        raise ValueError(f"{name} contains {A.data[p]} (NaN or infinity, or too large for "
                         f"{dtype}) in row {row}, column {int(A.indices[p])}; all values must "
                         f"be finite")
    return A


def _check_finite(arr: np.ndarray, name: str, original: np.ndarray | None = None) -> None:
    """Raise naming the first row that holds NaN or +-inf (or, after a narrowing
    cast, a value too large for the target dtype).

    Fast path without an n_samples x n_features temporary: any NaN or inf makes
    the sum non-finite, and a finite sum proves every element finite (the same
    test as scikit-learn's).  Only when the sum is not finite (a bad value, or
    an overflow of the sum itself) are the rows scanned, a block at a time.
    C-contiguous float32/float64 arrays go to the compiled scan instead, which
    tests the bits and reads a large array from every core."""
    if arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous:
        row = _kernels.first_nonfinite_row(arr, _parallel.scan_threads(arr.nbytes))
        if row < 0:
            return
        _raise_nonfinite(arr, name, original, row, int(np.flatnonzero(~np.isfinite(arr[row]))[0]))
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr, dtype=np.float64)):
            return
    block = max(1, (1 << 16) // max(1, arr.shape[1]))
    for start in range(0, arr.shape[0], block):
        finite = np.isfinite(arr[start:start + block])
        if not finite.all():
            break
    else:
        return  # only the sum overflowed
    row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
    _raise_nonfinite(arr, name, original, row, int(np.flatnonzero(~finite[row - start])[0]))


def raise_nonfinite_row(arr: np.ndarray, name: str, row: int) -> None:
    """Raise for row ``row`` of ``arr``, which holds NaN or +-inf (found by a kernel)."""
    _raise_nonfinite(arr, name, None, row, int(np.flatnonzero(~np.isfinite(arr[row]))[0]))


def _raise_nonfinite(arr, name, original, row, col):
    if original is not None:
        raise ValueError(
            f"{name} contains {float(original[row, col]):.6g} in row {row}, column {col}, "
            f"too large for {arr.dtype} (max {np.finfo(arr.dtype).max:.4g}); scale the data"
        )
    raise ValueError(
        f"{name} contains {arr[row, col]} (NaN or infinity) in row {row}, column {col}; "
        f"all values must be finite"
    )


def check_rows(X: np.ndarray, Y: np.ndarray, names=("X", "Y")) -> None:
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} has {X.shape[0]} samples but {names[1]} has {Y.shape[0]}; they must match"
        )


def check_sample_weight(sw, n: int, dtype) -> np.ndarray | None:
    if sw is None:
        return None
    arr = check_array(sw, name="sample_weight", dtype=dtype, one_col_1d=True)
    if arr.shape[1] != 1:
        raise ValueError("sample_weight must be 1-D, one weight per sample")
    arr = np.ascontiguousarray(arr[:, 0])
    if arr.shape[0] != n:
        raise ValueError(f"sample_weight has {arr.shape[0]} entries but X has {n} samples")
    if (arr < 0).any():
        raise ValueError("sample_weight must be >= 0")
    if not arr.sum() > 0:
        raise ValueError("sample_weight sums to 0; at least one sample needs a positive weight")
    return arr


def csr_arrays(A):
    """A checked CSR matrix's arrays as the kernels take them: (data, indices,
    indptr), the indices as intp."""
    return (A.data, np.asarray(A.indices, dtype=np.intp), np.asarray(A.indptr, dtype=np.intp))

"""The facts of the specification, each written once: the parameter layout and the seeds.

All of a network's parameters form one vector (the lecture's W).  Layer ``l``
(``n_in = sizes[l]`` inputs, ``n_out = sizes[l + 1]`` neurons) occupies a block of
``n_out * (n_in + 1)`` numbers that is a row-major matrix of shape
``(n_out, n_in + 1)``: row ``j`` is neuron ``j``'s bias followed by its incoming
weights.  Gradients and optimiser state use the same layout.

Every module that needs the layout reads it here (the compiled kernels check it
again in C, and the reference twin keeps its own copy, as an oracle must).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MASK64 = (1 << 64) - 1


def block_size(n_in: int, n_out: int) -> int:
    """Length of one layer's block: each of ``n_out`` neurons has a bias and ``n_in`` weights."""
    return n_out * (n_in + 1)


def n_params(sizes: Sequence[int]) -> int:
    """Length of the parameter vector: ``sum_l n_{l+1} (n_l + 1)``."""
    return sum(block_size(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


def offsets(sizes: Sequence[int]) -> list[int]:
    """Where each layer's block starts in the parameter vector."""
    out, pos = [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        out.append(pos)
        pos += block_size(a, b)
    return out


def blocks(vector: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """Views of ``vector`` (parameters, a gradient, a state vector) as the
    layers' ``(n_out, n_in + 1)`` blocks: column 0 the biases, the rest the weights."""
    return [vector[pos:pos + block_size(a, b)].reshape(b, a + 1)
            for pos, a, b in zip(offsets(sizes), sizes[:-1], sizes[1:])]


def shuffle_seed(seed: int) -> int:
    """Start of the shuffling stream: the seed through one step of Knuth's MMIX
    LCG, so it lands far from the initialisation stream (which starts at seed)."""
    return (seed * 6364136223846793005 + 1442695040888963407) & _MASK64


def weights_mask(sizes: Sequence[int]) -> np.ndarray:
    """True at the weights, False at the biases, in the layout of the parameter vector."""
    mask = np.ones(n_params(sizes), dtype=bool)
    for block in blocks(mask, sizes):
        block[:, 0] = False
    return mask


def sklearn_order(sizes: Sequence[int]) -> np.ndarray:
    """The permutation ``p`` with ``params[p]`` in scikit-learn's packing: every
    layer's ``coefs_`` (shape ``(n_in, n_out)``, raveled row by row), then every
    layer's ``intercepts_``."""
    index = np.arange(n_params(sizes))
    views = blocks(index, sizes)
    return np.concatenate([v[:, 1:].T.ravel() for v in views] + [v[:, 0] for v in views])


def sklearn_views(vector: np.ndarray, sizes: Sequence[int]):
    """Views of ``vector``, in scikit-learn's packing, as its ``coefs_`` (each
    ``(n_in, n_out)``) and ``intercepts_`` (each ``(n_out,)``)."""
    coefs, intercepts, pos = [], [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        coefs.append(vector[pos:pos + a * b].reshape(a, b))
        pos += a * b
    for b in sizes[1:]:
        intercepts.append(vector[pos:pos + b])
        pos += b
    return coefs, intercepts


#: the layout conversions transpose a layer this many inputs at a time, so that
#: each piece stays in cache: converting a 50,000-input layer of 100 neurons back
#: to nncore's layout took 23 ms whole, 7.5 ms in pieces of 256 (the other way 8
#: ms either way).
_TRANSPOSE_INPUTS = 256


def to_sklearn(vector: np.ndarray, sizes: Sequence[int], out: np.ndarray) -> np.ndarray:
    """``out := vector[sklearn_order(sizes)]`` (converted to out's dtype), copied a
    layer's block at a time: twice as fast as indexing with the permutation, which
    an L-BFGS evaluation does twice."""
    coefs, intercepts = sklearn_views(out, sizes)
    for block, coef, intercept in zip(blocks(vector, sizes), coefs, intercepts):
        for k in range(0, coef.shape[0], _TRANSPOSE_INPUTS):
            np.copyto(coef[k:k + _TRANSPOSE_INPUTS], block[:, 1 + k:1 + k + _TRANSPOSE_INPUTS].T,
                      casting="same_kind")
        np.copyto(intercept, block[:, 0], casting="same_kind")
    return out


def from_sklearn(packed: np.ndarray, sizes: Sequence[int], vector: np.ndarray) -> None:
    """``vector[sklearn_order(sizes)] = packed``, a layer's block at a time."""
    coefs, intercepts = sklearn_views(packed, sizes)
    for block, coef, intercept in zip(blocks(vector, sizes), coefs, intercepts):
        for k in range(0, coef.shape[0], _TRANSPOSE_INPUTS):
            np.copyto(block[:, 1 + k:1 + k + _TRANSPOSE_INPUTS], coef[k:k + _TRANSPOSE_INPUTS].T,
                      casting="same_kind")
        np.copyto(block[:, 0], intercept, casting="same_kind")

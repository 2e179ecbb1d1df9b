"""Cost functions: names, kernel ids and the output activations each accepts.

``mse`` is the lecture's cost: per sample ``C_i = sum_k (y~_k - y_k)^2`` — summed
over the outputs and *not* halved, so ``dC_i/dy~_k = 2 (y~_k - y_k)`` — and the
cost of a data set is the mean of ``C_i`` over its samples.  (PyTorch's
``MSELoss`` also divides by the number of outputs; scikit-learn's halves it.)

``cross_entropy`` is ``-sum_k y_k log y~_k`` with softmax outputs (categorical)
and ``-sum_k [y_k log y~_k + (1 - y_k) log(1 - y~_k)]`` with sigmoid outputs
(binary, per output).  Both are computed from the pre-activation ``z`` with
log-sum-exp and softplus, so no log of 0 is ever taken, and both give the fused
output delta ``dC_i/dz_k = y~_k - y_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _kernels


@dataclass(frozen=True)
class Loss:
    name: str
    id: int
    outputs: tuple[str, ...]  # output activations it pairs with


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", _kernels.LOSS_IDS["mse"], ("sigmoid", "identity", "softmax")),
    "cross_entropy": Loss(
        "cross_entropy", _kernels.LOSS_IDS["cross_entropy"], ("sigmoid", "softmax")
    ),
}


def resolve(loss: str, output: str, n_outputs: int) -> Loss:
    """The registry entry for ``loss``, refusing pairs that make no sense."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(LOSSES)}")
    entry = LOSSES[loss]
    if output not in entry.outputs:
        raise ValueError(
            f"loss {loss!r} cannot be used with {output!r} outputs; "
            f"it needs one of: {', '.join(entry.outputs)}"
        )
    if output == "softmax" and n_outputs < 2:
        raise ValueError(
            "softmax over a single output is always 1; use output='sigmoid' for one output"
        )
    return entry

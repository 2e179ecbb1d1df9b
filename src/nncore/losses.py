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

scikit-learn's MLP defines its losses a little differently, and
:mod:`nncore.sklearn`'s drop-in estimators train on them exactly as it does:

``half_squared_error``
    ``C_i = 1/(2K) sum_k (y~_k - y_k)^2`` over the K outputs, while the gradient
    it trains on is that of ``1/2 sum_k (y~_k - y_k)^2`` (scikit-learn averages
    the reported value over the outputs, not the gradient);
``log_loss``
    the cross-entropy of the *probabilities* clipped to ``[eps, 1 - eps]`` of the
    dtype (softmax or sigmoid outputs);
``poisson``
    half the Poisson deviance, ``sum_k y_k log(y_k / y~_k) - y_k + y~_k``, with
    ``exp`` outputs (the log link) and targets >= 0.

All three give ``dC_i/dz_k = y~_k - y_k`` with their canonical outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels


@dataclass(frozen=True)
class Loss:
    """One registry entry: a cost's name, its kernel id and the output
    activations it pairs with."""

    name: str
    id: int
    outputs: tuple[str, ...]  # output activations it pairs with


#: every cost by name, with the output activations it accepts
LOSSES: dict[str, Loss] = {
    name: Loss(name, _kernels.LOSS_IDS[name], outputs)
    for name, outputs in [
        ("mse", ("sigmoid", "identity", "softmax", "exp")),
        ("cross_entropy", ("sigmoid", "softmax")),
        ("half_squared_error", ("identity", "sigmoid", "softmax", "exp")),
        ("log_loss", ("sigmoid", "softmax")),
        ("poisson", ("exp",)),
    ]
}


def check_targets(loss: str, Y) -> None:
    """Refuse targets the loss is not defined for (the Poisson loss needs counts >= 0)."""
    if loss == "poisson" and (Y < 0).any():
        row = int(np.flatnonzero((Y < 0).any(axis=1))[0])
        raise ValueError(f"the poisson loss needs targets >= 0; Y has a negative value in "
                         f"row {row}")


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

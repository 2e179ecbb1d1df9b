"""Optimisers and learning-rate schedules.

Every optimiser is one compiled update over the flat parameter vector ``W``,
with its state in arrays of the same layout:

=========  ===================================================  ==============
name       update with gradient g (after weight decay)          state
=========  ===================================================  ==============
sgd        W := W - r g  (the lecture's W = W_old - r grad C)   none
momentum   v := mu v + g;  W := W - r v                         v
           (nesterov=True:  W := W - r (g + mu v))
adam       m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2;        m, v
           W := W - r m^ / (sqrt(v^) + eps), with the bias
           corrections m^ = m/(1-b1^t), v^ = v/(1-b2^t)
=========  ===================================================  ==============

These are the conventions of ``torch.optim.SGD`` (dampening 0) and
``torch.optim.Adam``.  L2 weight decay adds ``weight_decay * W`` to the gradient
of every weight — not of the biases, as in scikit-learn's ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from . import _kernels

#: name -> (number of state vectors, default learning rate)
OPTIMIZERS: dict[str, tuple[int, float]] = {
    "sgd": (0, 3.0),
    "momentum": (1, 0.3),
    "adam": (2, 1e-3),
}

SCHEDULES = ("constant", "exponential", "step", "inverse_time")


def kernel_id(name: str, nesterov: bool) -> int:
    if name == "momentum" and nesterov:
        return _kernels.OPTIMIZER_IDS["nesterov"]
    return _kernels.OPTIMIZER_IDS[name]


def check_name(name: str) -> str:
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return name


def learning_rate(
    schedule: str | Callable[[int, float], float],
    lr0: float,
    epoch: int,
    decay_rate: float,
    decay_steps: int,
) -> float:
    """The learning rate for (0-based, counted over every fit) epoch ``epoch``.

    constant:     r0
    exponential:  r0 * decay_rate ** (epoch / decay_steps)
    step:         r0 * decay_rate ** floor(epoch / decay_steps)
    inverse_time: r0 / (1 + decay_rate * epoch / decay_steps)
    A callable is called as ``schedule(epoch, r0)``.
    """
    if callable(schedule):
        r = float(schedule(epoch, lr0))
    elif schedule == "constant":
        r = lr0
    elif schedule == "exponential":
        r = lr0 * decay_rate ** (epoch / decay_steps)
    elif schedule == "step":
        r = lr0 * decay_rate ** (epoch // decay_steps)
    elif schedule == "inverse_time":
        r = lr0 / (1.0 + decay_rate * epoch / decay_steps)
    else:
        raise ValueError(f"unknown lr_schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"the learning-rate schedule gave {r!r} at epoch {epoch}; it must be > 0")
    return r

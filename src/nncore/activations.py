"""Activation functions: names, kernel ids, derivatives and initialisation, in one registry.

Every derivative is written through the activation's own value ``a = act(z)``,
which is what backpropagation keeps from the forward pass:

==========  ==============================  ==============================  ==========
name        a = act(z)                      act'(z) in terms of a           init
==========  ==============================  ==============================  ==========
sigmoid     1 / (1 + exp(-z))               a (1 - a)                       Glorot
tanh        tanh(z)                         1 - a^2                         Glorot
relu        max(z, 0)                       1 if a > 0 else 0               He
leaky_relu  z if z > 0 else 0.01 z          1 if a > 0 else 0.01            He
identity    z                               1                               Glorot
softmax     exp(z_k) / sum_j exp(z_j)       (Jacobian, output layer only)   Glorot
exp         exp(z)                          a  (output layer only: the      Glorot
                                            Poisson loss's log link)
==========  ==============================  ==============================  ==========

Initialisation (weights; biases start at zero), uniform on ``[-limit, limit]``:
Glorot ``limit = sqrt(6 / (fan_in + fan_out))`` keeps the variance of sigmoid and
tanh layers roughly constant forwards and backwards (Glorot & Bengio, 2010); He
``limit = sqrt(6 / fan_in)`` does the same for rectifiers, which zero half their
inputs (He et al., 2015).  Both are scaled to the layer's fan-in: the N(0, 1)
weights of older textbooks saturate sigmoid units of wide layers at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _kernels


@dataclass(frozen=True)
class Activation:
    """One registry entry: an activation's name, its kernel id, its
    initialisation (``"glorot"`` or ``"he"``) and the layers it may be used in."""

    name: str
    id: int
    init: str  # "glorot" or "he"
    hidden: bool  # allowed in hidden layers
    output: bool  # allowed in the output layer


#: every activation by name (the table above)
ACTIVATIONS: dict[str, Activation] = {
    name: Activation(name, _kernels.ACTIVATION_IDS[name], init, hidden, output)
    for name, init, hidden, output in [
        ("sigmoid", "glorot", True, True),
        ("tanh", "glorot", True, False),
        ("relu", "he", True, False),
        ("leaky_relu", "he", True, False),
        ("identity", "glorot", True, True),
        ("softmax", "glorot", False, True),
        ("exp", "glorot", False, True),
    ]
}

#: the names allowed in hidden layers
HIDDEN = tuple(name for name, a in ACTIVATIONS.items() if a.hidden)
#: the names allowed in the output layer
OUTPUTS = tuple(name for name, a in ACTIVATIONS.items() if a.output)
#: the slope of leaky_relu for z < 0 (the compiled kernels' constant)
LEAKY_SLOPE = _kernels.LEAKY_SLOPE


def init_limit(name: str, fan_in: int, fan_out: int) -> float:
    """Half-width of the uniform initialisation for a layer followed by ``name``."""
    if ACTIVATIONS[name].init == "he":
        return math.sqrt(6.0 / fan_in)
    return math.sqrt(6.0 / (fan_in + fan_out))


def resolve(activation, output: str, n_layers: int) -> list[str]:
    """One activation name per weight layer: the hidden ones, then the output's.

    ``activation`` is one name for every hidden layer or a list with one name
    per hidden layer.
    """
    n_hidden = n_layers - 1
    if isinstance(activation, str):
        hidden = [activation] * n_hidden
    else:
        try:
            hidden = list(activation)
        except TypeError:
            raise TypeError(
                f"activation must be a name or a list of names, got {type(activation).__name__}"
            ) from None
        if len(hidden) != n_hidden:
            raise ValueError(
                f"activation lists {len(hidden)} names but the network has {n_hidden} hidden layers"
            )
    for name in hidden:
        if not isinstance(name, str) or name not in HIDDEN:
            raise ValueError(
                f"unknown hidden activation {name!r}; valid: {', '.join(HIDDEN)}"
            )
    if not isinstance(output, str) or output not in OUTPUTS:
        raise ValueError(f"unknown output activation {output!r}; valid: {', '.join(OUTPUTS)}")
    return hidden + [output]

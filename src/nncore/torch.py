"""The PyTorch bridge: a Network as a ``torch.nn.Sequential``, and back.

``to_torch(net)`` gives ``Linear`` layers, each followed by its activation
module, holding copies of the network's weights in its dtype; ``from_torch``
reads such a ``Sequential`` back into a :class:`nncore.Network`.  A round trip
keeps every parameter bit for bit::

    from nncore.torch import from_torch, to_torch

    module = to_torch(net)                  # module(torch.from_numpy(X)) == net.predict(X)
    again = from_torch(module, loss=net.loss_name)

This module needs PyTorch (``pip install "nncore[torch]"``); ``import nncore``
does not.
"""

# Annotations stay strings, and every import below is absolute: inside the
# package, ``import torch`` must reach PyTorch, never this module.
from __future__ import annotations

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    # ModuleNotFoundError keeps its ``name``, so callers can tell which module is missing
    _cls = ModuleNotFoundError if isinstance(exc, ModuleNotFoundError) else ImportError
    raise _cls(f'nncore.torch needs PyTorch (pip install "nncore[torch]"); importing it '
               f"failed: {exc}", name=exc.name) from exc

import numpy as np

from nncore.activations import HIDDEN, LEAKY_SLOPE, OUTPUTS
from nncore.network import Network

__all__ = ["to_torch", "from_torch"]

_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}

#: activation name -> a new module computing it
_MODULES = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(LEAKY_SLOPE),
    "identity": nn.Identity,
    "softmax": lambda: nn.Softmax(dim=-1),
}


def to_torch(network: Network) -> nn.Sequential:
    """A ``torch.nn.Sequential`` that computes ``network.predict``.

    Parameters
    ----------
    network : nncore.Network

    Returns
    -------
    torch.nn.Sequential
        For each layer a ``Linear`` (weights and bias copied, in the network's
        dtype) and its activation: ``Sigmoid``, ``Tanh``, ``ReLU``,
        ``LeakyReLU(0.01)``, ``Identity`` or ``Softmax(dim=-1)``.  Changing the
        module does not change the network.

    Raises
    ------
    TypeError
        ``network`` is not an :class:`nncore.Network`.
    ValueError
        The network has ``exp`` outputs (the Poisson loss's log link), for which
        ``torch.nn`` has no module.

    Examples
    --------
    >>> import nncore
    >>> from nncore.torch import to_torch
    >>> to_torch(nncore.Network([2, 3, 1], seed=0))
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Sigmoid()
      (2): Linear(in_features=3, out_features=1, bias=True)
      (3): Sigmoid()
    )
    """
    if not isinstance(network, Network):
        hint = " (a fitted estimator's network is its network_)" if hasattr(
            network, "network_") else ""
        raise TypeError(f"to_torch converts an nncore.Network, not "
                        f"{type(network).__qualname__}{hint}")
    missing = [act for act in network.activations if act not in _MODULES]
    if missing:
        raise ValueError(f"torch.nn has no module for {missing[0]!r} activations (the Poisson "
                         f"loss's exp link): use the network's linear layers and apply "
                         f"torch.exp to the last one's output yourself")
    dtype = _DTYPES[np.dtype(network.dtype)]
    layers = []
    for W, b, act in zip(network.weights, network.biases, network.activations):
        linear = nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
        layers += [linear, _MODULES[act]()]
    return nn.Sequential(*layers)


def _activation_name(module) -> str | None:
    """The nncore name of an activation module, or None if there is none."""
    kind = type(module)
    if kind is nn.LeakyReLU:
        return "leaky_relu" if module.negative_slope == LEAKY_SLOPE else None
    if kind is nn.Softmax:
        return "softmax" if module.dim in (-1, 1) else None
    return {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu",
            nn.Identity: "identity"}.get(kind)


def _unsupported(i, module, why):
    return ValueError(f"from_torch cannot convert module {i} ({module!r}): {why}")


def from_torch(module, *, loss: str = "mse", seed: int | None = None) -> Network:
    """The :class:`nncore.Network` that a ``Sequential`` of ``Linear`` layers computes.

    Parameters
    ----------
    module : torch.nn.Sequential
        ``Linear`` layers with biases, each followed by at most one activation
        module: ``Sigmoid``, ``Tanh``, ``ReLU``, ``LeakyReLU(0.01)`` or
        ``Identity`` between layers; ``Sigmoid``, ``Identity``,
        ``Softmax(dim=-1)`` (or ``dim=1``) or nothing (identity) after the
        last.  Every parameter float32, or every one float64.
    loss : {"mse", "cross_entropy"}, default="mse"
        The network's cost, which a module does not record.
    seed : int or None, default=None
        The network's seed (it drives the shuffling of a later ``fit``).

    Returns
    -------
    nncore.Network
        A network in the module's dtype holding exact copies of its weights
        and biases.

    Raises
    ------
    TypeError
        ``module`` is not a ``torch.nn.Sequential``.
    ValueError
        A module is not supported (named, with its index and why), or ``loss``
        does not suit the output activation.

    Examples
    --------
    >>> from torch import nn
    >>> from nncore.torch import from_torch
    >>> from_torch(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), seed=0)
    Network([4, 8, 1], activation='relu', output='identity', loss='mse', dtype='float32', seed=0)
    """
    if type(module) is not nn.Sequential:
        raise TypeError(f"from_torch converts a torch.nn.Sequential, not "
                        f"{type(module).__qualname__}")
    modules = list(module)
    if not modules:
        raise ValueError("from_torch needs a Sequential with at least one Linear layer")
    linears, acts = [], []  # acts[l]: the activation after linears[l], None until seen
    for i, m in enumerate(modules):
        if type(m) is nn.Linear:
            if linears and acts[-1] is None:
                raise _unsupported(i, m, "two Linear layers in a row; nncore needs an "
                                   "activation between them (nn.Identity() for none)")
            if m.bias is None:
                raise _unsupported(i, m, "a Linear without bias (every nncore neuron has one)")
            if linears and m.in_features != linears[-1].out_features:
                raise _unsupported(i, m, f"in_features={m.in_features} but the layer "
                                   f"before has out_features={linears[-1].out_features}")
            linears.append(m)
            acts.append(None)
            continue
        name = _activation_name(m)
        if name is None:
            why = ("not a Linear layer nor one of nncore's activations (Sigmoid, Tanh, ReLU, "
                   f"LeakyReLU({LEAKY_SLOPE}), Identity, Softmax(dim=-1))")
            raise _unsupported(i, m, why)
        if not linears:
            raise _unsupported(i, m, "an activation before the first Linear layer")
        if acts[-1] is not None:
            raise _unsupported(i, m, "two activations in a row")
        last = not any(type(later) is nn.Linear for later in modules[i + 1:])
        allowed = OUTPUTS if last else HIDDEN
        if name not in allowed:
            where = "the output" if last else "a hidden layer"
            raise _unsupported(i, m, f"{name} cannot be the activation of {where} "
                               f"(allowed: {', '.join(allowed)})")
        acts[-1] = name

    dtypes = {p.dtype for lin in linears for p in (lin.weight, lin.bias)}
    if len(dtypes) > 1:
        raise ValueError(f"from_torch needs one dtype for every parameter, got "
                         f"{sorted(str(d) for d in dtypes)}")
    dtype = dtypes.pop()
    numpy_dtype = {t: n for n, t in _DTYPES.items()}.get(dtype)
    if numpy_dtype is None:
        raise ValueError(f"from_torch needs float32 or float64 parameters, got {dtype}")

    acts = [a or "identity" for a in acts]
    sizes = [linears[0].in_features, *(lin.out_features for lin in linears)]
    net = Network(sizes, activation=acts[:-1], output=acts[-1], loss=loss,
                  dtype=numpy_dtype, seed=seed)
    for l, lin in enumerate(linears):
        net.weights[l][...] = lin.weight.detach().cpu().numpy()
        net.biases[l][...] = lin.bias.detach().cpu().numpy()
    return net

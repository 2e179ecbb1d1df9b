"""nncore: small multilayer perceptrons trained by compiled backpropagation kernels."""

from . import explain
from ._show_versions import show_versions
from ._version import __version__
from .explain import GRADCHECK_THRESHOLD, gradcheck
from .io import load
from .network import DivergenceError, Network, StopTraining

__all__ = [
    "Network", "DivergenceError", "StopTraining", "load", "gradcheck", "GRADCHECK_THRESHOLD",
    "explain", "show_versions", "__version__",
]

"""nncore: small multilayer perceptrons trained by compiled backpropagation kernels."""

from . import callbacks, explain, optimizers
from ._show_versions import show_versions
from ._version import __version__
from .callbacks import StopTraining
from .explain import GRADCHECK_THRESHOLD, gradcheck
from .io import load
from .network import Network
from .training import DivergenceError

__all__ = [
    "Network", "DivergenceError", "StopTraining", "load", "gradcheck", "GRADCHECK_THRESHOLD",
    "explain", "optimizers", "callbacks", "show_versions", "__version__",
]

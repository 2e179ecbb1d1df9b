"""nncore: small multilayer perceptrons trained by compiled backpropagation kernels."""

from ._version import __version__
from .io import load
from .network import DivergenceError, Network, StopTraining

__all__ = ["Network", "DivergenceError", "StopTraining", "load", "__version__"]

"""skl2onnx learns nncore's estimators as soon as both are imported, in either order.

A user who swaps scikit-learn's MLP for ``nncore.sklearn``'s and converts it with
``skl2onnx.to_onnx`` should not have to know that ``import nncore.onnx`` registers
the converters.  skl2onnx's registry lives in skl2onnx itself, and importing it
costs a third of a second, so ``nncore.sklearn`` does not import it: when skl2onnx
is already imported, :func:`install` imports ``nncore.onnx`` at once; when it is
only installed, a finder on ``sys.meta_path`` waits for its import and imports
``nncore.onnx`` right after it (then leaves ``sys.meta_path``).  A failure there
is a warning, never a failed ``import skl2onnx``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

_NAME = "skl2onnx"


def _register():
    try:
        importlib.import_module("nncore.onnx")  # (registers the converters on import)
    except Exception as exc:  # a broken onnx must not break skl2onnx or nncore
        warnings.warn(f"nncore could not register its estimators with skl2onnx ({exc!r}); "
                      "call nncore.onnx.to_onnx instead", RuntimeWarning, stacklevel=3)


class _Loader(importlib.abc.Loader):
    """skl2onnx's own loader, and the registration once it has run."""

    def __init__(self, loader, finder):
        self._loader, self._finder = loader, finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # (the module keeps its own loader: resources and reloads go to it)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.remove()
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader the other finders give skl2onnx."""

    def __init__(self):
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _NAME or self._busy:
            return None
        self._busy = True  # (find_spec below asks every finder, this one too)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader, self)
        return spec

    def remove(self):
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


def install():
    """Register now if skl2onnx is imported, else once it is (if it is installed)."""
    if _NAME in sys.modules:
        _register()
        return
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    try:
        installed = importlib.util.find_spec(_NAME) is not None
    except (ImportError, ValueError):  # (a finder may refuse it outright)
        installed = False
    if installed:
        sys.meta_path.insert(0, _Finder())

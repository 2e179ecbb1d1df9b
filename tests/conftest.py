import os
import subprocess
import sys

import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ci", deadline=None, max_examples=60,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", deadline=None, max_examples=25)
    # a long fuzzing run: NNCORE_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
    _fuzz = os.environ.get("NNCORE_FUZZ_EXAMPLES")
    if _fuzz:
        settings.register_profile("fuzz", deadline=None, max_examples=int(_fuzz),
                                  suppress_health_check=list(HealthCheck))
    settings.load_profile("fuzz" if _fuzz else os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is in the test extra; the rest runs without it
    pass

# Kernels against the float64 reference.  float64: a few ulps per operation
# accumulated over layers of up to 50 inputs stays far below 1e-12 of the
# vector's scale.  float32: eps is 1.2e-7; the same accumulation stays below
# 1e-5 of the scale.
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def assert_close(actual, expected, dtype):
    """Elementwise, relative to the scale of the whole expected vector (a
    component near 0 is measured against the others, not against itself)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    rtol = RTOL[np.dtype(dtype).type]
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


@pytest.fixture(params=["whole", "panels", "look-ahead", "look-ahead, BLAS"])
def first_layer(request):
    """How training applies the first layer's update: after its whole gradient, or
    panel by panel as the gradient is formed (nncore's _first_layer_steps, which
    wide first layers take on one thread: forced here on small networks, panels of
    2 neurons), with or without forming the next minibatch's first-layer outputs
    from each panel's new weights (the look-ahead, on by default), those products
    from nncore's dense kernel where the processor has it or from BLAS's."""
    from nncore import _kernels

    before = _kernels._panel_steps(*((0, None, None) if request.param == "whole"
                                     else (2, 0, (1, 2**62))))
    ahead = _kernels._panel_lookahead(request.param.startswith("look-ahead"),
                                      2**62 if request.param.endswith("BLAS") else 1)
    yield request.param
    _kernels._panel_steps(*before)
    _kernels._panel_lookahead(*ahead)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def run_python(code, absent=()):
    """Run ``code`` in a fresh interpreter where the packages ``absent`` cannot be found."""
    hide = (
        "import importlib.abc, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.partition('.')[0] in {tuple(absent)!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Absent())\n")
    proc = subprocess.run([sys.executable, "-c", hide + code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout

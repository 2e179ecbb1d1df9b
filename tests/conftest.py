import os

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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)

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


def frame_variants(pd, frame):
    """DataFrames a fitted estimator's predict may meet, from a float64 ``frame`` of
    at least 5 rows and 3 string-named columns (the one it was fitted on): name ->
    input.  Some pass scikit-learn's validation silently, some with a warning, some
    are refused."""
    first = frame.columns[0]
    nan, inf = frame.iloc[:5].copy(), frame.iloc[:5].copy()
    nan.iloc[1, 1] = np.nan
    inf.iloc[4, 0] = np.inf
    numpy_names = frame.iloc[:5].copy()
    numpy_names.columns = pd.Index([np.str_(c) for c in frame.columns], dtype=object)
    tuples = frame.iloc[:5].copy()
    tuples.columns = pd.MultiIndex.from_tuples([(c, "x") for c in frame.columns])
    return {
        "plain": frame.iloc[:20], "one row": frame.iloc[:1], "a column's view": frame[3:9],
        "two blocks": pd.concat([frame.iloc[:5, :2], frame.iloc[:5, 2:]], axis=1),
        "reordered": frame.iloc[:5, ::-1], "renamed": frame.iloc[:5].rename(columns={first: "z"}),
        "a column fewer": frame.iloc[:5, 1:], "a column more": frame.iloc[:5].assign(more=1.0),
        "float32": frame.iloc[:5].astype(np.float32), "int": (frame.iloc[:5] * 10).astype(int),
        "one int column": frame.iloc[:5].astype({first: int}),
        "object": frame.iloc[:5].astype(object), "nullable": frame.iloc[:5].astype("Float64"),
        "sparse": frame.iloc[:5].astype(pd.SparseDtype(float, 0.0)),
        "one sparse column": frame.iloc[:5].astype({first: pd.SparseDtype(float, 0.0)}),
        "nan": nan, "inf": inf, "empty": frame.iloc[:0], "numpy str names": numpy_names,
        "tuple names": tuples, "array": frame.iloc[:5].to_numpy(),
    }


@pytest.fixture
def neuron_split():
    """Minibatches of up to 64 rows on several threads split every layer's neurons
    across them (nncore's _split_step, which wide networks take at small batch
    sizes): forced here on small networks."""
    from nncore import _kernels

    before = _kernels._neuron_split(max_rows=64, min_neurons=1, min_work=0)
    yield
    _kernels._neuron_split(*before)

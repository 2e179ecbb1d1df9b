"""The installed package: its data, typing files, version and build facts."""

import io
import re
from importlib import metadata, resources

import pytest
from conftest import run_python

import nncore
from nncore import _kernels, _show_versions


@pytest.mark.parametrize("name", ["data/digits.npz", "_kernels.pyi", "py.typed"])
def test_package_files_are_installed(name):
    assert resources.files("nncore").joinpath(name).is_file(), f"nncore/{name} is not installed"


def test_version_comes_from_one_place():
    from nncore._version import __version__

    assert nncore.__version__ == __version__ == metadata.version("nncore")
    assert re.fullmatch(r"\d+\.\d+\.\d+([abc]\d+|rc\d+)?(\.post\d+)?(\.dev\d+)?", __version__)


def test_build_info_is_compiled_in():
    if not hasattr(_kernels, "BUILD_INFO"):
        pytest.skip("_kernels.pyx lacks `BUILD_INFO = dict(NNCORE_BUILD_INFO)`")
    info = _kernels.BUILD_INFO
    assert re.match(r"\d+\.\d+", info["cython"])
    assert isinstance(info["debug"], bool)
    assert info["compiler"] in ("unix", "msvc", "mingw32", "cygwin")
    assert "-march=native" not in info["cflags"]


def test_show_versions_prints_every_fact():
    out = io.StringIO()
    _show_versions.show_versions(file=out)
    text = out.getvalue()
    labels = [line.split(":", 1)[0] for line in text.splitlines()]
    for label in ["nncore", "Python", "platform", "NumPy", "SciPy", "BLAS (SciPy)",
                  "Cython (build)", "build"]:
        assert label in labels, f"show_versions() prints no {label!r} line:\n{text}"
    assert nncore.__version__ in text
    if hasattr(_kernels, "BUILD_INFO"):
        assert _kernels.BUILD_INFO["cython"] in text
        assert ("debug" if _kernels.BUILD_INFO["debug"] else "release") in text


def test_show_versions_tolerates_an_extension_without_build_info(monkeypatch):
    monkeypatch.delattr(_kernels, "BUILD_INFO", raising=False)
    facts = _show_versions._get_versions()
    assert facts["Cython (build)"] == "unknown"
    assert facts["build"].startswith("unknown")


def test_show_versions_without_threadpoolctl(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    blas = _show_versions._blas()
    assert blas and "Traceback" not in blas


def test_import_nncore_imports_no_optional_package():
    # the exporters' and Dask's packages are extras (nncore[onnx], nncore[torch],
    # nncore[dask]); only nncore.onnx, nncore.torch and nncore.dask may import them.
    # A fresh interpreter, since this one has imported them for other tests.
    optional = ["onnx", "onnxruntime", "skl2onnx", "torch", "sklearn", "matplotlib", "dask",
                "distributed"]
    out = run_python(f"import sys, nncore; print([m for m in {optional!r} if m in sys.modules])")
    assert out.strip() == "[]"

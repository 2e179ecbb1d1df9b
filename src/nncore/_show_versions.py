"""Build and run-time facts for bug reports: ``nncore.show_versions()`` and
``nncore --version``.

The build facts (Cython version, debug build, compiler flags) come from
``nncore._kernels.BUILD_INFO``, which setup.py compiles into the extension; an
extension built without it reports them as unknown rather than failing.
"""

from __future__ import annotations

import platform
import sys
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePath

__all__ = ["show_versions"]


def _build_info() -> dict:
    try:
        from . import _kernels
    except ImportError as exc:  # a broken install: still say what we can
        return {"error": f"nncore._kernels does not import: {exc}"}
    return dict(getattr(_kernels, "BUILD_INFO", None) or {})


def _dist_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _module_version(name: str) -> str | None:
    try:
        return import_module(name).__version__
    except ImportError:
        return None


def _folders(path) -> tuple[str, ...]:
    return PurePath(str(path or "")).parent.parts


def _describe(lib: dict) -> str:
    name = " ".join(str(lib[k]) for k in ("internal_api", "version") if lib.get(k))
    extra = [f"{k} {lib[k]}" for k in ("threading_layer", "architecture", "num_threads")
             if lib.get(k) not in (None, "")]
    return name + (f" ({', '.join(extra)})" if extra else "") + f" [{lib.get('filepath')}]"


def _blas() -> str:
    """The BLAS library SciPy calls (nncore's GEMMs go through scipy.linalg.cython_blas)."""
    try:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so threadpoolctl can see it)
    except ImportError:
        return "unknown (SciPy does not import)"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        libs = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
        # NumPy loads a BLAS of its own (numpy.libs/libscipy_openblas64_...): keep the
        # one from SciPy's folder (scipy.libs, scipy/.dylibs); else (conda, a system
        # BLAS) every BLAS loaded
        ours = [lib for lib in libs if any(part == "scipy" or part.startswith("scipy.")
                                           for part in _folders(lib.get("filepath")))]
        if ours or libs:
            return "; ".join(_describe(lib) for lib in ours or libs)
    try:
        import scipy

        config = scipy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version', '')} (as SciPy was built)".replace(
            "  ", " ")
    except Exception:  # old SciPy (no mode="dicts") or an unexpected layout
        return "unknown (install threadpoolctl to see it)"


def _threads() -> str:
    """Whether nncore's own threads can run here, and how many CPUs they may use."""
    try:
        from . import _kernels
        from ._parallel import available_cpus, blas_pinnable
    except Exception as exc:  # a broken build must not stop the report
        return f"unknown ({type(exc).__name__})"
    if not getattr(_kernels, "OPENMP", False):
        return "one (built without OpenMP)"
    cpus = available_cpus()
    if not blas_pinnable():
        return f"one (OpenMP, {cpus} CPUs; threadpoolctl missing, so BLAS cannot be pinned)"
    return f"OpenMP, up to {cpus} (CPUs available)"


def _get_versions() -> dict[str, str]:
    """Every fact show_versions prints, as ``{label: value}``."""
    from . import __version__

    info = _build_info()
    debug = info.get("debug")
    if debug is None:
        build = "unknown (nncore._kernels has no BUILD_INFO)"
    else:
        build = "debug (bounds checks on, -O0)" if debug else "release"
        if info.get("sanitize"):
            build += f", -fsanitize={info['sanitize']}"
    facts = {
        "nncore": f"{__version__} ({PurePath(__file__).parent})",
        "Python": sys.version.replace("\n", " "),
        "executable": sys.executable,
        "platform": platform.platform(),
        "NumPy": _module_version("numpy") or "not installed",
        "SciPy": _module_version("scipy") or "not installed",
        "BLAS (SciPy)": _blas(),
        "Cython (build)": info.get("cython", "unknown"),
        "build": build,
        "compiler": " ".join(str(info[k]) for k in ("compiler", "cflags") if info.get(k))
        or "unknown",
    }
    if "error" in info:
        facts["build"] = info["error"]
    facts["threads"] = _threads()
    for dist in ("tqdm", "threadpoolctl", "scikit-learn", "matplotlib"):
        v = _dist_version(dist)
        if v is not None:
            facts[dist] = v
    return facts


def versions_text() -> str:
    """The report as one string, one ``label: value`` line per fact."""
    facts = _get_versions()
    width = max(map(len, facts))
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in facts.items())


def show_versions(file=None) -> None:
    """Print nncore's version and the facts of its build and environment.

    The report gives nncore's version and location, Python, the platform, NumPy,
    SciPy, the BLAS library SciPy uses (through which nncore's matrix products
    run), the Cython version nncore was compiled with, and whether it is a debug
    build.  Paste it into bug reports.

    Parameters
    ----------
    file : file-like, optional
        Where to print (default: ``sys.stdout``).
    """
    print(versions_text(), file=file if file is not None else sys.stdout)

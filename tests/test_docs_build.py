"""The documentation site builds with warnings as errors and documents every public name.

Skipped unless the docs extra is installed (``pip install ".[docs]"``).  PyTorch is
not part of that extra: without it, ``docs/conf.py`` documents ``nncore.torch``
against a stand-in, and one test here builds with the extra's packages alone.
"""

import ast
import importlib.util
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# the docs extra: Sphinx and its extensions, and what the API pages import at module
# level (nncore.sklearn needs scikit-learn, nncore.onnx needs onnx; matplotlib and
# skl2onnx are imported only when used)
for _name in ("sphinx", "pydata_sphinx_theme", "numpydoc", "myst_parser", "sklearn", "onnx"):
    pytest.importorskip(_name, reason="the docs extra is not installed")

from sphinx.util.inventory import InventoryFile  # noqa: E402

import nncore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: every public module and its page under docs/api/ ("nncore" is the top level)
API_MODULES = ["nncore", "optimizers", "callbacks", "training", "activations", "losses",
               "sklearn", "dask", "onnx", "torch", "explain", "plot", "datasets", "io",
               "reference"]
#: public-looking modules that have no API page, and why
NOT_API = {"network": "its public names are nncore's top level (Network, DivergenceError)",
           "cli": "the nncore command, documented in the user guide's command-line page"}
#: being written on another branch: documented as soon as it exists
PENDING: set[str] = set()  # modules being written on another branch (none now)

HIDE = textwrap.dedent("""\
    import importlib.abc, sys
    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition('.')[0] in {absent!r}:
                raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
    sys.meta_path.insert(0, Absent())
    """)


def sphinx_build(src, out, absent=(), builder="html"):
    """``sphinx-build -W --keep-going -E`` in a fresh interpreter, where the packages
    ``absent`` cannot be imported; returns the finished process."""
    code = HIDE.format(absent=tuple(absent)) + textwrap.dedent(f"""\
        from sphinx.cmd.build import build_main
        sys.exit(build_main(["-W", "--keep-going", "-E", "-q", "-b", {builder!r},
                             "-d", {str(out / "doctrees")!r}, {str(src)!r},
                             {str(out / builder)!r}]))
        """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def module_name(short):
    return "nncore" if short == "nncore" else f"nncore.{short}"


def exists(short):
    return importlib.util.find_spec(module_name(short)) is not None


def public_names(name):
    """``__all__``, or the public classes and functions the module defines, read from
    its source (so that modules needing PyTorch are checked without it)."""
    tree = ast.parse(Path(importlib.util.find_spec(name).origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return [node.name for node in tree.body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef))
            and not node.name.startswith("_")]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    proc = sphinx_build(DOCS, out)
    assert proc.returncode == 0, f"sphinx-build -W failed:\n{proc.stderr}"
    return out / "html"


def test_site_builds_without_warnings(site):
    for page in ["index", "backpropagation", "examples", "guide/sklearn",
                 "guide/distributed", "api/index", "api/nncore"]:
        assert (site / f"{page}.html").is_file(), page


def test_every_public_module_has_a_page():
    found = {m.name for m in pkgutil.iter_modules(nncore.__path__)
             if not m.name.startswith("_")}
    assert found - set(API_MODULES) - set(NOT_API) == set(), "a module without an API page"
    for short in API_MODULES:
        assert (DOCS / "api" / f"{short}.rst").is_file(), short
        assert f"   {short}\n" in (DOCS / "api" / "index.rst").read_text(), short


def test_every_public_name_is_documented(site):
    with open(site / "objects.inv", "rb") as fh:
        inventory = InventoryFile.load(fh, "", lambda base, uri: uri)
    documented = {name for entries in inventory.values() for name in entries}
    for short in API_MODULES:
        if short in PENDING and not exists(short):
            continue
        name = module_name(short)
        assert name in inventory["py:module"], name
        missing = [n for n in public_names(name) if f"{name}.{n}" not in documented]
        assert not missing, f"{name}: not in the API reference: {missing}"


def test_pending_module_page_says_so(site):
    for short in PENDING:
        text = (site / "api" / f"{short}.html").read_text(encoding="utf-8")
        assert ("is not part of this version yet" in text) == (not exists(short))


def test_site_builds_with_the_docs_extra_alone(tmp_path):
    optional = [m for m in ("torch", "matplotlib", "skl2onnx") if importlib.util.find_spec(m)]
    if not optional:
        pytest.skip("none of PyTorch, matplotlib, skl2onnx is installed: the build above "
                    "ran without them")
    proc = sphinx_build(DOCS, tmp_path, absent=optional)
    assert proc.returncode == 0, f"sphinx-build -W without {optional} failed:\n{proc.stderr}"
    assert "to_torch" in (tmp_path / "html" / "api" / "torch.html").read_text(encoding="utf-8")


# ------------------------------------------------- the nncore-module directive itself

PROBE_CONF = f"""\
import sys
sys.path.insert(0, {str(DOCS / "_ext")!r})
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "nncore_api"]
numpydoc_show_class_members = False
"""

PACKAGE = {
    "__init__.py": "",
    "fine.py": '"""A module."""\n__all__ = ["twice"]\n\ndef twice(x):\n    """2 x."""\n'
               '    return 2 * x\n',
    "broken.py": '"""A module that fails."""\nraise ImportError("something inside broke")\n',
    "needs.py": '"""A module whose dependency is missing."""\nimport not_installed_anywhere\n',
}


@pytest.mark.parametrize("module, pending, builds", [
    ("probepkg.absent", True, True),     # not written yet: a note
    ("probepkg.absent", False, False),   # without :pending: a missing module fails
    ("probepkg.fine", True, True),       # once it exists it is documented
    ("probepkg.broken", True, False),    # ... and its errors fail the build
    ("probepkg.needs", True, False),     # ... and so does a missing dependency
], ids=["absent-pending", "absent", "exists", "broken", "missing-dependency"])
def test_pending_tolerates_absence_only(tmp_path, monkeypatch, module, pending, builds):
    pkg = tmp_path / "lib" / "probepkg"
    pkg.mkdir(parents=True)
    for name, text in PACKAGE.items():
        (pkg / name).write_text(text)
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(PROBE_CONF)
    option = "   :pending: Coming soon.\n" if pending else ""
    (src / "index.rst").write_text(f"Probe\n=====\n\n.. nncore-module:: {module}\n{option}")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "lib"))
    proc = sphinx_build(src, tmp_path / "out")
    assert (proc.returncode == 0) == builds, proc.stderr
    if builds:
        html = (tmp_path / "out" / "html" / "index.html").read_text(encoding="utf-8")
        assert ("Coming soon." in html) == (module == "probepkg.absent")
        assert ("twice" in html) == (module == "probepkg.fine")
    else:
        assert f"cannot import {module}" in proc.stderr

"""Sphinx configuration of nncore's documentation site.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` after
``pip install ".[docs]"`` (see DEVELOPING.md).  Warnings are errors: nothing is
suppressed here, so a warning is fixed where it comes from.
"""

import importlib.util
import sys
from pathlib import Path

import nncore

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))  # the local extension nncore_api

project = "nncore"
author = "nncore developers"
copyright = "nncore developers (BSD-3-Clause)"
version = release = nncore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "nncore_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
nitpicky = False

# -- autodoc / autosummary / numpydoc ------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
autosummary_generate = False  # no stub files: every page is written, see _ext/nncore_api.py
numpydoc_show_class_members = False  # autodoc's :members: lists them, once
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# PyTorch is documented against when installed; the docs extra does not pull it in
# (an unpinned torch is a multi-GB download), so without it nncore.torch imports
# against a stand-in.  Its docstrings are nncore's own either way.
def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # (an import hook that hides the package, as the tests do)
        return False


autodoc_mock_imports = [m for m in ("torch",) if not _installed(m)]

intersphinx_mapping = {}  # no network at build time: links to other projects are plain text

# -- MyST ----------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# -- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"nncore {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path = []
html_show_sourcelink = False

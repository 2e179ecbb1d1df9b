"""``.. nncore-module:: nncore.NAME``: one API reference page per public module.

The directive imports the module and writes, for every public name, the autodoc
directive that documents it (numpydoc renders the docstrings), under a summary
table.  The public names are the module's ``__all__``; a module without one
contributes the classes and functions defined in it and its UPPER_CASE
constants.  So a name added to ``__all__`` is documented without touching the
docs, and a module that fails to import fails the build.

``:pending: TEXT`` is for a module that is being written on another branch: while
no such module exists (``importlib.util.find_spec`` finds nothing), the page
shows TEXT in a note instead of the reference.  As soon as the module exists it
is imported and documented like any other, and every error in it fails the build
— the option tolerates absence, nothing else.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.ext.autodoc.mock import mock
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

#: data whose repr is longer than this is shown without its value
MAX_VALUE_REPR = 80


def module_exists(name: str) -> bool:
    """Whether ``name`` can be found (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError as exc:  # a missing parent package
        if exc.name and name.startswith(exc.name):
            return False
        raise


def public_names(module) -> list[str]:
    """The module's ``__all__``, or its own classes, functions and constants."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if getattr(obj, "__module__", None) == module.__name__:
                names.append(name)
        elif name.isupper():
            names.append(name)
    return names


def kind_of(obj) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return "data"


SECTIONS = [("module", "Modules"), ("class", "Classes"), ("exception", "Exceptions"),
            ("function", "Functions"), ("data", "Constants")]


def reference_lines(module) -> list[str]:
    """The reST that documents ``module``'s public names."""
    modname = module.__name__
    groups: dict[str, list[tuple[str, object]]] = {kind: [] for kind, _ in SECTIONS}
    for name in public_names(module):
        obj = getattr(module, name)  # a name in __all__ that does not exist fails here
        groups[kind_of(obj)].append((name, obj))

    lines = [f".. automodule:: {modname}", "   :no-members:", ""]
    # (autosummary resolves the short names in the current module, set by automodule)
    listed = [name for kind, _ in SECTIONS if kind != "module" for name, _ in groups[kind]]
    if listed:
        lines += [".. rubric:: Summary", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in listed] + [""]
    for kind, title in SECTIONS:
        if not groups[kind]:
            continue
        lines += [f".. rubric:: {title}", ""]
        for name, obj in groups[kind]:
            full = f"{modname}.{name}"
            if kind == "module":
                lines += [f"* :mod:`{obj.__name__}`", ""]
            elif kind in ("class", "exception"):
                lines += [f".. auto{kind}:: {full}", "   :members:", "   :show-inheritance:", ""]
            elif kind == "function":
                lines += [f".. autofunction:: {full}", ""]
            else:
                lines += [f".. autodata:: {full}"]
                if len(repr(obj)) > MAX_VALUE_REPR:
                    lines += ["   :no-value:"]
                lines += [""]
    return lines


class ModuleReference(SphinxDirective):
    required_arguments = 1
    option_spec = {"pending": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        if "pending" in self.options and not module_exists(modname):
            lines = [".. note::", "", f"   ``{modname}`` is not part of this version yet. "
                     + self.options["pending"], ""]
        else:
            try:
                with mock(self.config.autodoc_mock_imports):
                    module = importlib.import_module(modname)
            except Exception as exc:
                raise self.error(f"cannot import {modname}: {type(exc).__name__}: {exc}") from exc
            try:
                lines = reference_lines(module)
            except AttributeError as exc:
                raise self.error(f"{modname}: {exc}") from exc
        node = nodes.section()
        node.document = self.state.document
        source = self.get_source_info()[0]
        nested_parse_with_titles(self.state, StringList(lines, source=source), node)
        return node.children


def skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out the methods another library adds to nncore's classes.

    scikit-learn gives every estimator generated ``set_fit_request``-style
    methods (metadata routing); they and their docstrings are scikit-learn's, and
    its documentation describes them.  Everything defined in nncore is kept.
    """
    if what in ("class", "exception"):
        func = getattr(obj, "__func__", obj)
        module = getattr(func, "__module__", None)
        if callable(func) and isinstance(module, str) and module.split(".")[0] != "nncore":
            return True
    return None


def data_docstring(app, what, name, obj, options, lines):
    """A constant's documentation is its ``#:`` comment, never its type's docstring.

    A value without a comment of its own (``nncore.GRADCHECK_THRESHOLD``, imported
    from :mod:`nncore.explain`) would otherwise be described by ``float.__doc__``;
    it gets the comment of the nncore module that defines it, or nothing.
    """
    if what not in ("data", "attribute") or not lines:
        return
    own = inspect.cleandoc(type(obj).__doc__ or "")
    if "\n".join(lines).strip() != own.strip():
        return
    short = name.rpartition(".")[2]
    for modname in sorted(sys.modules):
        module = sys.modules[modname]
        if modname.split(".")[0] != "nncore" or getattr(module, short, None) is not obj:
            continue
        try:
            analyzer = ModuleAnalyzer.for_module(modname)
            analyzer.analyze()
        except Exception:  # (a compiled module has no source to analyse)
            continue
        comment = analyzer.attr_docs.get(("", short))
        if comment:
            lines[:] = list(comment)
            return
    lines[:] = []


def public_bases(app, name, obj, options, bases):
    """Show a class's public ancestors in place of private helper bases
    (``nncore.optimizers._Decay`` -> ``Schedule``)."""
    out = []
    for base in bases:
        while base.__name__.startswith("_") and base.__bases__ != (object,):
            if len(base.__bases__) != 1:
                break
            base = base.__bases__[0]
        if not base.__name__.startswith("_") and base not in out:
            out.append(base)
    bases[:] = out


def setup(app):
    app.add_directive("nncore-module", ModuleReference)
    app.connect("autodoc-skip-member", skip_foreign_member)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("autodoc-process-docstring", data_docstring, priority=400)  # before numpydoc
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

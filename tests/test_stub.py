"""_kernels.pyi against the compiled nncore._kernels, so that the stub cannot drift.

Two checks.  The first needs nothing but the standard library: the stub's public
functions, their parameter names, kinds and defaults, and its constants, against
``inspect.signature`` of the compiled module (Cython's ``binding``/``embedsignature``
make the signatures visible).  The second is ``mypy.stubtest`` (skipped when mypy is
not installed), which also checks the values of defaults and the types of constants.

When a kernel entry point is added, removed or changed in _kernels.pyx, update
src/nncore/_kernels.pyi to match; the failure message says exactly what differs.
"""

import ast
import contextlib
import inspect
import io
import os
from importlib.util import find_spec
from pathlib import Path

import pytest

from nncore import _kernels

# Names in the stub that the compiled module may lack for now: BUILD_INFO appears
# once _kernels.pyx has the line `BUILD_INFO = dict(NNCORE_BUILD_INFO)`.
PENDING = {"BUILD_INFO"}


def stub_path() -> Path:
    spec = find_spec("nncore._kernels")
    path = Path(spec.origin).parent / "_kernels.pyi"
    assert path.is_file(), f"no stub next to the compiled module: {path} is missing"
    return path


def stub_api():
    """(functions: {name: [(param, kind, has_default)]}, constants: set) from the .pyi."""
    tree = ast.parse(stub_path().read_text(encoding="utf-8"))
    functions, constants = {}, set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            a = node.args
            positional = a.posonlyargs + a.args
            first_default = len(positional) - len(a.defaults)
            params = [(p.arg, "POSITIONAL_ONLY" if p in a.posonlyargs else
                       "POSITIONAL_OR_KEYWORD", i >= first_default)
                      for i, p in enumerate(positional)]
            if a.vararg:
                params.append((a.vararg.arg, "VAR_POSITIONAL", False))
            params += [(p.arg, "KEYWORD_ONLY", d is not None)
                       for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
            if a.kwarg:
                params.append((a.kwarg.arg, "VAR_KEYWORD", False))
            functions[node.name] = params
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if not node.target.id.startswith("_"):
                constants.add(node.target.id)
    return functions, constants


def runtime_api():
    """The same, from the compiled module's public names."""
    functions, constants = {}, set()
    for name, obj in vars(_kernels).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if callable(obj):
            sig = inspect.signature(obj)
            functions[name] = [(p.name, p.kind.name, p.default is not p.empty)
                               for p in sig.parameters.values()]
        else:
            constants.add(name)
    return functions, constants


def fmt(params):
    parts = []
    for name, kind, has_default in params:
        prefix = {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}.get(kind, "")
        parts.append(prefix + name + ("=..." if has_default else ""))
    return "(" + ", ".join(parts) + ")"


def test_stub_matches_compiled_module():
    stub_funcs, stub_consts = stub_api()
    run_funcs, run_consts = runtime_api()
    problems = []
    for name in sorted(run_funcs.keys() - stub_funcs.keys()):
        problems.append(f"function {name}{fmt(run_funcs[name])} is in the compiled module "
                        f"but not in the stub")
    for name in sorted(stub_funcs.keys() - run_funcs.keys()):
        problems.append(f"function {name}{fmt(stub_funcs[name])} is in the stub but not in "
                        f"the compiled module")
    for name in sorted(stub_funcs.keys() & run_funcs.keys()):
        if stub_funcs[name] != run_funcs[name]:
            problems.append(f"function {name}: stub {fmt(stub_funcs[name])} != compiled "
                            f"{fmt(run_funcs[name])}")
    for name in sorted(run_consts - stub_consts):
        problems.append(f"constant {name} is in the compiled module but not in the stub")
    for name in sorted(stub_consts - run_consts - PENDING):
        problems.append(f"constant {name} is in the stub but not in the compiled module")
    assert not problems, (
        f"{stub_path()} has drifted from the compiled nncore._kernels "
        f"({_kernels.__file__}):\n  " + "\n  ".join(problems)
    )


def test_mypy_stubtest(tmp_path, monkeypatch):
    if os.environ.get("NNCORE_REQUIRE_MYPY"):
        import mypy.stubtest as stubtest
    else:
        stubtest = pytest.importorskip("mypy.stubtest", reason="mypy is not installed")
    monkeypatch.chdir(tmp_path)  # stubtest writes .mypy_cache into the working directory
    allow = tmp_path / "allowlist.txt"
    # __test__ is Cython's doctest table, not API
    entries = ["nncore._kernels.__test__"] if hasattr(_kernels, "__test__") else []
    entries += [f"nncore._kernels.{name}" for name in PENDING if not hasattr(_kernels, name)]
    allow.write_text("\n".join(entries) + "\n", encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = stubtest.test_stubs(stubtest.parse_options(
            ["nncore._kernels", "--allowlist", str(allow)]))
    assert code == 0, f"mypy.stubtest: {stub_path()} differs from the compiled module:\n" \
                      + out.getvalue()

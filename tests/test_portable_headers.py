"""The C headers' portable side: every name _kernels.pyx takes from them exists where
their AVX-512 code is left out.

The wheels are built for macOS (clang), Windows and aarch64 as well, where
_dense.h, _sparse.h and _fastmath.h compile their plain C fallbacks instead
(NNCORE_NO_MULTIVERSION forces the same here).  A function the Cython module calls
but a fallback lacks breaks only those builds, which this machine never makes:
each header is compiled here on that side, with every name the module's
``cdef extern`` block declares from it referenced."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nncore"
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def _extern_names():
    """{header: ([the functions and variables], [the types]) its cdef extern block
    declares}."""
    text = (SRC / "_kernels.pyx").read_text()
    names = {}
    for m in re.finditer(r'^cdef extern from "(\w+\.h)"[^\n]*:\n((?:[ \t]+[^\n]*\n|\n)+)',
                         text, re.M):
        lines = [line.split("#")[0].rstrip() for line in m.group(2).splitlines()]
        types = [t for line in lines for t in re.findall(r"ctypedef .*?\b(nn_\w+):?$", line)]
        # a function's name before its parenthesis, a variable's at the end of its line
        used = [n for line in lines if "ctypedef" not in line
                for n in re.findall(r"\b((?:nn|NN)_\w+)(?:\(|$)", line)]
        names[m.group(1)] = (used, types)
    return names


def test_the_extern_blocks_are_read():
    names = _extern_names()
    assert set(names) >= {"_dense.h", "_sparse.h", "_fastmath.h", "_parallel.h", "_scratch.h"}
    assert {"nn_dense_fwd_gather_d", "nn_dense_enabled"} <= set(names["_dense.h"][0])
    assert "nn_csr_affine_f" in names["_sparse.h"][0]
    assert "nn_fp_flush_enter" in names["_fastmath.h"][0]
    assert names["_fastmath.h"][1] == ["nn_fpstate", "nn_update"]


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("header", ["_dense.h", "_sparse.h", "_fastmath.h", "_parallel.h",
                                    "_scratch.h"])
def test_the_fallback_side_declares_what_the_module_uses(header, tmp_path):
    names, types = _extern_names()[header]
    assert names
    body = "\n".join([f"    (void)({name});" for name in names]
                     + [f"    (void)sizeof({t});" for t in types])
    source = tmp_path / "use.c"
    source.write_text(f'#include <stddef.h>\n#include "{header}"\n'
                      f"void use(void)\n{{\n{body}\n}}\n")
    result = subprocess.run(
        [CC, "-std=c11", "-fsyntax-only", "-Werror", "-Wall", "-Wno-unused-function",
         "-DNNCORE_NO_MULTIVERSION", f"-I{SRC}", str(source)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

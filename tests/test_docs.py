"""docs/backpropagation.md: the pasted output is what the examples print now.

Each ```text block of the page follows a marker ``<!-- output: examples/NAME.py -->``
and must appear verbatim in that script's current output; the ```python blocks
run, in order, in one namespace.
"""

import contextlib
import functools
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "backpropagation.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"<!-- output: (examples/[\w.]+\.py) -->\n$")


def blocks():
    """(language, text, the example whose output it is or None, line number)."""
    text = DOC.read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[:m.start()]
        marker = MARKER.search(before)
        out.append((m.group(1), m.group(2), marker.group(1) if marker else None,
                    before.count("\n") + 1))
    return out


@functools.cache
def output_of(script):
    proc = subprocess.run([sys.executable, str(ROOT / script)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_output_block_names_its_example():
    found = blocks()
    assert sum(lang == "text" for lang, *_ in found) >= 5
    for lang, _, script, line in found:
        if lang == "text":
            assert script is not None, f"line {line}: output block without its marker"
            assert (ROOT / script).is_file(), script
        else:
            assert script is None, f"line {line}: a marker must precede a text block"


#: examples whose output other pages show (they need optional packages)
SHOWN_ELSEWHERE = {"examples/dask_mnist.py"}  # README.md, docs/dask.md


def test_every_example_is_shown():
    shown = {script for _, _, script, _ in blocks() if script}
    assert shown | SHOWN_ELSEWHERE == {f"examples/{p.name}"
                                       for p in (ROOT / "examples").glob("*.py")}


@pytest.mark.parametrize("lang, text, script, line",
                         [b for b in blocks() if b[0] == "text"],
                         ids=lambda v: v if isinstance(v, int) else None)
def test_pasted_output_matches_the_example(lang, text, script, line):
    current = output_of(script)
    if text not in current:
        # name the first line that differs, so the page is easy to refresh
        for n, ln in enumerate(text.splitlines()):
            assert ln in current.splitlines(), (
                f"docs/backpropagation.md line {line + 1 + n} is no longer printed by "
                f"{script}:\n{ln}")
        pytest.fail(f"the block at line {line} of docs/backpropagation.md is not a "
                    f"contiguous part of what {script} prints now")


def test_python_blocks_run():
    namespace = {}
    code = [(text, line) for lang, text, _, line in blocks() if lang == "python"]
    assert code
    with contextlib.redirect_stdout(io.StringIO()):
        for text, line in code:
            exec(compile(text, f"docs/backpropagation.md:{line}", "exec"), namespace)


def test_shell_lines_name_real_scripts():
    for lang, text, _, _ in blocks():
        if lang == "sh":
            for script in re.findall(r"python (examples/\S+\.py)", text):
                assert (ROOT / script).is_file(), script

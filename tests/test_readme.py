"""The examples of README.md and of every page of the documentation site run as written.

Each file's ```python blocks run in order in one namespace (like a notebook), in
a temporary directory; the lines of its ```bash blocks that are `nncore`
commands run there too, between them, and must exit with status 0.  A block
containing ``# doctest: skip`` is not run (say why beside it); ``pip install``
lines are never run.  Blocks that need scikit-learn, matplotlib, the export
packages (onnx, onnxruntime, skl2onnx, PyTorch) or Dask (dask, distributed) are
skipped when those are not installed.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# docs/**/*.md: the user guide, the walk-through, the examples page (not a build's output)
FILES = [p for p in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
         if p.exists() and "_build" not in p.relative_to(ROOT).parts]
IDS = [p.relative_to(ROOT).as_posix() for p in FILES]
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP = "# doctest: skip"
OPTIONAL = {"sklearn", "matplotlib", "pandas", "onnx", "onnxruntime", "skl2onnx", "torch",
            "dask", "distributed", "dask_ml"}


def blocks(path):
    """(line number, language, code) of every fenced block that is to run."""
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        lang, code = m.group(1).lower(), m.group(2)
        if SKIP in code or lang not in ("python", "bash"):
            continue
        yield text.count("\n", 0, m.start()) + 1, lang, code


def commands(code):
    """The `nncore` command lines of a bash block (continuation lines joined)."""
    for line in code.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line == "nncore" or line.startswith("nncore "):
            yield shlex.split(line, comments=True)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__readme__"}
    ran = 0
    for line, lang, code in blocks(path):
        where = f"{path.name}, block at line {line}"
        if lang == "python":
            try:
                exec(compile(code, where, "exec"), namespace)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.split(".")[0] in OPTIONAL:
                    pytest.skip(f"{where} needs {exc.name}")
                raise
            ran += 1
        else:
            for argv in commands(code):
                proc = subprocess.run([sys.executable, "-m", "nncore", *argv[1:]],
                                      capture_output=True, text=True, timeout=600)
                assert proc.returncode == 0, f"{where}: {' '.join(argv)}\n{proc.stderr}"
                ran += 1
    if path.name == "README.md" or (path.parent.name == "guide" and path.name != "index.md"):
        assert ran > 0, f"the examples of {path.name} were not found"


def test_skip_marker_and_commands_are_recognised(tmp_path):
    assert list(commands("nncore\nnncore train \\\n  --epochs 2  # short\npip install .")) == [
        ["nncore"], ["nncore", "train", "--epochs", "2"]]
    doc = "```python\nx = 1\n```\n```bash\n# doctest: skip\nnncore info\n```\n"
    (tmp_path / "probe.md").write_text(doc)
    assert [(lang, code) for _, lang, code in blocks(tmp_path / "probe.md")] == [
        ("python", "x = 1\n")]

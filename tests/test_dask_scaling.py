"""benchmarks/dask_scaling.py: the scaling model of docs/dask.md (no Dask needed).

The model's parameters come from the ``dask`` benchmark group; these tests feed it a
run with known timings and check that the page's table is what the script prints.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "dask_scaling.py"


def run(*args):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _bench(median, **info):
    return {"name": "x", "stats": {"median": median}, "extra_info": {"group": "dask", **info}}


def test_parameters_are_recovered_from_a_run(tmp_path):
    """A run whose timings follow the model exactly: c = 5 us per row, t0 = 10 ms,
    s = 2 ms per task; 8 blocks are 9 tasks, 64 blocks 73, 2 blocks 3."""
    c, t0, s, rows = 5e-6, 0.010, 0.002, 80_000
    common = dict(dtype="float32", blocks=8, n_samples=rows, n_params=79_510)
    evaluation = c * rows + t0 + 9 * s
    run_json = {"benchmarks": [
        _bench(12 * evaluation, workers=1, evaluations=12, **common),
        _bench(12 * (c * rows / 2 + t0 + 9 * s), workers=2, evaluations=12, **common),
        _bench(t0 + 3 * s, workers=2, blocks=2, n_samples=2, n_params=79_510),
        _bench(t0 + 73 * s, workers=2, blocks=64, n_samples=64, n_params=79_510),
    ]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run_json))
    out = run(path)
    assert "t0 = 10 ms and s = 2 ms per task; c = 5 us per row" in out
    assert "| 2 workers | 80,000 x 784 f32 | 12 |" in out
    speedup = evaluation / (c * rows / 2 + t0 + 9 * s)
    assert f"{speedup:.2f}x" in out and "2 workers >= 1.4x faster than 1: met" in out


def test_the_pages_table_is_what_the_script_prints():
    page = (ROOT / "docs" / "dask.md").read_text()
    number = r"[\d.e+-]+"
    command = re.search(rf"python benchmarks/dask_scaling.py (--c {number} --t0 {number} "
                        rf"--s {number})", page)
    assert command, "docs/dask.md names the parameters of its table"
    out = run(*command.group(1).split())
    table = re.search(r"^\| workers \|.*?^\| 512 \|[^\n]*$", out, flags=re.M | re.S).group(0)
    assert table in page


def test_without_a_run_all_parameters_are_needed():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--c", "1e-6"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "--t0" in proc.stderr


@pytest.mark.parametrize("blocks, tasks, depth", [(1, 1, 0), (8, 9, 1), (9, 12, 2),
                                                  (64, 73, 2), (512, 585, 3)])
def test_the_tree_of_additions(blocks, tasks, depth):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import dask_scaling
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert dask_scaling.tasks(blocks) == tasks
    assert dask_scaling.depth(blocks) == depth

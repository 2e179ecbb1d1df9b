"""benchmarks/adam_loop.c, the README's evidence for what bounds Adam's AVX-512 loop,
still builds against src/nncore/_fastmath.h and runs (its timings are not checked)."""

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "adam_loop.c"


@pytest.mark.skipif(not HARNESS.exists(), reason="no benchmarks folder (an installed copy)")
@pytest.mark.skipif(sys.platform != "linux" or platform.machine().lower() != "x86_64",
                    reason="the AVX-512 loops are built by GCC on x86-64 Linux (see the header)")
def test_the_adam_loop_harness_builds_and_runs(tmp_path):
    cc = shutil.which("gcc")
    if cc is None or "Free Software Foundation" not in subprocess.run(
            [cc, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("no GCC")
    exe = tmp_path / "adam_loop"
    subprocess.run([cc, "-O2", "-I", str(ROOT / "src" / "nncore"), str(HARNESS), "-o", str(exe),
                    "-lm"], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    if out.strip() == "no AVX-512 here":
        pytest.skip("built; this processor has no AVX-512 to run it on")
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "512 parameters" in lines[0] and "79510 parameters" in lines[1]
    for line in lines:
        times = [float(t) for t in re.findall(r"(\d+\.\d+)", line)]
        assert len(times) == 2 and all(0 < t < 1000 for t in times)

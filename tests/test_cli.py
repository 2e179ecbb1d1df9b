"""The command line: the main job and its errors."""

import subprocess
import sys

import pytest

from nncore import cli


def test_main_job_prints_epochs_and_final_accuracy(capsys):
    assert cli.main(["train", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3
    assert "loss" in lines[0] and "test accuracy" in lines[0]
    assert "final test accuracy" in out


def test_python_m_nncore_runs():
    proc = subprocess.run([sys.executable, "-m", "nncore", "train", "--epochs", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "final test accuracy" in proc.stdout


@pytest.mark.parametrize("args", [["train", "--epochs", "0"],
                                  ["train", "--learning-rate", "nan"],
                                  ["train", "--layers", "a,b"]])
def test_bad_options_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_bad_value_reported_in_one_line(capsys):
    assert cli.main(["train", "--activation", "nope", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "Traceback" not in err

"""Every script in examples/ runs and prints the lecture's numbers."""

import gzip
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nncore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TESTED = {"chain_rule.py", "single_neuron.py", "network_231.py", "mnist_784_16_16_10.py",
          "gradient_descent.py", "dask_mnist.py"}


def run(name, *args):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES.glob("*.py")} == TESTED


def test_chain_rule():
    out = run("chain_rule.py")
    for piece in ["h = 1.368", "df/dh = -0.5344", "df/dm = -0.1966", "df/dx = 0.1966",
                  "df/dx = 0.1966119332", "(f(1.1) - f(1)) / 0.1 = 0.1920152697",
                  "h = 1.37, df/dh = -0.53, df/dm = -0.20, df/dx = 0.20"]:
        assert piece in out, piece


def test_single_neuron():
    out = run("single_neuron.py")
    assert "= 3\n" in out  # z
    for piece in ["0.9525741268", "0.0022492134", "-0.0948517464", "-0.0042850851",
                  "[-0.0171403403, 0.0085701701, -0.0042850851]", "a = sigmoid(z)",
                  "check against central differences: passed",
                  "z = 3, y~ = 0.9526, dC/dy~ = -0.0949, dC/dz = -0.00429"]:
        assert piece in out, piece


def test_network_231():
    out = run("network_231.py")
    assert "13 parameters" in out
    assert re.findall(r"^  (w_\d+) ", out, flags=re.M)[:13] == [f"w_{i}" for i in range(13)]
    net = nncore.Network([2, 3, 1], seed=0)
    values = [float(v) for v in re.findall(r"^  w_\d+\s+= ([-+.\d]+)", out, flags=re.M)]
    np.testing.assert_allclose(values, net.params, atol=1e-6)
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    Y = [[0.0], [1.0], [1.0], [0.0]]
    printed = out.strip().splitlines()[-1].strip().strip("[]").split(", ")
    np.testing.assert_allclose([float(v) for v in printed], net.gradient(X, Y), atol=1e-6)


def test_mnist_784_16_16_10_on_bundled_digits():
    out = run("mnist_784_16_16_10.py")
    assert "= 13,002" in out
    assert "(13002,)" in out and "(6, 13002)" in out
    assert "784 pixels (bundled digits upsampled to 28x28)" in out
    header = next(ln for ln in out.splitlines() if ln.strip().startswith("0 "))
    assert header.split() == ["0", "1", "2", "3", "4", "5", "...", "average"]
    assert "w_13001" in out and "average over all 1797" not in out
    assert "mean over all 1797 examples" in out


def write_idx(path, array, compress):
    array = np.asarray(array, dtype=np.uint8)
    head = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = head + array.tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_mnist_784_16_16_10_reads_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28))
    labels = np.array([7, 2, 1, 0, 4, 1] + list(rng.integers(0, 10, 24)))
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    out = run("mnist_784_16_16_10.py", tmp_path)
    assert "data: 30 images of 784 pixels (MNIST)" in out
    header = next(ln for ln in out.splitlines() if ln.strip().startswith("7 "))
    assert header.split() == ["7", "2", "1", "0", "4", "1", "...", "average"]
    out2 = run("mnist_784_16_16_10.py", tmp_path / f"train-images-idx3-ubyte{suffix}",
               tmp_path / f"train-labels-idx1-ubyte{suffix}", "--samples", 10)
    assert "data: 10 images" in out2


def test_gradient_descent_cost_falls():
    out = run("gradient_descent.py")
    steps = [float(v) for v in re.findall(r"step +\d+: C = ([.\d]+)", out)]
    epochs = [float(v) for v in re.findall(r"epoch +\d+: C = ([.\d]+)", out)]
    assert len(steps) == 9 and len(epochs) == 6
    assert all(b < a for a, b in zip(steps, steps[1:], strict=False))
    assert all(b < a for a, b in zip(epochs, epochs[1:], strict=False))
    accuracies = [float(v) for v in re.findall(r"test accuracy after .*: ([.\d]+)", out)]
    assert len(accuracies) == 2 and min(accuracies) > 0.85


def test_dask_mnist_trains_on_a_local_cluster():
    pytest.importorskip("distributed")
    pytest.importorskip("sklearn")
    out = run("dask_mnist.py")
    assert "data: 1347 training images of 64 pixels (bundled digits) in 4 blocks on 2 workers" \
        in out
    accuracy = float(re.search(r"accuracy on 450 held-out images: ([.\d]+)", out).group(1))
    assert accuracy > 0.9

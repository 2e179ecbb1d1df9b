"""nncore.plot renders to PNG files without a screen (matplotlib's Agg backend)."""

import struct
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import nncore  # noqa: E402
from nncore import plot  # noqa: E402
from nncore.datasets import digits_split, one_hot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def trained():
    X_train, X_test, y_train, y_test = digits_split()
    net = nncore.Network([64, 12, 10], seed=0)
    net.fit(X_train, one_hot(y_train, 10), epochs=4,
            validation_data=(X_test, one_hot(y_test, 10)))
    return net


def test_loss_curve(tmp_path, trained):
    ax = plot.loss_curve(trained.history)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), trained.history["loss"])
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), [1, 2, 3, 4])
    ax.figure.set_size_inches(5, 3)
    ax.figure.savefig(tmp_path / "loss.png", dpi=100)
    assert png_size(tmp_path / "loss.png") == (500, 300)


def test_loss_curve_accuracy_on_given_axes(tmp_path, trained):
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    assert plot.loss_curve(trained, ax=ax, metric="accuracy") is ax  # a Network works too
    assert [line.get_label() for line in ax.get_lines()] == ["training accuracy",
                                                             "validation accuracy"]
    fig.savefig(tmp_path / "acc.png", dpi=50)
    assert png_size(tmp_path / "acc.png") == (200, 150)


def test_loss_curve_needs_history():
    with pytest.raises(ValueError, match="no 'loss' values"):
        plot.loss_curve({})
    with pytest.raises(TypeError):
        plot.loss_curve([0.5, 0.4])


def _two_moons(n=120):
    rng = np.random.default_rng(0)
    t = rng.uniform(0, np.pi, n)
    upper = np.arange(n) % 2 == 0
    X = np.where(upper[:, None], np.c_[np.cos(t), np.sin(t)],
                 np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return X + rng.normal(scale=0.1, size=X.shape), upper.astype(int)


def test_decision_boundary_network(tmp_path):
    X, y = _two_moons()
    net = nncore.Network([2, 16, 2], activation="tanh", output="softmax",
                         loss="cross_entropy", seed=0)
    net.fit(X, one_hot(y, 2), epochs=100, optimizer="adam", learning_rate=0.01)
    ax = plot.decision_boundary(net, X, y, resolution=50)
    assert ax.get_title() == "decision regions"
    assert len(ax.collections) >= 2  # filled regions and the scattered points
    ax.figure.set_size_inches(4, 4)
    ax.figure.savefig(tmp_path / "boundary.png", dpi=80)
    assert png_size(tmp_path / "boundary.png") == (320, 320)


def test_decision_boundary_estimator_with_text_labels(tmp_path):
    pytest.importorskip("sklearn")
    from nncore.sklearn import NNClassifier

    X, y = _two_moons()
    labels = np.array(["lower", "upper"])[y]
    clf = NNClassifier(hidden_layer_sizes=(16,), activation="tanh", learning_rate=0.01,
                       random_state=0).fit(X, labels)
    fig = Figure(figsize=(3, 3))
    ax = plot.decision_boundary(clf, X, labels, ax=fig.subplots(), resolution=40)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lower", "upper"]
    fig.savefig(tmp_path / "boundary2.png", dpi=100)
    assert png_size(tmp_path / "boundary2.png") == (300, 300)


def test_decision_boundary_needs_two_features(trained):
    with pytest.raises(ValueError, match="two features"):
        plot.decision_boundary(trained, np.zeros((3, 64)), [0, 1, 2])


def test_weights(tmp_path, trained):
    fig = plot.weights(trained, layer=0, image_shape=(8, 8))
    images = [ax for ax in fig.axes if ax.get_images()]
    assert len(images) == 12  # one per hidden neuron
    np.testing.assert_array_equal(images[3].get_images()[0].get_array(),
                                  trained.weights[0][3].reshape(8, 8))
    fig.set_size_inches(6, 5)
    fig.savefig(tmp_path / "weights.png", dpi=60)
    assert png_size(tmp_path / "weights.png") == (360, 300)


def test_weights_checks_shape_and_layer(trained):
    with pytest.raises(ValueError, match="64 values|inputs per neuron"):
        plot.weights(trained, layer=1, image_shape=(8, 8))
    with pytest.raises(ValueError, match="does not exist"):
        plot.weights(trained, layer=5)
    fig = plot.weights(trained, layer=1, image_shape=(3, 4))
    assert len([ax for ax in fig.axes if ax.get_images()]) == 10


def test_cli_plot(tmp_path):
    from nncore import cli

    out = tmp_path / "curve.png"
    assert cli.main(["train", "--epochs", "2", "--no-progress", "--plot", str(out)]) == 0
    assert png_size(out) == (640, 400)


def test_import_nncore_without_matplotlib(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import nncore, nncore.plot\n"
        "try:\n"
        "    nncore.plot.loss_curve({'loss': [1.0]})\n"
        "except ImportError as exc:\n"
        "    print('ImportError:', exc)\n"
        "from nncore import cli\n"
        "print('exit', cli.main(['train', '--epochs', '1', '--plot', 'x.png']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "nncore.plot needs matplotlib" in proc.stdout
    assert "exit 2" in proc.stdout and "needs matplotlib" in proc.stderr


def test_docstring_example():
    import doctest

    result = doctest.testmod(plot)
    assert result.attempted >= 5 and result.failed == 0

"""The command line: the main job, every command, every data format, and its errors."""

import csv
import gzip
import struct
import subprocess
import sys

import numpy as np
import pytest

import nncore
from nncore import cli
from nncore.datasets import digits_split, load_digits, one_hot


def run(capsys, *args):
    """``nncore ARGS`` in-process: (exit status, stdout, stderr)."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, *args, match):
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    assert err.count("\n") == 1, err  # one line
    assert err.startswith("nncore") and "error:" in err
    assert "Traceback" not in err
    assert match in err, err
    return err


# ---------------------------------------------------------------- data files for the tests


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_idx(path, array, compress=False):
    array = np.asarray(array)
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}[array.dtype]
    raw = struct.pack(">BBBB", 0, 0, code, array.ndim)
    raw += struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if compress else open
    with opener(path, "wb") as fh:
        fh.write(raw)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A few small data sets in every format the command reads."""
    d = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    # three well-separated flower-like classes with text labels
    centres = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    names = np.array(["setosa", "versicolor", "virginica"])
    k = np.arange(150) % 3
    X = centres[k] + rng.normal(scale=0.25, size=(150, 4))
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    write_csv(d / "flowers.csv", header,
              [[*map(float, x), names[c]] for x, c in zip(X, k, strict=True)])
    # the same, columns reordered and without the label: what predict gets
    write_csv(d / "flowers_new.csv", header[3::-1], [list(map(float, x[::-1])) for x in X[:7]])
    write_csv(d / "flowers_3cols.csv", header[:3], [list(map(float, x[:3])) for x in X[:5]])
    write_csv(d / "flowers_odd.csv", header,
              [[*map(float, x), "rose" if i < 3 else names[c]]
               for i, (x, c) in enumerate(zip(X[:30], k[:30], strict=True))])
    # a regression: y = 3 x0 - 2 x1 + noise, semicolon-separated
    Xr = rng.uniform(-2, 2, size=(300, 2))
    yr = 3 * Xr[:, 0] - 2 * Xr[:, 1] + rng.normal(scale=0.1, size=300)
    with open(d / "line.csv", "w") as fh:
        fh.write("a;b;y\n" + "".join(f"{a:.6f};{b:.6f};{t:.6f}\n"
                                      for (a, b), t in zip(Xr, yr, strict=True)))
    # the digits as .npz (pixels 0..16) and as IDX (pixels 0..240, uint8)
    Xd, yd = load_digits(return_X_y=True)
    np.savez(d / "digits.npz", X=Xd, y=yd)
    np.savez(d / "digits_nolabels.npz", X=Xd[:10])
    images = (Xd.reshape(-1, 8, 8) * 15).astype(np.uint8)
    mnist = d / "mnist"
    mnist.mkdir()
    write_idx(mnist / "train-images-idx3-ubyte.gz", images[:1400], compress=True)
    write_idx(mnist / "train-labels-idx1-ubyte.gz", yd[:1400].astype(np.uint8), compress=True)
    write_idx(mnist / "t10k-images-idx3-ubyte", images[1400:])
    write_idx(mnist / "t10k-labels-idx1-ubyte", yd[1400:].astype(np.uint8))
    write_idx(d / "lonely-images-idx3-ubyte", images[:20])
    (d / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    (d / "ragged.csv").write_text("a,b,label\n1,2,x\n3,4\n")
    (d / "one_class.csv").write_text("a,b,label\n1,2,x\n3,4,x\n")
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("a,b,label\n")
    (d / "label_only.csv").write_text("label\n1\n2\n")
    return d


# ---------------------------------------------------------------- the main job


def test_main_job_prints_epochs_and_final_accuracy(capsys):
    assert cli.main(["train", "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 3
    assert "loss" in lines[0] and "test accuracy" in lines[0]
    assert "final test accuracy" in out


def test_no_arguments_is_the_main_job(capsys):
    code, out, err = run(capsys)
    assert code == 0
    assert out.startswith("nncore: training 64-30-10 on the UCI digits (1347 training, 450 "
                          "held-out images")
    assert len([line for line in out.splitlines() if line.startswith("epoch")]) == 30
    # exactly the lecture's network trained in Python on the fixed split
    X_train, X_test, y_train, y_test = digits_split()
    net = nncore.Network([64, 30, 10], seed=0).fit(X_train, one_hot(y_train, 10), epochs=30,
                                                   batch_size=10, learning_rate=3.0)
    acc = net.accuracy(X_test, one_hot(y_test, 10))
    final = out.splitlines()[-1]
    assert final.startswith(f"final test accuracy {acc:.4f} ({round(acc * 450)}/450) after "
                            f"30 epochs")
    assert final.endswith("samples/s") and acc > 0.95
    assert err == ""  # no progress bar when stderr is not a terminal


def test_python_m_nncore_runs():
    proc = subprocess.run([sys.executable, "-m", "nncore", "train", "--epochs", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "final test accuracy" in proc.stdout


def test_console_script_help():
    proc = subprocess.run(["nncore", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("train", "evaluate", "predict", "info"):
        assert command in proc.stdout


@pytest.mark.parametrize("command, expected", [
    ("train", ["--data", "--target", "--labels", "--layers", "--activation", "--output",
               "--loss", "--optimizer", "--learning-rate", "--epochs", "--batch-size",
               "--threads", "--validation-split", "--seed", "--dtype", "--out", "--plot",
               "--task"]),
    ("evaluate", ["MODEL", "--data", "--target"]),
    ("predict", ["MODEL", "--data", "--out", "--scores"]),
    ("info", ["MODEL"]),
])
def test_command_help(capsys, command, expected):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    for option in expected:
        assert option in out


def test_progress_bar_on_a_terminal(capsys, monkeypatch):
    bars = []
    import tqdm.auto

    class Recorder(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            bars.append(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    assert run(capsys, "train", "--epochs", "2")[0] == 0
    assert bars[-1]["disable"] is None and bars[-1]["total"] == 2  # shown on a terminal
    assert run(capsys, "train", "--epochs", "2", "--no-progress")[0] == 0
    assert bars[-1]["disable"] is True


# ---------------------------------------------------------------- CSV


def test_csv_classification_round_trip(capsys, files, tmp_path):
    model = tmp_path / "flowers.npz"
    code, out, _ = run(capsys, "train", "--data", files / "flowers.csv", "--target", "species",
                       "--epochs", "40", "--out", model)
    assert code == 0, out
    assert "3 classes" in out and "114 training, 36 held-out samples" in out
    assert "test accuracy" in out.splitlines()[1]
    final = [line for line in out.splitlines() if line.startswith("final test accuracy")][0]
    assert float(final.split()[3]) > 0.9
    meta = nncore.load(model).meta
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["target"] == "species" and meta["features"][0] == "sepal_length"

    code, out, _ = run(capsys, "evaluate", model, "--data", files / "flowers.csv")
    assert code == 0
    assert "accuracy" in out and "loss" in out and "samples/s" in out
    assert float(out.split("accuracy ")[1].split()[0]) > 0.9

    # features found by name in any order, no label column needed
    code, out, _ = run(capsys, "predict", model, "--data", files / "flowers_new.csv",
                       "--scores")
    assert code == 0
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == ["prediction", "score_setosa", "score_versicolor", "score_virginica"]
    assert [r[0] for r in rows[1:]] == ["setosa", "versicolor", "virginica"] * 2 + ["setosa"]

    pred = tmp_path / "pred.csv"
    code, out, _ = run(capsys, "predict", model, "--data", files / "flowers.csv", "--out", pred)
    assert code == 0 and f"wrote 150 predictions to {pred}" in out
    lines = pred.read_text().splitlines()
    assert lines[0] == "prediction" and len(lines) == 151

    code, out, _ = run(capsys, "info", model)
    assert code == 0
    assert "4-30-3" in out and "parameters    243" in out
    assert "classification, 3 classes: setosa versicolor virginica" in out
    assert "40 epochs" in out and "val_accuracy" in out


def test_csv_last_column_is_the_default_target(capsys, files):
    code, out, _ = run(capsys, "train", "--data", files / "flowers.csv", "--epochs", "2")
    assert code == 0 and "3 classes" in out


def test_evaluate_counts_unknown_labels_as_errors(capsys, files, tmp_path):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", files / "flowers.csv", "--epochs", "20", "--out",
               model)[0] == 0
    code, out, _ = run(capsys, "evaluate", model, "--data", files / "flowers_odd.csv")
    assert code == 0
    assert "note: 3 samples have labels the model does not know (rose)" in out


def test_csv_regression(capsys, files, tmp_path):
    model = tmp_path / "line.npz"
    code, out, _ = run(capsys, "train", "--data", files / "line.csv", "--layers", "8",
                       "--epochs", "40", "--out", model)
    assert code == 0, out
    assert "regression of 'y'" in out and "identity" in out and "test R^2" in out
    final = [line for line in out.splitlines() if line.startswith("final test R^2")][0]
    assert float(final.split()[3]) > 0.98
    code, out, _ = run(capsys, "evaluate", model, "--data", files / "line.csv")
    assert code == 0 and "R^2 0.99" in out and "RMSE" in out
    code, out, _ = run(capsys, "predict", model, "--data", files / "line.csv")
    rows = list(csv.reader(out.splitlines()))
    with open(files / "line.csv") as fh:
        truth = [float(line.split(";")[2]) for line in fh.readlines()[1:]]
    assert rows[0] == ["prediction"]
    pred = np.array([float(r[0]) for r in rows[1:]])
    assert 1 - ((pred - truth) ** 2).sum() / ((truth - np.mean(truth)) ** 2).sum() > 0.98
    code, out, _ = run(capsys, "info", model)
    assert "regression of 'y'" in out


def test_task_override_and_validation_split_zero(capsys, files):
    code, out, _ = run(capsys, "train", "--data", files / "digits.npz", "--task", "regress",
                       "--validation-split", "0", "--epochs", "2")
    assert code == 0
    assert "0 held-out" in out and "train R^2" in out and "final training R^2" in out
    code, out, _ = run(capsys, "train", "--validation-split", "0", "--epochs", "2")
    assert code == 0 and "train accuracy" in out and "final training accuracy" in out


# ---------------------------------------------------------------- .npz and IDX


def test_npz(capsys, files, tmp_path):
    model = tmp_path / "d.npz"
    code, out, _ = run(capsys, "train", "--data", files / "digits.npz", "--epochs", "5",
                       "--out", model)
    assert code == 0 and "10 classes" in out
    assert nncore.load(model).meta["scale"]["kind"] == "standard"
    code, out, _ = run(capsys, "evaluate", model, "--data", files / "digits.npz")
    assert code == 0 and float(out.split("accuracy ")[1].split()[0]) > 0.9
    code, out, _ = run(capsys, "predict", model, "--data", files / "digits_nolabels.npz")
    assert code == 0 and len(out.splitlines()) == 11


@pytest.mark.parametrize("how", ["directory", "files", "guessed-labels"])
def test_idx(capsys, files, tmp_path, how):
    mnist = files / "mnist"
    data = {
        "directory": ["--data", mnist],
        "files": ["--data", mnist / "train-images-idx3-ubyte.gz",
                  "--labels", mnist / "train-labels-idx1-ubyte.gz"],
        "guessed-labels": ["--data", mnist / "train-images-idx3-ubyte.gz"],
    }[how]
    model = tmp_path / "mnist.npz"
    code, out, _ = run(capsys, "train", *data, "--epochs", "5", "--out", model)
    assert code == 0, out
    assert "1049 training, 351 held-out images" in out
    meta = nncore.load(model).meta
    assert meta["scale"]["kind"] == "pixels" and meta["scale"]["factor"][0] == 1 / 255
    # evaluate on the directory takes the t10k files
    code, out, _ = run(capsys, "evaluate", model, "--data", mnist)
    assert code == 0 and "(397 samples)" in out
    assert float(out.split("accuracy ")[1].split()[0]) > 0.8


def test_idx_predict_without_labels(capsys, files, tmp_path):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", files / "mnist", "--epochs", "1", "--out",
               model)[0] == 0
    code, out, _ = run(capsys, "predict", model, "--data", files / "lonely-images-idx3-ubyte")
    assert code == 0 and len(out.splitlines()) == 21


# ---------------------------------------------------------------- errors: one line, status 2


@pytest.mark.parametrize("args", [["train", "--epochs", "0"],
                                  ["train", "--learning-rate", "nan"],
                                  ["train", "--layers", "a,b"],
                                  ["train", "--validation-split", "1.5"],
                                  ["train", "--dtype", "float16"],
                                  ["train", "--scale", "log"],
                                  ["train", "--seed", "-1"],
                                  ["evaluate", "model.npz"],
                                  ["frobnicate"]])
def test_bad_options_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error" in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_value_reported_in_one_line(capsys):
    assert cli.main(["train", "--activation", "nope", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "Traceback" not in err


@pytest.mark.parametrize("args, match", [
    (["train", "--output", "tanh"], "unknown output activation 'tanh'"),
    (["train", "--loss", "hinge"], "unknown loss 'hinge'"),
    (["train", "--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
    (["train", "--output", "identity", "--loss", "cross_entropy"], "cannot be used"),
])
def test_bad_names(capsys, args, match):
    assert_user_error(capsys, *args, match=match)


def test_user_errors(capsys, files, tmp_path):
    model = tmp_path / "flowers.npz"
    assert run(capsys, "train", "--data", files / "flowers.csv", "--epochs", "2", "--out",
               model)[0] == 0
    cases = [
        (["train", "--data", tmp_path / "missing.csv"], "no such file or directory"),
        (["train", "--data", files / "flowers.csv", "--target", "colour"],
         "has no column 'colour'"),
        (["train", "--data", files / "bad.csv"], "line 3: column 'b' has 'oops', not a number"),
        (["train", "--data", files / "ragged.csv"], "line 3: 2 fields, but the header has 3"),
        (["train", "--data", files / "one_class.csv"], "at least 2 classes"),
        (["train", "--data", files / "empty.csv"], "is empty"),
        (["train", "--data", files / "header_only.csv"], "has a header but no data rows"),
        (["train", "--data", files / "label_only.csv"], "no feature columns"),
        (["train", "--data", files / "flowers.csv", "--task", "regress"],
         "needs numeric targets"),
        (["train", "--data", files / "lonely-images-idx3-ubyte"], "no labels"),
        (["train", "--labels", files / "mnist" / "t10k-labels-idx1-ubyte"], "--labels needs"),
        (["train", "--data", files / "flowers.csv", "--labels", files / "flowers.csv"],
         "--labels goes with IDX"),
        (["train", "--out", tmp_path / "nowhere" / "m.npz"], "directory does not exist"),
        (["train", "--data", files / "digits.npz", "--validation-split", "0.0001"],
         "holds out no sample"),
        (["evaluate", tmp_path / "nope.npz", "--data", files / "flowers.csv"],
         "no such file or directory"),
        (["evaluate", files / "flowers.csv", "--data", files / "flowers.csv"],
         "not a valid nncore model file"),
        (["evaluate", model, "--data", files / "digits.npz"],
         "has 64 features but the model"),
        (["predict", model, "--data", files / "flowers_3cols.csv"],
         "has 3 features but the model"),
        (["evaluate", model, "--data", files / "digits_nolabels.npz"], "no labels"),
        (["evaluate", model, "--data", files / "flowers.csv", "--target", "x"],
         "has no column 'x'"),
        (["info", tmp_path / "nope.npz"], "no such file or directory"),
        (["train", "--data", tmp_path], "without IDX image files"),
    ]
    for args, match in cases:
        assert_user_error(capsys, *args, match=match)


def test_divergence_is_reported_in_one_line(capsys, files):
    code, out, err = run(capsys, "train", "--data", files / "line.csv", "--learning-rate", "50",
                         "--epochs", "30")
    assert code == 1
    assert err.count("\n") == 1 and "training diverged" in err and "Traceback" not in err


def test_debug_env_shows_traceback(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NNCORE_DEBUG", "1")
    with pytest.raises(cli.UserError):
        cli.main(["train", "--data", str(tmp_path / "missing.csv")])


@pytest.mark.parametrize("threads", ["1", "2", "auto"])
def test_train_on_threads(capsys, threads):
    code, out, _ = run(capsys, "train", "--epochs", "2", "--batch-size", "200", "--threads",
                       threads, "--no-progress")
    assert code == 0
    assert "final test accuracy" in out


# ---------------------------------------------------------------- bugs are not user errors


def test_internal_bug_is_not_reported_as_a_user_error(capsys, monkeypatch, files):
    from nncore import datasets

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(datasets, "read_data", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        cli.main(["train", "--data", str(files / "flowers.csv"), "--epochs", "1"])
    assert "error:" not in capsys.readouterr().err


def test_value_error_outside_the_readers_is_a_bug(capsys, monkeypatch):
    from nncore import datasets

    def broken(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(datasets, "split_indices", broken)
    with pytest.raises(ValueError, match="could not be broadcast"):
        cli.main(["train", "--epochs", "1"])
    assert "error:" not in capsys.readouterr().err


def test_reader_value_errors_are_user_errors(capsys, monkeypatch, files):
    from nncore import datasets

    def bad_data(path, **kwargs):
        raise ValueError(f"{path}, line 7:\ncolumn 'a' is NaN or infinite")

    monkeypatch.setattr(datasets, "read_data", bad_data)
    assert_user_error(capsys, "train", "--data", files / "flowers.csv",
                      match="flowers.csv, line 7: column 'a' is NaN or infinite")


def test_bug_ends_with_a_traceback_and_nonzero_status(tmp_path):
    code = ("import sys\n"
            "from nncore import cli, datasets\n"
            "def broken(*args, **kwargs):\n"
            "    raise TypeError('a bug')\n"
            "datasets.split_indices = broken\n"
            "sys.exit(cli.main(['train', '--epochs', '1', '--no-progress']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" in proc.stderr and "TypeError: a bug" in proc.stderr
    assert "nncore: error" not in proc.stderr


def test_file_errors_name_the_file(capsys, files, tmp_path):
    model = tmp_path / "m.npz"
    assert run(capsys, "train", "--data", files / "flowers.csv", "--epochs", "1", "--out",
               model)[0] == 0
    assert_user_error(capsys, "predict", model, "--data", files / "flowers.csv", "--out",
                      tmp_path, match=f"{tmp_path}: Is a directory")


def test_os_error_without_a_file_is_not_a_user_error(capsys, monkeypatch, files):
    from nncore import datasets

    def disk_gone(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(datasets, "read_data", disk_gone)
    with pytest.raises(OSError, match="Input/output error"):
        cli.main(["train", "--data", str(files / "flowers.csv"), "--epochs", "1"])


def test_bad_targets_are_refused_before_training(capsys, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,t\n1,2,0.5\n3,4,nan\n5,6,1.5\n7,8,2.5\n")
    code, out, _ = run(capsys, "train", "--data", path, "--epochs", "1")
    assert code == 2 and out == ""
    assert_user_error(capsys, "train", "--data", path, match="line 3: column 't' is NaN")


def test_features_that_overflow_when_scaled_are_a_user_error(capsys, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("a,b,label\n" + "".join(f"{v:g},{-v:g},{i % 2}\n" for i, v in
                                             enumerate([1e308, -1e308, 1e307, 5e307] * 5)))
    with np.errstate(over="ignore", invalid="ignore"):  # the overflow itself is the point
        assert_user_error(capsys, "train", "--data", path, "--scale", "minmax", "--epochs", "1",
                          match="some features become infinite when scaled")

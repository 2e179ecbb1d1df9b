"""The ``nncore`` command.

``nncore`` with no arguments runs the main job: the lecture's network (64-30-10,
sigmoid, MSE, SGD, batch 10, learning rate 3.0, 30 epochs) on the bundled
digits, reporting the accuracy on a fixed held-out quarter after every epoch.

    nncore train [--data FILE] [options]     train, report, save (--out) and plot (--plot)
    nncore evaluate MODEL --data FILE        accuracy (or R^2) of a saved model
    nncore predict MODEL --data FILE         predictions as CSV
    nncore info MODEL                        architecture, parameters, training history

Data files: CSV with a header row (``--target`` names the label column; the
last column by default), ``.npz`` with arrays ``X`` and ``y``, or MNIST-style
IDX files (``--data train-images-idx3-ubyte --labels train-labels-idx1-ubyte``,
or a directory holding them; gzip'd or not), read by ``nncore.datasets``.

Mistakes in what was asked (a missing file, bad data in it, an unknown column, a
wrong number of features, a bad option value) are reported in one line on stderr
with exit status 2, a diverging training with status 1; set ``NNCORE_DEBUG=1``
to see the traceback instead.  Any other exception is a bug in nncore and ends
with its traceback.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import zipfile

import numpy as np

from . import _layout, datasets

LECTURE_LR = 3.0


class UserError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


# ---------------------------------------------------------------- data files


def _exists(path):
    if not os.path.exists(path):
        raise UserError(f"no such file or directory: {path}")


def load_data(path, *, target=None, labels=None, model_meta=None, purpose="train"):
    """Read ``path`` with :func:`nncore.datasets.read_data`, whatever kind of file it is.

    Training takes a CSV's last column as the target unless ``--target`` names
    one; evaluating and predicting take the model's target and feature columns
    by name when the file has them.  Bad data becomes a :class:`UserError`.
    """
    _exists(path)
    if labels is not None:
        _exists(labels)
    try:
        kind = datasets.file_kind(path)
        if labels is not None and kind != "idx":
            raise UserError(f"--labels goes with IDX image files, and {path} is not one")
        features = None
        if kind != "csv":
            target = None  # --target names a CSV column; other files have none to name
        elif purpose == "train":
            target = -1 if target is None else target
        else:
            target, features = _model_columns(path, target, model_meta or {}, purpose)
        return datasets.read_data(path, target=target, features=features, labels=labels,
                                  subset="train" if purpose == "train" else "test")
    except ValueError as exc:  # the readers' verdict on the file
        raise UserError(str(exc)) from None


def _model_columns(path, target, meta, purpose):
    """``(target, features)`` of a CSV for a model: its columns where the file has them."""
    header = datasets.csv_header(path)
    model_target = meta.get("target")
    if target is None:
        if model_target in header:
            target = model_target
        elif purpose == "evaluate":
            missing = f"has no column {model_target!r} (the model's target)" if model_target \
                else "needs --target to name its label column"
            raise UserError(f"{path} {missing}; columns: {_short_list(header)}")
    # the model's features by name when the file has them all; else every column but
    # the target, by position (the model then checks their number)
    model_features = meta.get("features")
    if model_features and all(f in header for f in model_features):
        return target, list(model_features)
    return target, None


def _short_list(names, n=5):
    shown = ", ".join(map(repr, names[:n]))
    return shown + (f", ... ({len(names)} in all)" if len(names) > n else "")


# ---------------------------------------------------------------- tasks and scaling


def _detect_task(y) -> str:
    """Classification for labels (text, or at most 100 distinct whole numbers: the
    readers give whole numbers as integers), as scikit-learn's ``type_of_target``
    would call them; regression otherwise."""
    if y.dtype.kind in "USOb":
        return "classify"
    if y.dtype.kind in "iu" and len(np.unique(y)) <= 100:
        return "classify"
    return "regress"


def _scaling(kind, data: datasets.Dataset, X_train):
    """``(offset, factor)``: the network sees ``(X - offset) * factor``."""
    n = X_train.shape[1]
    if kind == "auto":
        kind = "pixels" if data.pixel_max else "standard"
    if kind == "none":
        return "none", np.zeros(n), np.ones(n)
    if kind == "pixels":
        top = data.pixel_max or float(X_train.max()) or 1.0
        return "pixels", np.zeros(n), np.full(n, 1.0 / top)
    if kind == "standard":
        sd = X_train.std(axis=0)
        return kind, X_train.mean(axis=0), 1.0 / np.where(sd > 0, sd, 1.0)
    lo, hi = X_train.min(axis=0), X_train.max(axis=0)  # minmax
    return kind, lo, 1.0 / np.where(hi > lo, hi - lo, 1.0)


def _apply_scale(meta, X):
    scale = meta.get("scale")
    if not scale:
        return X
    return (X - np.asarray(scale["offset"])) * np.asarray(scale["factor"])


def _check_scaled(X, source):
    """Features near the float64 limit can overflow when scaled: that is the data's
    doing, so it is said here rather than left to the network's input check."""
    if not np.isfinite(X).all():
        raise UserError(f"{source}: some features become infinite when scaled; they are too "
                        f"large (rescale the data)")


def _r2(y, pred):
    ss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else float("nan")


def _json_labels(classes):
    return [c.item() if hasattr(c, "item") else c for c in classes]


# ---------------------------------------------------------------- train


def _check_names(args, task):
    from . import activations, losses, optimizers

    for name, valid, what in ((args.activation, activations.HIDDEN, "hidden activation"),
                              (args.output, activations.OUTPUTS, "output activation"),
                              (args.loss, tuple(losses.LOSSES), "loss"),
                              (args.optimizer, optimizers.NAMES, "optimizer")):
        if name not in valid:
            raise UserError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    try:
        losses.resolve(args.loss, args.output, 2)
    except ValueError as exc:  # a loss that does not go with the output activation
        raise UserError(str(exc)) from None


def _train(args) -> int:
    from tqdm.auto import tqdm

    from . import Network

    if args.labels and not args.data:
        raise UserError("--labels needs --data (the IDX images they belong to)")
    if args.plot:
        _require_matplotlib("--plot")
    for out in (args.out, args.plot):
        if out and not os.path.isdir(os.path.dirname(os.path.abspath(out))):
            raise UserError(f"cannot write {out}: its directory does not exist")
    data = load_data(args.data, target=args.target, labels=args.labels) if args.data \
        else datasets.load_digits()
    if data.target is None:
        raise UserError(f"{data.source} has no labels or targets to train on"
                        + (" (pass the labels file with --labels)" if data.kind == "idx" else ""))
    task = args.task if args.task != "auto" else _detect_task(data.target)
    if task == "regress" and data.target.dtype.kind not in "iuf":
        raise UserError(f"--task regress needs numeric targets; {data.target_name or 'y'!r} "
                        f"holds text such as {data.target[0]!r}")
    output = args.output or ("sigmoid" if task == "classify" else "identity")
    args.output = output
    _check_names(args, task)

    y_all = data.target
    if task == "classify":
        classes, y_idx = np.unique(y_all, return_inverse=True)
        if len(classes) < 2:
            raise UserError(f"{data.source}: every sample has the label {classes[0]!r}; "
                            f"classification needs at least 2 classes")
    train_idx, test_idx = datasets.split_indices(y_all, test_fraction=args.validation_split,
                                                 stratify=task == "classify")
    if len(train_idx) == 0:
        raise UserError(f"--validation-split {args.validation_split} leaves no training samples")
    if args.validation_split > 0 and len(test_idx) == 0:
        raise UserError(f"--validation-split {args.validation_split} holds out no sample of "
                        f"{len(y_all)}; use a larger fraction or 0")
    scale_kind, offset, factor = _scaling(args.scale, data, data.data[train_idx])
    meta = {"task": task, "features": data.feature_names, "target": data.target_name,
            "scale": {"kind": scale_kind, "offset": offset.tolist(), "factor": factor.tolist()},
            "data": data.source}
    X = data.data  # scaled in place: MNIST-sized data should not exist in many copies
    X -= offset
    X *= factor
    _check_scaled(X, data.source)
    data.data = data.images = None  # images is a view that would keep X alive
    if task == "classify":
        n_out = len(classes)
        Y = np.zeros((len(y_all), n_out))
        Y[np.arange(len(y_all)), y_idx] = 1.0
        meta["classes"] = _json_labels(classes)
    else:
        yf = y_all.astype(np.float64)
        mu, sd = float(yf[train_idx].mean()), float(yf[train_idx].std()) or 1.0
        Y = ((yf - mu) / sd).reshape(-1, 1)
        n_out = 1
        meta["target_scale"] = {"offset": mu, "factor": 1.0 / sd}
    n_features = X.shape[1]
    X_train, Y_train = X[train_idx].astype(args.dtype), Y[train_idx]
    X_test, Y_test = X[test_idx].astype(args.dtype), Y[test_idx]
    del X
    has_test = len(test_idx) > 0

    lr = args.learning_rate
    if lr is None:
        from .optimizers import DEFAULT_LEARNING_RATES
        lr = DEFAULT_LEARNING_RATES[args.optimizer]
        if task == "regress" and args.optimizer == "sgd":
            lr = 0.05  # identity outputs have no sigmoid to damp the lecture's 3.0
    sizes = [n_features, *args.layers, n_out]
    net = Network(sizes, activation=args.activation, output=output, loss=args.loss,
                  dtype=args.dtype, seed=args.seed)
    what = "images" if data.kind in ("digits", "idx") else "samples"
    task_note = (f"{len(classes)} classes" if task == "classify" else f"regression of "
                 f"{data.target_name or 'y'!r}")
    print(f"nncore: training {'-'.join(map(str, sizes))} on {data.source} "
          f"({len(train_idx)} training, {len(test_idx)} held-out {what}; {task_note}), "
          f"{args.activation} / {output} / {args.loss}, {args.optimizer}, "
          f"batch {args.batch_size}, learning rate {lr}", flush=True)

    test_name = "test" if has_test else "train"

    def metric(Xs, Ys):
        if task == "classify":
            return float(np.mean(net.predict(Xs).argmax(axis=1) == Ys.argmax(axis=1)))
        return _r2(Ys[:, 0], net.predict(Xs)[:, 0])

    label = "accuracy" if task == "classify" else "R^2"
    bar = tqdm(total=args.epochs, unit="epoch", file=sys.stderr,
               disable=True if args.no_progress else None, leave=False)

    def report(epoch, logs):
        if has_test:
            score = logs["val_accuracy"] if task == "classify" else metric(X_test, Y_test)
        elif task == "classify":
            score = logs["accuracy"]
        else:
            score = metric(X_train, Y_train)
        bar.update(1)
        bar.set_postfix({"loss": f"{logs['loss']:.4g}", label: f"{score:.4f}",
                         "samples/s": f"{len(train_idx) / max(logs['time'], 1e-12):,.0f}"})
        tqdm.write(f"epoch {epoch + 1:3d}  loss {logs['loss']:.5f}  {test_name} {label} "
                   f"{score:.4f}  {logs['time']:.3f}s", file=sys.stdout)
        sys.stdout.flush()

    t0 = time.perf_counter()
    try:
        net.fit(X_train, Y_train, epochs=args.epochs, batch_size=args.batch_size,
                learning_rate=lr, optimizer=args.optimizer, n_threads=args.threads,
                validation_data=(X_test, Y_test) if has_test else None, callbacks=[report])
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    # throughput of the training passes themselves, not of the per-epoch reports
    rate = len(train_idx) * len(net.history["loss"]) / max(sum(net.history["time"]), 1e-12)
    Xs, Ys = (X_test, Y_test) if has_test else (X_train, Y_train)
    score = metric(Xs, Ys)
    where = "test" if has_test else "training"
    if task == "classify":
        summary = (f"final {where} accuracy {score:.4f} ({int(round(score * len(Xs)))}/"
                   f"{len(Xs)})")
    else:
        rmse = float(np.sqrt(np.mean((net.predict(Xs)[:, 0] - Ys[:, 0]) ** 2))) / \
            meta["target_scale"]["factor"]
        summary = f"final {where} R^2 {score:.4f} (RMSE {rmse:.4g})"
    print(f"{summary} after {len(net.history['loss'])} epochs, {seconds:.2f}s, "
          f"{rate:,.0f} samples/s")
    meta["train"] = {"optimizer": args.optimizer, "learning_rate": lr,
                     "batch_size": args.batch_size, "epochs": len(net.history["loss"]),
                     "seconds": round(seconds, 4), "samples_per_second": round(rate, 1),
                     "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
                     f"{where}_{'accuracy' if task == 'classify' else 'r2'}": score}
    net.meta = meta
    if args.out:
        net.save(args.out)
        print(f"saved to {args.out}")
    if args.plot:
        _save_curve(net.history, args.plot)
        print(f"loss curve written to {args.plot}")
    return 0


def _require_matplotlib(option):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError(f"{option} needs matplotlib: pip install 'nncore[plot]'") from None


def _save_curve(history, path):
    from matplotlib.figure import Figure

    from .plot import loss_curve

    fig = Figure(figsize=(6.4, 4.0))
    loss_curve(history, ax=fig.subplots())
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except ValueError as exc:  # e.g. an unknown image format
        raise UserError(f"cannot write the plot {path}: {exc}") from None


# ---------------------------------------------------------------- evaluate / predict / info


def _load_model(path):
    from . import load

    _exists(path)
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        raise UserError(f"{path} is not a valid nncore model file: it is not an .npz archive "
                        f"(models are saved by `nncore train --out` or Network.save)")
    try:
        net = load(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    meta = dict(getattr(net, "meta", {}) or {})
    n_out = net.sizes[-1]
    if "task" not in meta:  # saved from Python without CLI metadata
        classify = n_out > 1 and net.activations[-1] in ("softmax", "sigmoid")
        meta["task"] = "classify" if classify else "regress"
        if classify:
            meta["classes"] = list(range(n_out))
    if meta["task"] == "classify" and len(meta.get("classes", [])) != n_out:
        raise UserError(f"{path}: the model lists {len(meta.get('classes', []))} classes but "
                        f"has {n_out} outputs")
    scale = meta.get("scale")
    if scale and not (len(scale.get("offset", [])) == len(scale.get("factor", []))
                      == net.sizes[0]):
        raise UserError(f"{path}: the model's input scaling does not match its "
                        f"{net.sizes[0]} inputs")
    return net, meta


def _model_inputs(net, meta, data: datasets.Dataset, model_path):
    if data.data.shape[1] != net.sizes[0]:
        raise UserError(f"{data.source} has {data.data.shape[1]} features but the model "
                        f"{model_path} expects {net.sizes[0]}")
    X = _apply_scale(meta, data.data)
    _check_scaled(X, data.source)
    return X


def _outputs_to_predictions(net, meta, X):
    out = net.predict(X)
    if meta["task"] == "classify":
        classes = np.array(meta["classes"], dtype=object)
        return classes[out.argmax(axis=1)], out
    ts = meta.get("target_scale") or {"offset": 0.0, "factor": 1.0}
    return out[:, 0] / ts["factor"] + ts["offset"], out


def _evaluate(args) -> int:
    net, meta = _load_model(args.model)
    data = load_data(args.data, target=args.target, labels=args.labels, model_meta=meta,
                     purpose="evaluate")
    if data.target is None:
        raise UserError(f"{data.source} has no labels or targets to evaluate against"
                        + (" (pass the labels file with --labels)" if data.kind == "idx" else ""))
    X = _model_inputs(net, meta, data, args.model)
    t0 = time.perf_counter()
    pred, out = _outputs_to_predictions(net, meta, X)
    seconds = time.perf_counter() - t0
    n = len(X)
    print(f"nncore: evaluating {args.model} ({'-'.join(map(str, net.sizes))}, "
          f"{'classification' if meta['task'] == 'classify' else 'regression'}) on "
          f"{data.source} ({n} samples)")
    if meta["task"] == "classify":
        classes = list(meta["classes"])
        truth = np.array(_json_labels(data.target), dtype=object)
        known = np.array([t in classes for t in truth])
        correct = int(np.sum(pred == truth))
        print(f"accuracy {correct / n:.4f} ({correct}/{n})")
        if known.any():
            Y = np.zeros_like(out)
            index = {c: i for i, c in enumerate(classes)}
            rows = np.flatnonzero(known)
            Y[rows, [index[t] for t in truth[known]]] = 1
            print(f"loss {net.loss(X[known], Y[known]):.5f} ({net.loss_name})")
        if not known.all():
            unknown = sorted({str(t) for t in truth[~known]})
            print(f"note: {int((~known).sum())} samples have labels the model does not know "
                  f"({', '.join(unknown[:5])}); they count as errors")
    else:
        if data.target.dtype.kind not in "iuf":
            raise UserError(f"{data.source}: the targets are not numbers")
        y = data.target.astype(np.float64)
        rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
        mae = float(np.mean(np.abs(pred - y)))
        print(f"R^2 {_r2(y, pred):.4f}  RMSE {rmse:.4g}  MAE {mae:.4g}")
    print(f"{seconds:.3f}s, {n / max(seconds, 1e-12):,.0f} samples/s")
    return 0


def _predict(args) -> int:
    net, meta = _load_model(args.model)
    data = load_data(args.data, target=args.target, labels=args.labels, model_meta=meta,
                     purpose="predict")
    X = _model_inputs(net, meta, data, args.model)
    pred, out = _outputs_to_predictions(net, meta, X)
    header = ["prediction"]
    columns = [[str(p) if meta["task"] == "classify" else f"{p:.10g}" for p in pred]]
    if args.scores:
        names = meta.get("classes") if meta["task"] == "classify" else None
        names = names or list(range(out.shape[1]))
        header += [f"score_{c}" for c in names]
        columns += [[f"{v:.6g}" for v in out[:, k]] for k in range(out.shape[1])]
    to_stdout = args.out in (None, "-")
    if not to_stdout and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UserError(f"cannot write {args.out}: its directory does not exist")
    fh = sys.stdout if to_stdout else open(args.out, "w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))
    finally:
        if not to_stdout:
            fh.close()
    if not to_stdout:
        print(f"wrote {len(pred)} predictions to {args.out}")
    return 0


def _info(args) -> int:
    net, meta = _load_model(args.model)
    hist = net.history
    sizes = net.sizes
    print(f"{args.model}: nncore network")
    print(f"  architecture  {'-'.join(map(str, sizes))}  "
          f"({' -> '.join(net.activations)}), loss {net.loss_name}, {net.dtype.name}")
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers.append(f"{n_out}x{n_in} + {n_out} = {_layout.block_size(n_in, n_out):,}")
    print(f"  parameters    {net.n_params:,}  ({'; '.join(layers)})")
    print(f"  seed          {net.seed}")
    task = meta["task"]
    if task == "classify":
        classes = [str(c) for c in meta["classes"]]
        shown = " ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
        print(f"  task          classification, {len(classes)} classes: {shown}")
    else:
        print("  task          regression" + (f" of {meta['target']!r}"
                                              if meta.get("target") else ""))
    if meta.get("features"):
        print(f"  features      {_short_list(meta['features'])}")
    if meta.get("scale"):
        print(f"  input scaling {meta['scale'].get('kind', 'affine')}")
    if meta.get("data"):
        print(f"  trained on    {meta['data']}")
    losses = hist.get("loss", [])
    if not losses:
        print("  training      none recorded")
        return 0
    train = meta.get("train", {})
    how = ""
    if train:
        how = (f" ({train['optimizer']}, learning rate {train['learning_rate']:g}, "
               f"batch {train['batch_size']}, {train['seconds']:.2f}s)")
    print(f"  training      {len(losses)} epochs{how}")
    best = int(np.argmin(losses))
    print(f"  loss          {losses[0]:.5g} -> {losses[-1]:.5g} (best {losses[best]:.5g}, "
          f"epoch {best + 1})")
    for key in ("accuracy", "val_loss", "val_accuracy"):
        if hist.get(key):
            print(f"  {key:<13} {hist[key][-1]:.5g} at the end")
    return 0


# ---------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _threads(text):
    if text == "auto":
        return text
    from . import _kernels

    value = _positive_int(text)
    if value > _kernels.MAX_THREADS:
        raise argparse.ArgumentTypeError(f"{text!r} must be at most {_kernels.MAX_THREADS}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 1)")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"{text!r} must be in [0, 2**64)")
    return value


def _layers(text):
    try:
        sizes = [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of layer widths") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("hidden layer widths must be >= 1")
    return sizes


_DATA_HELP = ("CSV with a header row, .npz with arrays X and y, an IDX images file "
              "(MNIST-style, gzip'd or not) or a directory holding IDX files")

_TRAIN_EPILOG = """examples:
  nncore train                                  the main job (same as plain `nncore`)
  nncore train --layers 64,32 --activation relu --output softmax --loss cross_entropy \\
               --optimizer adam --epochs 20 --out digits.npz
  nncore train --data iris.csv --target species --out iris.npz --plot curve.png
  nncore train --data mnist/ --layers 100 --epochs 10 --out mnist.npz
  nncore train --data train-images-idx3-ubyte.gz --labels train-labels-idx1-ubyte.gz

The held-out part (--validation-split, stratified for classification) is fixed:
it does not depend on --seed, so runs with different seeds are compared on the
same samples.  Inputs are scaled as chosen by --scale and the scaling is saved
with the model, so `nncore evaluate` and `nncore predict` apply it too.
"""


class _VersionAction(argparse.Action):
    """--version: the full show_versions() report, computed only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from ._show_versions import show_versions

        show_versions()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from . import activations, losses, optimizers

    parser = _Parser(
        prog="nncore",
        description="Train, evaluate and inspect small multilayer perceptrons. Without a "
                    "command, runs the main job: `nncore train` with its defaults (the "
                    "lecture's 64-30-10 sigmoid network, MSE, SGD on the bundled digits).",
        epilog="Run `nncore COMMAND --help` for the options of each command.")
    parser.add_argument("--version", action=_VersionAction,
                        help="print nncore's version and build facts (Python, NumPy, SciPy, "
                             "BLAS, Cython, debug build), then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser(
        "train", help="train a network (default: the lecture's on the bundled digits)",
        description="Train a network and report its accuracy (classification) or R^2\n"
                    "(regression) on held-out data after every epoch.",
        epilog=_TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = train.add_argument_group("data")
    data.add_argument("--data", metavar="PATH",
                      help=f"training data: {_DATA_HELP} (default: the bundled UCI digits)")
    data.add_argument("--target", metavar="COLUMN",
                      help="CSV column holding the labels or targets (default: the last)")
    data.add_argument("--labels", metavar="PATH",
                      help="IDX labels file for IDX images given with --data (default: the "
                           "matching *-labels-idx1-* file beside it)")
    data.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                      help="auto: classify text labels and at most 100 distinct whole "
                           "numbers, regress anything else (default: auto)")
    data.add_argument("--validation-split", type=_fraction, default=0.25, metavar="F",
                      help="fraction held out, never trained on, to measure the network "
                           "after each epoch and at the end (default: 0.25)")
    data.add_argument("--scale", choices=["auto", "none", "standard", "minmax", "pixels"],
                      default="auto",
                      help="input scaling: pixels divides images by their largest possible "
                           "value (16 for the digits, 255 for 8-bit IDX), standard gives zero "
                           "mean and unit variance, minmax maps each feature to [0, 1]; auto "
                           "is pixels for images, standard otherwise (default: auto)")
    net = train.add_argument_group("network")
    net.add_argument("--layers", type=_layers, default=[30], metavar="WIDTHS",
                     help="hidden layer widths, e.g. '30' or '64,32' (default: 30)")
    net.add_argument("--activation", default="sigmoid", metavar="NAME",
                     help=f"hidden activation: {', '.join(activations.HIDDEN)} "
                          f"(default: sigmoid)")
    net.add_argument("--output", default=None, metavar="NAME",
                     help=f"output activation: {', '.join(activations.OUTPUTS)} (default: "
                          f"sigmoid for classification, identity for regression)")
    net.add_argument("--loss", default="mse", metavar="NAME",
                     help=f"{', '.join(losses.LOSSES)} (default: mse, the lecture's)")
    net.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    net.add_argument("--seed", type=_seed, default=0,
                     help="seeds the initial weights and the shuffling (default: 0)")
    opt = train.add_argument_group("training")
    opt.add_argument("--optimizer", default="sgd", metavar="NAME",
                     help=f"{', '.join(optimizers.NAMES)} (default: sgd)")
    opt.add_argument("--learning-rate", type=_positive_float, default=None, metavar="R",
                     help="default: 3.0 for sgd (the lecture's; 0.05 for regression), "
                          "0.3 for momentum, 0.001 for adam")
    opt.add_argument("--epochs", type=_positive_int, default=30, metavar="N",
                     help="(default: 30)")
    opt.add_argument("--batch-size", type=_positive_int, default=10, metavar="N",
                     help="(default: 10)")
    opt.add_argument("--threads", type=_threads, default="auto", metavar="N",
                     help="threads sharing each minibatch: a number, or auto (default: "
                          "every CPU for large minibatches, see README 'Threads')")
    out = train.add_argument_group("output")
    out.add_argument("--out", metavar="MODEL.npz",
                     help="save the trained network, with its class labels and input scaling")
    out.add_argument("--plot", metavar="CURVE.png",
                     help="draw the training and held-out loss per epoch (needs matplotlib)")
    out.add_argument("--no-progress", action="store_true",
                     help="no progress bar (it is shown only on a terminal anyway)")
    train.set_defaults(func=_train)

    ev = sub.add_parser(
        "evaluate", help="measure a saved model on labelled data",
        description="Accuracy and loss (classification) or R^2, RMSE and MAE (regression)\n"
                    "of a model saved by `nncore train --out` on labelled data.",
        epilog="example:\n  nncore evaluate iris.npz --data iris_test.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("model", metavar="MODEL", help="a model file saved by nncore")
    ev.add_argument("--data", required=True, metavar="PATH", help=_DATA_HELP
                    + "; in a directory the t10k-*/test-* files are used")
    ev.add_argument("--target", metavar="COLUMN",
                    help="CSV label column (default: the one the model was trained on)")
    ev.add_argument("--labels", metavar="PATH", help="IDX labels file for IDX images")
    ev.set_defaults(func=_evaluate)

    pr = sub.add_parser(
        "predict", help="write a saved model's predictions as CSV",
        description="Predict with a model saved by `nncore train --out`: one CSV row per\n"
                    "sample, the class label (or the regression target) in column\n"
                    "'prediction'. A CSV may hold the features in any column order when\n"
                    "the model knows their names; its target column, if present, is ignored.",
        epilog="example:\n  nncore predict iris.npz --data new_flowers.csv --out "
               "predictions.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("model", metavar="MODEL", help="a model file saved by nncore")
    pr.add_argument("--data", required=True, metavar="PATH", help=_DATA_HELP
                    + "; in a directory the t10k-*/test-* files are used")
    pr.add_argument("--target", metavar="COLUMN",
                    help="a CSV column to ignore (default: the model's target column)")
    pr.add_argument("--labels", metavar="PATH", help=argparse.SUPPRESS)
    pr.add_argument("--out", metavar="PREDICTIONS.csv",
                    help="where to write the CSV (default: standard output)")
    pr.add_argument("--scores", action="store_true",
                    help="add the network's output for every class (or output) as columns")
    pr.set_defaults(func=_predict)

    info = sub.add_parser(
        "info", help="describe a saved model",
        description="Architecture, parameter count, task and classes, and a summary of the "
                    "training history of a saved model.")
    info.add_argument("model", metavar="MODEL", help="a model file saved by nncore")
    info.set_defaults(func=_info)
    return parser


def main(argv=None) -> int:
    from .training import DivergenceError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["train"])
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`nncore predict ... | head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("nncore: interrupted", file=sys.stderr)
        return 130
    except (UserError, OSError, DivergenceError) as exc:
        # anything else, and an OSError that names no file (a full disk, say), is not
        # a mistake in what was asked: its traceback goes to whoever reports the bug
        if os.environ.get("NNCORE_DEBUG") or (isinstance(exc, OSError) and not exc.filename):
            raise
        if isinstance(exc, FileNotFoundError) and exc.filename:
            message = f"no such file or directory: {exc.filename}"
        elif isinstance(exc, OSError) and exc.strerror and exc.filename:
            message = f"{exc.filename}: {exc.strerror}"
        else:
            message = " ".join(str(exc).split())  # one line, always
        print(f"nncore: error: {message}", file=sys.stderr)
        return 1 if isinstance(exc, DivergenceError) else 2


if __name__ == "__main__":
    sys.exit(main())

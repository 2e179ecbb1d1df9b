"""The ``nncore`` command.  With no arguments it runs the main job: the lecture's
network (sigmoid, MSE, SGD, batch 10, learning rate 3.0) on the bundled digits."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


class UserError(Exception):
    """A mistake in what the user asked for: reported in one line, exit status 2."""


def _train(args) -> int:
    from . import Network, datasets

    X_train, X_test, y_train, y_test = datasets.digits_split()
    n_classes = 10
    Y_train = datasets.one_hot(y_train, n_classes)
    Y_test = datasets.one_hot(y_test, n_classes)
    sizes = [X_train.shape[1], *args.layers, n_classes]
    net = Network(sizes, activation=args.activation, output=args.output, loss=args.loss,
                  dtype=args.dtype, seed=args.seed)
    print(f"nncore: training {'-'.join(map(str, sizes))} on the UCI digits "
          f"({len(X_train)} training, {len(X_test)} held-out images), {args.activation} / "
          f"{args.output} / {args.loss}, {args.optimizer}, batch {args.batch_size}, "
          f"learning rate {args.learning_rate}", flush=True)

    def report(epoch, logs):
        acc = net.accuracy(X_test, Y_test)
        print(f"epoch {epoch + 1:3d}  loss {logs['loss']:.5f}  test accuracy {acc:.4f}  "
              f"{logs['time']:.3f}s", flush=True)

    t0 = time.perf_counter()
    net.fit(X_train, Y_train, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, optimizer=args.optimizer, callbacks=[report])
    seconds = time.perf_counter() - t0
    acc = net.accuracy(X_test, Y_test)
    print(f"final test accuracy {acc:.4f} ({int(round(acc * len(X_test)))}/{len(X_test)}) "
          f"after {args.epochs} epochs, {seconds:.2f}s")
    if args.out:
        net.save(args.out)
        print(f"saved to {args.out}")
    return 0


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


def _layers(text):
    try:
        sizes = [int(s) for s in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of layer widths") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("hidden layer widths must be >= 1")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nncore", description="Train small multilayer perceptrons with nncore.")
    parser.add_argument("--version", action="version", version=f"nncore {__version__}")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser("train", help="train a network (default: the lecture's on the digits)",
                           description="Train a network on the bundled UCI digits.")
    train.add_argument("--layers", type=_layers, default=[30],
                       help="hidden layer widths, e.g. '30' or '64,32' (default: 30)")
    train.add_argument("--activation", default="sigmoid", help="hidden activation")
    train.add_argument("--output", default="sigmoid", help="output activation")
    train.add_argument("--loss", default="mse", help="mse or cross_entropy")
    train.add_argument("--optimizer", default="sgd", help="sgd, momentum or adam")
    train.add_argument("--learning-rate", type=_positive_float, default=3.0)
    train.add_argument("--epochs", type=_positive_int, default=30)
    train.add_argument("--batch-size", type=_positive_int, default=10)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    train.add_argument("--out", help="save the trained network to this .npz file")
    train.set_defaults(func=_train)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["train", *(argv or [])] if argv else ["train"])
    try:
        return args.func(args)
    except (UserError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"nncore: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

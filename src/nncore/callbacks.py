"""Callbacks: what happens between epochs, outside the training loop.

A callback is an object with any of the hooks of :class:`Callback`, or a plain
function ``cb(epoch, logs)``.  After every epoch the loop calls them in order
with the epoch's index (0-based, counted over every fit of the network) and its
``logs`` (``loss``, ``lr``, ``time`` and, where they apply, ``accuracy``,
``val_loss``, ``val_accuracy``); one that returns True or raises
:class:`StopTraining` ends training after that epoch.

``Network.fit(early_stopping=True, patience=..., min_delta=...)`` is the short
form of :class:`EarlyStopping`, and ``verbose=1`` / ``verbose=2`` of
:class:`ProgressBar` / :class:`PrintProgress`.
"""

from __future__ import annotations

import math

import numpy as np

from . import _validation

__all__ = ["Callback", "StopTraining", "History", "EarlyStopping", "ProgressBar",
           "PrintProgress", "as_callback"]


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` after the current epoch."""


class Callback:
    """Base class of the callbacks; every hook does nothing unless overridden.

    The loop calls ``on_train_begin(trainer)`` before the first epoch,
    ``on_epoch_end(epoch, logs)`` after each completed epoch, and
    ``on_train_end(trainer)`` when training ends — also when it ends by an
    exception (``trainer.completed`` is then False).  ``trainer`` is the
    :class:`nncore.training.Trainer`: its ``network``, ``optimizer``, ``epochs``,
    ``n_samples`` and ``log_keys``.
    """

    def on_train_begin(self, trainer) -> None:
        """Before the first epoch; ``trainer`` is the :class:`nncore.training.Trainer`."""
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> bool | None:
        """After each completed epoch; return True to end training after it.

        Parameters
        ----------
        epoch : int
            The epoch's index, 0-based and counted over every fit of the network.
        logs : dict
            The epoch's ``loss``, ``lr``, ``time`` and, where they apply,
            ``accuracy``, ``val_loss``, ``val_accuracy``.
        """
        return None

    def on_train_end(self, trainer) -> None:
        """When training ends, normally or by an exception (then
        ``trainer.completed`` is False)."""
        pass


class _FunctionCallback(Callback):
    """A plain function ``fn(epoch, logs)``, or an object with only ``on_epoch_end``."""

    def __init__(self, fn):
        self.fn = fn

    def on_epoch_end(self, epoch, logs):
        return self.fn(epoch, logs)


def as_callback(cb) -> Callback:
    """``cb`` as a :class:`Callback`: callbacks as they are, objects with an
    ``on_epoch_end`` method and plain functions ``cb(epoch, logs)`` wrapped."""
    if isinstance(cb, Callback):
        return cb
    if hasattr(cb, "on_epoch_end"):
        return _FunctionCallback(cb.on_epoch_end)
    if callable(cb):
        return _FunctionCallback(cb)
    raise TypeError(f"callback {cb!r} is neither callable nor has on_epoch_end")


class History(Callback):
    """Appends each epoch's logs to a dict of lists (the network's ``history``).

    The loop installs one first, before the other callbacks; an epoch whose
    record was interrupted is taken back out (:meth:`truncate`).

    Parameters
    ----------
    history : dict of lists
        The dict to append to, one list per log key (created when missing).
    """

    def __init__(self, history: dict):
        self.history = history
        self.keys: list[str] = []

    def on_train_begin(self, trainer):
        self.keys = list(trainer.log_keys)
        for k in self.keys:
            self.history.setdefault(k, [])

    def on_epoch_end(self, epoch, logs):
        for k in self.keys:
            self.history[k].append(logs[k])

    def mark(self) -> list[int]:
        """The length of every list now, for :meth:`truncate`."""
        return [len(self.history[k]) for k in self.keys]

    def truncate(self, mark: list[int]) -> None:
        """Cut every list back to its length at :meth:`mark`."""
        for k, m in zip(self.keys, mark):
            del self.history[k][m:]


class EarlyStopping(Callback):
    """Stop when the monitored value has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs: ``"val_loss"`` needs validation data
        (``fit(validation_data=...)`` or ``validation_split``); ``"loss"``
        monitors the training loss.
    patience : int, default 10
        Epochs without improvement before training stops.
    min_delta : float, default 0.0
        The smallest change that counts as improvement.
    restore_best : bool, default True
        When training ends (normally, or stopped by a callback), set the
        network's parameters to those of the best epoch.
    mode : {"auto", "min", "max"}, default "auto"
        Whether smaller or larger is better; ``"auto"`` takes ``"max"`` for
        accuracies and ``"min"`` otherwise.

    Attributes
    ----------
    best : float
        The best value seen (``inf`` / ``-inf`` before the first epoch).
    best_epoch : int or None
        The (0-based, over every fit) epoch that gave it.
    stopped_epoch : int or None
        The epoch after which this callback stopped training.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto"):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a log entry, got {monitor!r}")
        self.monitor = monitor
        self.patience = _validation.check_positive(patience, "patience", integer=True)
        self.min_delta = _validation.check_positive(min_delta, "min_delta", allow_zero=True)
        if restore_best is not True and restore_best is not False:
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}")
        self.restore_best = restore_best
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.mode = mode
        self._reset()

    def _maximise(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)

    def _reset(self):
        self.best = -math.inf if self._maximise() else math.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self._best_params = None
        self._wait = 0

    def on_train_begin(self, trainer):
        if self.monitor not in trainer.log_keys:
            need = (" (it needs validation data: pass validation_data or validation_split)"
                    if self.monitor.startswith("val_") else "")
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which this fit does not "
                             f"log{need}; it logs: {', '.join(trainer.log_keys)}")
        self._reset()
        self._network = trainer.network

    def on_epoch_end(self, epoch, logs):
        current = logs[self.monitor]
        better = (current > self.best + self.min_delta if self._maximise()
                  else current < self.best - self.min_delta)
        if better:
            self.best, self.best_epoch, self._wait = current, epoch, 0
            self._best_params = self._network.params.copy()
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, trainer):
        network, self._network = self._network, None
        if not trainer.completed or self._best_params is None:
            return
        if self.restore_best:
            network.params[:] = self._best_params
        hist = network.history.get(self.monitor)
        if hist:
            pick = np.argmax if self._maximise() else np.argmin
            network.best_epoch_ = int(pick(hist))
        self._best_params = None


class ProgressBar(Callback):
    """A tqdm progress bar over the epochs, showing the latest logs and samples/s."""

    def __init__(self):
        self._bar = None

    def on_train_begin(self, trainer):
        from tqdm.auto import tqdm

        self._n = trainer.n_samples
        self._bar = tqdm(total=trainer.epochs, unit="epoch", leave=True)

    def on_epoch_end(self, epoch, logs):
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "time"}
                              | {"samples/s": f"{self._n / max(logs['time'], 1e-12):.3g}"})
        self._bar.update(1)

    def on_train_end(self, trainer):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class PrintProgress(Callback):
    """One line per epoch on standard output: the logs, seconds and samples/s."""

    def on_train_begin(self, trainer):
        self._n = trainer.n_samples

    def on_epoch_end(self, epoch, logs):
        seconds = logs["time"]
        print(f"epoch {epoch + 1}: "
              + ", ".join(f"{k}={v:.6g}" for k, v in logs.items() if k != "time")
              + f", {seconds:.3f}s, {self._n / max(seconds, 1e-12):.4g} samples/s", flush=True)

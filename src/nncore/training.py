"""The training loop, in one place: epochs, rollback, divergence, history and callbacks.

:class:`Trainer` runs the epochs of every fit.  What an epoch *is* comes from its
data source, so the same loop trains on arrays in this process and on data
spread over a cluster:

* :class:`LocalData` — arrays in memory; each epoch is one call into the
  compiled core (shuffle, minibatches, forward, backward, update, without
  returning to Python);
* a distributed source (``nncore.dask``) sums each minibatch's gradient over
  the blocks that hold its rows and applies the optimiser on the driver.

A source provides ``n_samples``, ``metric`` (``"argmax"``, ``"binary"`` or None:
how accuracy is counted), ``run_epoch(optimizer, learning_rate) ->
EpochResult`` for the minibatch optimisers, ``loss_and_gradient()`` over all
of its data for full-batch solvers, and is a context manager (threads and
buffers are held while it is entered).

Every epoch is atomic: the parameters, the optimiser's state and the shuffling
stream are snapshotted before it, and restored if it fails — the loss becomes
NaN or infinite (:class:`DivergenceError`), or an exception such as
KeyboardInterrupt lands before the epoch's record is complete.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import _kernels, _layout, _parallel, _validation
from .callbacks import History, StopTraining, as_callback

__all__ = ["Trainer", "LocalData", "EpochResult", "DivergenceError", "target_metric",
           "accuracy"]


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite during ``fit``."""


@dataclass
class EpochResult:
    """What one epoch over a data source gives back.

    ``loss_sum`` and ``weight_sum`` are the (weighted) per-sample costs and the
    weights summed over the epoch's minibatches, each cost measured before its
    minibatch's update; ``correct`` counts the samples classified right (when the
    source has a metric); ``finite`` is False when a minibatch's loss was NaN or
    infinite.  ``mean_loss`` is the epoch's loss as the source accounts it, by
    default ``loss_sum / weight_sum``.
    """

    loss_sum: float
    weight_sum: float
    correct: int = 0
    finite: bool = True
    mean_loss: float | None = None

    @property
    def loss(self) -> float:
        """The epoch's loss: ``mean_loss`` if the source gave one, else the weighted mean."""
        return self.loss_sum / self.weight_sum if self.mean_loss is None else self.mean_loss


def target_metric(Y: np.ndarray):
    """How accuracy is counted for targets ``Y``: ``"argmax"`` for one-hot rows,
    ``"binary"`` for 0/1 targets, None otherwise.

    Looks at a block of rows at a time, so no temporary grows with the data."""
    one_hot = Y.shape[1] > 1
    block = max(1, 65536 // Y.shape[1])
    for start in range(0, Y.shape[0], block):
        part = Y[start:start + block]
        if not ((part == 0) | (part == 1)).all():
            return None
        one_hot = one_hot and bool((part.sum(axis=1) == 1).all())
    return "argmax" if one_hot else "binary"


def accuracy(P: np.ndarray, Y: np.ndarray, metric) -> float:
    """Fraction of rows of outputs ``P`` classified as targets ``Y`` say (see
    :func:`target_metric`): the argmax, or every output on the right side of 0.5."""
    if metric == "argmax":
        return float(np.mean(P.argmax(axis=1) == Y.argmax(axis=1)))
    if metric == "binary":
        return float(np.mean(((P > 0.5) == (Y > 0.5)).all(axis=1)))
    raise ValueError("accuracy needs one-hot or binary (0/1) targets")


class LocalData:
    """Arrays in this process, trained by the compiled kernels: one call per epoch.

    Parameters
    ----------
    network : nncore.Network
    X, Y : ndarray (X may be a scipy.sparse CSR matrix)
        Checked by :meth:`nncore.Network.check_data` (C-contiguous, the
        network's dtype, finite).  X itself is never densified: a wide, sparse X
        trains its first layer from the nonzeros (the compiled sparse first
        layer), a denser one has each minibatch gathered into a dense buffer.
    sample_weight : ndarray or None
    batch_size : int
    shuffle : bool
        Reshuffle before every epoch, from the network's shuffling stream.
    order : callable, optional
        ``order(epoch)`` gives the permutation of the rows for that epoch (an
        int array); replaces ``shuffle`` (the drop-in estimators draw it as
        scikit-learn does).
    stop_nonfinite : bool
        End an epoch at its first NaN or infinite minibatch loss (the loop then
        restores the epoch's snapshot).  scikit-learn trains on through NaN.
    batch_mean_loss : bool
        Account the epoch's loss as scikit-learn does: each minibatch's mean loss
        (plus ``alpha``'s penalty), weighted by its rows.
    n_threads, blas_threads
        As in :meth:`nncore.Network.fit`; planned when the source is entered.
    """

    def __init__(self, network, X, Y, sample_weight=None, *, batch_size: int,
                 shuffle: bool = True, order=None, stop_nonfinite: bool = True,
                 batch_mean_loss: bool = False, n_threads="auto", blas_threads="auto"):
        self.network = network
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.order = order
        self.stop_nonfinite = bool(stop_nonfinite)
        self.batch_mean_loss = bool(batch_mean_loss)
        self.n_threads = _parallel.check_n_threads(n_threads)
        self.blas_threads = _parallel.check_blas_threads(blas_threads)
        self.n_samples = Y.shape[0]
        self.metric = target_metric(Y)
        self._csr = self._nonzeros = None
        if not isinstance(X, np.ndarray):  # CSR, as check_data makes it
            self._csr = _validation.csr_arrays(X)
        elif X.ndim == 2:
            # dense input with few enough nonzeros (images' blank pixels, one-hot
            # columns) trains its first layer from them, kept beside X (None otherwise;
            # where there is no memory for them, X's dense products do the same work)
            try:
                self._nonzeros = _kernels.nonzeros(X, network.sizes[1])
            except MemoryError:
                self._nonzeros = None
        # (train_epoch decides the same from the same numbers: no buffer for gathered rows)
        self._sparse_first = self._csr is not None and _kernels.sparse_first_layer(
            int(self._csr[2][-1] - self._csr[2][0]), self.n_samples, network.sizes[0],
            network.sizes[1], network.dtype == np.float64)
        self._epochs = 0
        self._stack = None

    def __enter__(self):
        net = self.network
        self._stack = contextlib.ExitStack()
        try:
            self._threads, self._block = _parallel.training_threads(
                self._stack, self.n_threads, self.blas_threads, net.sizes, net.dtype,
                self.batch_size, self.n_samples)
            self._order = np.empty(self.n_samples, dtype=np.intp)
            self._workspaces = {}
            shuffle = _kernels.SHUFFLE_RNG if self.shuffle else _kernels.SHUFFLE_NONE
            self._epoch_config = {
                "batch_size": self.batch_size,
                "shuffle": _kernels.SHUFFLE_GIVEN if self.order is not None else shuffle,
                "metric": _kernels.METRIC_IDS[self.metric], "block_rows": self._block,
                "n_threads": self._threads, "stop_nonfinite": int(self.stop_nonfinite)}
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._workspaces = None
        self._stack.close()
        return False

    def _workspace(self, kind: int) -> np.ndarray:
        ws = self._workspaces.get(kind)
        if ws is None:  # one per update rule used: allocated once per fit
            spec = self.network.spec
            ws = np.empty(_kernels.train_workspace_size(
                spec.sizes, self.n_samples, self.batch_size, kind, self._block, self._threads,
                self._sparse_first), dtype=self.network.dtype)
            self._workspaces[kind] = ws
        return ws

    def run_epoch(self, optimizer, learning_rate: float) -> EpochResult:
        """One epoch of minibatch training in the compiled core."""
        net = self.network
        spec = net.spec
        optimizer.bind(net.n_params, net.dtype)
        config = optimizer.kernel_config(learning_rate)
        if self.order is not None:
            self._order[:] = self.order(self._epochs)
        X, csr = (self.X, self._nonzeros or ()) if self._csr is None else (None, self._csr)
        total, wsum, correct, status, batch_total = _kernels.train_epoch(
            net.params, spec.sizes, spec.acts, spec.loss, X, self.Y, self.sample_weight,
            self._order, net.rng_state, config, optimizer.state, optimizer.step_counter,
            self._workspace(config["kind"]), self._epoch_config, *csr)
        self._epochs += 1
        return EpochResult(total, wsum, correct, status == _kernels.STATUS_OK,
                           batch_total / self.n_samples if self.batch_mean_loss else None)

    def loss_and_gradient(self):
        """``(C, grad C)`` over all the data, for full-batch solvers."""
        total, grad, wsum = self.loss_and_gradient_sums()
        grad /= grad.dtype.type(wsum)
        return total / wsum, grad

    def loss_and_gradient_sums(self):
        """``(sum_i w_i C_i, sum_i w_i grad C_i, sum_i w_i)`` over all the data (checked
        once, when the source was made)."""
        if self._nonzeros is not None:
            return self.network._loss_grad(self.X, self.Y, self.sample_weight, True, False,
                                           nonzeros=self._nonzeros)
        return self.network.loss_and_gradient_sums(self.X, self.Y, self.sample_weight,
                                                   check=False)


def _callbacks_stop(callbacks, epoch, logs) -> bool:
    """Every callback's ``on_epoch_end`` (each with its own copy of ``logs``); whether
    one asked to stop (returned True or raised StopTraining).  All of them run
    either way."""
    stop = False
    for cb in callbacks:
        try:
            if cb.on_epoch_end(epoch, dict(logs)) is True:
                stop = True
        except StopTraining:
            stop = True
    return stop


class Trainer:
    """Runs epochs of ``data`` with ``optimizer``, then the callbacks, for ``epochs`` epochs.

    Parameters
    ----------
    network : nncore.Network
        Its parameters are trained in place; its ``history`` gets one entry per
        epoch, its ``epochs_done`` counts them over every fit and its
        ``rng_state`` carries the shuffling stream on.
    data : LocalData or another source (see the module's docstring)
    optimizer : nncore.optimizers.Optimizer
    epochs : int
    callbacks : list of callbacks (see :mod:`nncore.callbacks`)
    validation : (X_val, Y_val) or None
        Measured after every epoch as ``val_loss`` (and ``val_accuracy``).
    on_divergence : {"raise", "warn", "continue"}
        What a NaN or infinite loss does: restore the last finite epoch and raise
        :class:`DivergenceError` or warn, or (scikit-learn's way, for a source
        built with ``stop_nonfinite=False``) nothing: training goes on.

    Attributes
    ----------
    log_keys : list of str
        What every epoch's logs hold.
    completed : bool
        Whether training ended normally (after its epochs, stopped by a
        callback, or by a divergence with ``on_divergence="warn"``).
    """

    def __init__(self, network, data, optimizer, *, epochs: int, callbacks=(),
                 validation=None, on_divergence: str = "raise"):
        if on_divergence not in ("raise", "warn", "continue"):
            raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
        self.network = network
        self.data = data
        self.optimizer = optimizer
        self.epochs = epochs
        self.validation = validation
        self.on_divergence = on_divergence
        self.callbacks = [as_callback(cb) for cb in callbacks]
        self.n_samples = data.n_samples
        self.metric = data.metric
        self.full_batch = getattr(optimizer, "full_batch", False)
        if self.full_batch:  # an iteration over all the data: no rate, no minibatch counts
            keys = ["loss", "time"]
        else:
            keys = ["loss", "lr", "time"] + (["accuracy"] if self.metric else [])
        if validation is not None:
            keys += ["val_loss"] + (["val_accuracy"] if self.metric else [])
        self.log_keys = keys
        self.completed = False

    def run(self):
        """Train; returns the network."""
        history = History(self.network.history)
        callbacks = [history, *self.callbacks]
        self.completed = False
        begun = []
        try:
            for cb in callbacks:
                cb.on_train_begin(self)
                begun.append(cb)
            with self.data:
                if self.full_batch:
                    self._full_batch(history, callbacks)
                else:
                    self._epochs(history, callbacks)
            self.completed = True
        finally:
            for cb in begun:
                cb.on_train_end(self)
        return self.network

    def _epochs(self, history, callbacks):
        net, opt = self.network, self.optimizer
        snap = None
        for _ in range(self.epochs):
            epoch = net.epochs_done
            lr = opt.learning_rate_at(epoch)
            # Snapshot: a failed or interrupted epoch is rolled back whole.
            snap = self._snapshot(snap)
            mark = history.mark()
            t0 = time.perf_counter()
            try:
                result = self.data.run_epoch(opt, lr)
                # (scikit-learn's way trains on whatever the numbers became: no pass
                # over the parameters to look)
                finite = self.on_divergence == "continue" or (
                    result.finite and bool(np.isfinite(net.params).all()))
                if finite:
                    # The epoch counts once its whole record is written: an interrupt
                    # anywhere before that (a signal lands between bytecodes, e.g. in
                    # the validation loss) rolls the whole epoch back.
                    logs = self._logs(result, lr, time.perf_counter() - t0)
                    history.on_epoch_end(epoch, logs)
                    net.epochs_done += 1
            except BaseException:
                history.truncate(mark)
                net.epochs_done = epoch  # in case the interrupt followed the count
                self._restore(snap)
                raise
            if not finite:
                self._restore(snap)
                msg = (f"training diverged in epoch {epoch + 1}: the loss became NaN or "
                       f"infinite at learning rate {lr:g}. The parameters of the last "
                       f"finite epoch were restored; try a smaller learning_rate or "
                       f"scale the inputs (e.g. to [0, 1] or zero mean, unit variance).")
                if self.on_divergence == "raise":
                    raise DivergenceError(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=5)
                break
            if _callbacks_stop(callbacks[1:], epoch, logs):
                break

    def _full_batch(self, history, callbacks):
        """A full-batch solver's run: each of its iterations is logged as an epoch,
        with the callbacks after it; an interrupted run keeps the last iterate."""
        net, opt, data = self.network, self.optimizer, self.data
        mask = _layout.weights_mask(net.sizes)
        wd = opt.weight_decay
        last = {"x": net.params.astype(np.float64), "t": time.perf_counter()}

        def fun(x):
            net.params[:] = x
            loss, grad = data.loss_and_gradient()
            grad = np.asarray(grad, dtype=np.float64)
            if wd:
                w = x[mask]
                loss = loss + 0.5 * wd * float(w @ w)
                grad[mask] += wd * w
            return loss, grad

        def each(result):
            epoch = net.epochs_done
            net.params[:] = result.x
            mark = history.mark()
            try:
                logs = {"loss": float(result.fun), "time": time.perf_counter() - last["t"]}
                if self.validation is not None:
                    Xv, Yv = self.validation
                    logs["val_loss"] = net.loss(Xv, Yv)
                    if self.metric:
                        logs["val_accuracy"] = accuracy(net.predict(Xv), Yv, self.metric)
                history.on_epoch_end(epoch, logs)
                net.epochs_done += 1
            except BaseException:
                history.truncate(mark)
                net.epochs_done = epoch
                raise
            last["x"], last["t"] = result.x.copy(), time.perf_counter()
            if _callbacks_stop(callbacks[1:], epoch, logs):
                raise StopIteration

        try:
            result = opt.minimize(fun, last["x"], max_iter=opt.max_iter or self.epochs,
                                  callback=each)
        except BaseException:
            net.params[:] = last["x"]
            raise
        net.params[:] = result.x
        if not (np.isfinite(result.fun) and np.isfinite(net.params).all()):
            net.params[:] = last["x"]
            msg = ("L-BFGS diverged: the loss became NaN or infinite. The parameters of the "
                   "last finite iteration were restored; scale the inputs (e.g. to [0, 1] or "
                   "zero mean, unit variance).")
            if self.on_divergence == "raise":
                raise DivergenceError(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=5)

    def _logs(self, result: EpochResult, lr: float, seconds: float) -> dict:
        logs = {"loss": result.loss, "lr": lr, "time": seconds}
        if self.metric:
            logs["accuracy"] = result.correct / self.n_samples
        if self.validation is not None:
            Xv, Yv = self.validation
            logs["val_loss"] = self.network.loss(Xv, Yv)
            if self.metric:
                logs["val_accuracy"] = accuracy(self.network.predict(Xv), Yv, self.metric)
        return logs

    def _snapshot(self, prev):
        """What an epoch rolls back to (the parameters, the optimiser's state, the
        shuffling stream), written into prev's arrays where there is one: an epoch
        then copies them without asking for new memory, which the system zeroes
        first (a network of 26 million parameters, Adam: 630 MB an epoch, where
        fresh copies took 0.41 s of a 1.7 s epoch)."""
        net, opt = self.network, self.optimizer
        if prev is None:
            return net.params.copy(), opt.snapshot(), net.rng_state.copy()
        params, opt_snap, rng = prev
        np.copyto(params, net.params)
        np.copyto(rng, net.rng_state)
        into = getattr(opt, "_snapshot_into", None)
        return params, opt.snapshot() if into is None else into(opt_snap), rng

    def _restore(self, snap):
        params, opt_snap, rng = snap
        self.network.params[:] = params
        self.optimizer.restore(opt_snap)
        self.network.rng_state[:] = rng

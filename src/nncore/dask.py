"""Data-parallel training on Dask distributed: the lecture's "average over all the
training data" as a map-reduce over the workers that hold the data.

The cost ``C = sum_i w_i C_i / sum_i w_i`` and its gradient are sums over the
rows, divided once, so they split over blocks of rows: each worker computes the
loss sum, gradient sum and weight sum of the blocks it holds with nncore's
compiled kernels, the sums are added up and divided once (never a mean of block
means, so uneven blocks and sample weights give exactly the full-data mean).
What moves is the network's parameters out and the blocks' gradient sums back,
added up on the way; the rows stay on the workers that hold them::

    from distributed import Client
    import dask.array as da
    import nncore.dask

    client = Client()                                    # or Client("tcp://scheduler:8786")
    X = da.from_zarr("features.zarr")                    # chunked by rows
    y = da.from_zarr("labels.zarr")
    clf = nncore.dask.MLPClassifier(hidden_layer_sizes=(100,), max_iter=50).fit(X, y)
    clf.predict(X)                                       # a dask array, computed blockwise

:func:`loss_and_gradient` is the distributed ``Network.loss_and_gradient``;
:class:`DaskData` is the data source :class:`nncore.training.Trainer` trains on
(full-batch solvers and minibatch optimisers); :class:`MLPClassifier` and
:class:`MLPRegressor` are the drop-in estimators of :mod:`nncore.sklearn` (the
same parameters and mathematics; ``lbfgs`` is the default here) fitted on dask
arrays or dask DataFrames on the current ``distributed.Client``'s workers.

How data moves
--------------
* At the start of a fit the inputs are checked and kept in the workers' memory
  (``persist``), one block per row chunk; nothing of X comes to the client.
* Every evaluation sends the parameter vector once (one task holding it; the
  workers fetch it from each other), runs one task per block on the worker
  holding the block (BLAS and nncore on one thread inside it: a Dask worker's
  parallelism is its threads), and adds the blocks' sums in a tree of tasks of
  :data:`SPLIT_EVERY` consecutive blocks; the client receives one gradient.
  That is one round trip per evaluation (measured in ``docs/dask.md``).
* ``lbfgs``: SciPy's L-BFGS-B runs on the client, each function evaluation one
  distributed sum over all the rows.  This is where a cluster pays: every
  evaluation works through all the data.
* ``sgd`` / ``adam``: every minibatch's gradient is summed over the blocks
  holding its rows and the optimiser steps on the client: one round trip per
  minibatch.  That pays only for large minibatches (thousands of rows); at the
  default 200 rows the round trip dominates, and one machine is faster.

Determinism and faults
----------------------
The blocks' sums are added in block order (consecutive groups of
:data:`SPLIT_EVERY`, then the groups' sums alike), a tree whose shape depends only
on the number of blocks: results do not depend on the number of workers, on
where blocks live or on which finishes first.  Every task is in the graph, so a
worker that dies (its nanny starts a new one) loses nothing that cannot be
recomputed: Dask recomputes its blocks from the graph and the fit ends with the
same parameters.  A lost scheduler raises :class:`SchedulerLostError`; the
estimator keeps the parameters of its last completed step (the last L-BFGS
iteration; for ``sgd``/``adam`` the last completed epoch, as epochs are atomic).

What the estimators support on dask input
-----------------------------------------
``fit``, ``warm_start`` and ``partial_fit`` (one epoch over the blocks; with
``lbfgs`` the regressor's runs a whole fit, as scikit-learn's), sample weights
(a dask array or Series, a NumPy array or a number), dask DataFrames (feature
names are kept).  Refused: ``early_stopping=True`` with ``sgd``/``adam`` (its
validation score would gather the held-out rows on the client every epoch; hold
out a validation set yourself), asynchronous clients.  Accuracy is not counted
during training (``network_.history`` has the loss).  On NumPy input every
method behaves as the drop-in's, in this process.

Blocks may be scipy.sparse matrices or arrays (CSR best; dask-ml's
``HashingVectorizer`` gives such blocks of text features): each worker trains
and predicts from its blocks' nonzeros as the drop-in does on sparse input, and
no block is ever densified whole.

Needs ``pip install "nncore[dask]"`` (dask, distributed, scikit-learn,
threadpoolctl); ``import nncore`` does not import it.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import uuid
import warnings
from numbers import Real

import numpy as np

try:
    import dask
    import dask.array as da
    import distributed
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "nncore.dask needs dask[array] and distributed (pip install 'nncore[dask]'); "
        f"importing them failed: {exc}"
    ) from exc
try:
    from sklearn.exceptions import DataConversionWarning
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nncore.dask needs scikit-learn >= 1.7 (pip install 'nncore[dask]'); "
        f"importing it failed: {exc}"
    ) from exc

from nncore import _kernels, _layout, _parallel, _sklearn_mlp, _validation
from nncore._sklearn_base import refuse_dates, refuse_text_targets
from nncore.network import Network
from nncore.training import EpochResult, Trainer

__all__ = ["loss_and_gradient", "loss_and_gradient_sums", "DaskData", "MLPClassifier",
           "MLPRegressor", "SchedulerLostError", "SPLIT_EVERY"]

#: blocks' sums are added in groups of this many consecutive blocks, then the
#: groups' sums alike: a tree of depth log_8(blocks) whose shape depends only on
#: the number of blocks (dask's own reductions combine 8 or 16 at a time)
SPLIT_EVERY = 8


class SchedulerLostError(ConnectionError):
    """The client lost its connection to the Dask scheduler during a computation."""


# ---------------------------------------------------------------- on the workers

_local = threading.local()
_blas_lock = threading.Lock()
_blas_state = {"users": 0, "limiter": None}


@contextlib.contextmanager
def _single_threaded():
    """BLAS and nncore's own threads on one thread while a task computes.

    A Dask worker runs as many tasks at once as it has threads; a BLAS or OpenMP
    pool inside each would put several threads on every core.  BLAS's limit is
    process-wide, so it is held while any of this process's tasks computes and
    restored when the last one ends; OpenMP's is per thread.  Without
    threadpoolctl the worker's environment decides (Dask's nanny starts workers
    with OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS set to 1)."""
    ctl = _parallel._controller()
    if ctl is False:
        yield
        return
    with _blas_lock:
        if _blas_state["users"] == 0:
            _blas_state["limiter"] = ctl.limit(limits=1, user_api="blas")
        _blas_state["users"] += 1
    try:
        with ctl.limit(limits=1, user_api="openmp"):
            yield
    finally:
        with _blas_lock:
            _blas_state["users"] -= 1
            if _blas_state["users"] == 0:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def _config(network) -> tuple:
    """What a worker needs to rebuild ``network`` without its parameters."""
    return (tuple(int(n) for n in network.sizes), tuple(network.activations),
            network.loss_name, network.dtype.name)


def _worker_network(config) -> Network:
    """This thread's network of ``config``: built once, its parameters overwritten
    by every task (one per worker thread, so concurrent tasks never share one)."""
    nets = _local.__dict__.setdefault("networks", {})
    net = nets.get(config)
    if net is None:
        sizes, acts, loss, dtype = config
        if len(nets) >= 8:
            nets.clear()
        net = nets[config] = Network(list(sizes), activation=list(acts[:-1]), output=acts[-1],
                                     loss=loss, dtype=dtype, seed=0)
    return net


def _prepare_block(config, X, Y, sample_weight, where):
    """One block as the kernels take it, checked once per fit: ``(X, Y, weights)``;
    ``where`` names the block in an error (its rows count from its start)."""
    try:
        with _single_threaded():
            net = _worker_network(config)
            if X.shape[0] == 0:  # (never summed; the sparse check refuses 0 rows)
                return X, Y, None
            X, Y = net.check_data(X, Y)
            sw = _validation.check_sample_weight(sample_weight, X.shape[0], net.dtype)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return X, Y, sw


def _parameters(params):
    return params


def _block_sums(config, params, block, rows):
    """``(sum w_i C_i, sum w_i grad C_i, sum w_i)`` over a block's ``rows`` (a slice
    or indices; None: all of them), the gradient in float64."""
    X, Y, sw = block
    if rows is not None:
        X, Y = X[rows], Y[rows]
        sw = None if sw is None else sw[rows]
    with _single_threaded():
        net = _worker_network(config)
        net.params[:] = params
        total, grad, wsum = net.loss_and_gradient_sums(X, Y, sw, check=False)
    return float(total), grad.astype(np.float64), float(wsum)


def _add_sums(*parts):
    """The sums of consecutive blocks, added left to right."""
    total, grad, wsum = parts[0]
    grad = grad.copy()
    for t, g, w in parts[1:]:
        total += t
        grad += g
        wsum += w
    return total, grad, wsum


def _predict_block(X, estimator, method, empty):
    if X.shape[0] == 0:  # (dask's blocks may be empty; scikit-learn refuses 0 rows)
        return empty
    with _single_threaded():
        return getattr(estimator, method)(X)


# ---------------------------------------------------------------- on the client

def _current_client():
    """The distributed.Client computations go to (the current one)."""
    try:
        client = distributed.default_client()
    except ValueError:
        raise ValueError(
            "nncore.dask computes on a Dask cluster: start a distributed.Client first, e.g. "
            "Client() for a cluster on this machine or Client('tcp://scheduler:8786') for a "
            "running one") from None
    if client.asynchronous:
        raise ValueError("nncore.dask needs a synchronous distributed.Client (asynchronous=False)")
    return client


#: seconds between looks at the client's connection while a result is awaited
_POLL_SECONDS = 0.5
#: what a wait that timed out raises (asyncio's differs from the builtin before Python 3.11)
_TIMEOUTS = (TimeoutError, distributed.TimeoutError)


def _lost(client) -> SchedulerLostError:
    address = getattr(getattr(client, "scheduler", None), "address", None) or "?"
    return SchedulerLostError(
        f"lost the connection to the Dask scheduler at {address} (client status "
        f"{client.status!r}): what the cluster held is gone.  An estimator keeps the "
        f"parameters of its last completed step (the last L-BFGS iteration; for sgd and adam "
        f"the last completed epoch); connect a new Client and fit again (warm_start=True "
        f"continues from there)")


def _check_connected(client):
    if client.status != "running":
        raise _lost(client)


def _result(client, future):
    """The future's result; a lost scheduler becomes SchedulerLostError at once.

    distributed cancels the futures it knows of when the connection drops, but a
    future submitted while the client is reconnecting waits until it gives up
    (``distributed.comm.timeouts.connect``, 30 s by default): hence the polling.
    The poll waits on the future's own done callback, and the outcome is taken
    once it is done: ``future.result(timeout=...)`` races with a result that
    arrives as the timeout expires (a TimeoutError, or distributed's own error,
    for a finished computation).  A TimeoutError raised then is the
    computation's own."""
    finished = threading.Event()
    future.add_done_callback(lambda _: finished.set())
    while not finished.wait(_POLL_SECONDS):
        _check_connected(client)
    try:
        return future.result()
    except (distributed.CancelledError, OSError) as exc:
        if client.status != "running" or \
                getattr(exc, "reason", None) == "scheduler-connection-lost":
            raise _lost(client) from exc
        raise


def _is_dask(obj) -> bool:
    return dask.is_dask_collection(obj)


def _as_dask_array(obj, name):
    """A dask collection as a dask array (DataFrame and Series columns in order)."""
    if isinstance(obj, da.Array):
        return obj
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array()
    raise TypeError(f"{name} must be a dask array, DataFrame or Series, got {type(obj).__name__}")


def _known_rows(arr):
    """``arr`` with its row chunk sizes known (counted on the workers if not)."""
    if any(np.isnan(c) for c in arr.chunks[0]):
        arr = arr.copy()  # compute_chunk_sizes sets them in place: not on the caller's array
        arr.compute_chunk_sizes()
    return arr


def _aligned(arr, X, name):
    """``arr`` (dask or NumPy, rows first) chunked by rows as X is."""
    if not _is_dask(arr):
        arr = np.asarray(arr)
        if arr.shape[:1] != (X.shape[0],):
            raise ValueError(f"{name} has {arr.shape[0] if arr.ndim else 0} rows, X has "
                             f"{X.shape[0]}")
        return da.from_array(arr, chunks=(X.chunks[0],) + tuple((n,) for n in arr.shape[1:]))
    arr = _known_rows(_as_dask_array(arr, name))
    if arr.shape[0] != X.shape[0]:
        raise ValueError(f"{name} has {arr.shape[0]} rows, X has {X.shape[0]}")
    if arr.ndim == 2 and arr.numblocks[1] > 1:
        arr = arr.rechunk({1: -1})
    return arr if arr.chunks[0] == X.chunks[0] else arr.rechunk({0: X.chunks[0]})


class _Blocks:
    """The prepared blocks of one fit on the cluster (futures, in row order) and the
    distributed sums over them."""

    def __init__(self, client, config, X, Y, sample_weight):
        self.client, self.config = client, config
        xs = X.to_delayed().ravel()
        ys = Y.to_delayed().ravel()
        ws = [None] * len(xs) if sample_weight is None else sample_weight.to_delayed().ravel()
        self.bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.intp)
        prepare = dask.delayed(_prepare_block)
        self.futures = client.compute([
            prepare(config, x, y, w, f"block {k} (rows {self.bounds[k]} to "
                                     f"{self.bounds[k + 1] - 1})")
            for k, (x, y, w) in enumerate(zip(xs, ys, ws))])
        # the blocks in place before the first evaluation, so that its tasks go where
        # the data is; a block that failed its checks raises its error here
        while True:
            try:
                distributed.wait(self.futures, timeout=_POLL_SECONDS)
                break
            except _TIMEOUTS:
                _check_connected(client)
        for future in self.futures:
            if future.status == "error":
                _result(client, future)

    def sums(self, params, selection):
        """``(loss sum, float64 gradient sum, weight sum)`` at ``params`` over
        ``selection``: ``(block, rows)`` pairs in block order."""
        client, tag = self.client, uuid.uuid4().hex
        _check_connected(client)
        p = client.submit(_parameters, np.array(params), key=f"nncore-params-{tag}")
        parts = [client.submit(_block_sums, self.config, p, self.futures[k], rows,
                               key=f"nncore-block-sums-{tag}-{k}") for k, rows in selection]
        level = 0
        while len(parts) > 1:
            parts = [client.submit(_add_sums, *parts[i:i + SPLIT_EVERY],
                                   key=f"nncore-add-sums-{tag}-{level}-{i}")
                     for i in range(0, len(parts), SPLIT_EVERY)]
            level += 1
        return _result(client, parts[0])

    def all_rows(self):
        return [(k, None) for k in range(len(self.futures))
                if self.bounds[k + 1] > self.bounds[k]]

    def release(self):
        self.futures = None


class DaskData:
    """Rows held by a Dask cluster, as a data source of :class:`nncore.training.Trainer`.

    Full-batch solvers get the distributed sums over all the rows
    (:meth:`loss_and_gradient_sums`); minibatch optimisers get epochs in which
    every minibatch's gradient is summed over the blocks holding its rows and
    the optimiser steps in this process (:meth:`run_epoch`), exactly as the
    compiled epoch steps after each minibatch.

    Parameters
    ----------
    network : nncore.Network
    X : dask array, shape (n_samples, n_features)
        Chunked by rows: each row chunk is a block, computed on its worker.
        Blocks may be NumPy arrays or scipy.sparse matrices (trained from their
        nonzeros, see :meth:`nncore.Network.loss_and_gradient`).
    Y : dask array or ndarray, shape (n_samples, n_outputs) or (n_samples,)
        Rechunked to X's row chunks if need be.
    sample_weight : dask array, ndarray or None
    batch_size : int or None
        Rows per minibatch of :meth:`run_epoch` (None: all of them).
    shuffle : bool
        Reshuffle before every epoch from the network's shuffling stream (the
        permutation the compiled epoch draws).
    order : callable, optional
        ``order(epoch)`` gives the permutation of the rows for that epoch;
        replaces ``shuffle``.
    stop_nonfinite : bool
        End an epoch at its first NaN or infinite minibatch loss.
    batch_mean_loss : bool
        Account the epoch's loss as scikit-learn does (see
        :class:`nncore.training.LocalData`).
    client : distributed.Client, optional
        The current client by default.

    Notes
    -----
    The blocks are checked (finite, the network's dtype) and kept on the
    workers while the source is entered; accuracy is not counted (``metric``
    is None).
    """

    metric = None

    def __init__(self, network, X, Y, sample_weight=None, *, batch_size=None, shuffle=False,
                 order=None, stop_nonfinite=True, batch_mean_loss=False, client=None):
        self.network = network
        self.client = client if client is not None else _current_client()
        if not isinstance(X, da.Array):
            raise TypeError(f"X must be a dask array, got {type(X).__name__}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (rows, features), got {X.ndim}-D")
        if X.shape[1] != network.sizes[0]:
            raise ValueError(f"X has {X.shape[1]} columns, the network takes "
                             f"{network.sizes[0]} inputs")
        X = _known_rows(X)
        if X.shape[0] == 0:
            raise ValueError("X has no rows: the loss is a mean over at least one")
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        Y = _aligned(Y, X, "Y")
        if Y.ndim == 1:
            Y = Y.reshape((-1, 1))
        if sample_weight is not None:
            sample_weight = _aligned(sample_weight, X, "sample_weight")
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.n_samples = int(X.shape[0])
        if batch_size is not None:
            batch_size = _validation.check_positive(batch_size, "batch_size", integer=True)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.order = order
        self.stop_nonfinite = bool(stop_nonfinite)
        self.batch_mean_loss = bool(batch_mean_loss)
        self._blocks = None
        self._epochs = 0

    def __enter__(self):
        self._blocks = _Blocks(self.client, _config(self.network), self.X, self.Y,
                               self.sample_weight)
        return self

    def __exit__(self, *exc):
        if self._blocks is not None:
            self._blocks.release()
        self._blocks = None
        return False

    @contextlib.contextmanager
    def _entered(self):
        if self._blocks is not None:
            yield
        else:
            with self:
                yield

    def loss_and_gradient_sums(self):
        """``(sum_i w_i C_i, sum_i w_i grad C_i, sum_i w_i)`` over all the rows, at the
        network's current parameters; the gradient in float64."""
        with self._entered():
            return self._blocks.sums(self.network.params, self._blocks.all_rows())

    def loss_and_gradient(self):
        """``(C, grad C)`` over all the rows (the gradient in float64)."""
        total, grad, wsum = self.loss_and_gradient_sums()
        return total / wsum, grad / wsum

    def _permutation(self):
        n = self.n_samples
        if self.order is not None:
            perm = np.asarray(self.order(self._epochs), dtype=np.intp)
            if perm.shape != (n,) or (n and (perm.min() < 0 or perm.max() >= n)):
                raise ValueError(f"order({self._epochs}) must give {n} row indices in [0, {n})")
            return perm
        if self.shuffle:
            perm = np.empty(n, dtype=np.intp)
            _kernels.shuffle_order(perm, self.network.rng_state)
            return perm
        return None

    def _minibatches(self, perm):
        """Each minibatch's ``(rows, selection)``: its row count and its
        ``(block, local rows)`` pairs in block order."""
        n, bounds = self.n_samples, self._blocks.bounds
        size = self.batch_size or max(n, 1)
        if perm is not None:
            block_of = np.searchsorted(bounds, perm, side="right") - 1
            local = perm - bounds[block_of]
        for start in range(0, n, size):
            stop = min(start + size, n)
            if perm is None:
                first = np.searchsorted(bounds, start, side="right") - 1
                last = np.searchsorted(bounds, stop - 1, side="right") - 1
                selection = []
                for k in range(first, last + 1):
                    lo, hi = max(start, bounds[k]) - bounds[k], min(stop, bounds[k + 1]) - bounds[k]
                    if hi > lo:
                        selection.append((k, slice(int(lo), int(hi))))
            else:
                blocks, rows = block_of[start:stop], local[start:stop]
                selection = [(int(k), rows[blocks == k]) for k in np.unique(blocks)]
            yield stop - start, selection

    def run_epoch(self, optimizer, learning_rate: float) -> EpochResult:
        """One epoch of minibatch training: per minibatch, its gradient summed on the
        workers, then ``optimizer.step`` here (see :meth:`nncore.optimizers.Optimizer.step`)."""
        net = self.network
        optimizer.bind(net.n_params, net.dtype)
        alpha = optimizer.kernel_config(learning_rate)["alpha"]
        mask = _layout.weights_mask(net.sizes)
        total = wsum = batch_total = 0.0
        finite = True
        with self._entered():
            perm = self._permutation()
            for rows, selection in self._minibatches(perm):
                loss, grad, bw = self._blocks.sums(net.params, selection)
                if not np.isfinite(loss):
                    finite = False
                    if self.stop_nonfinite:
                        break
                sq = 0.0
                if alpha:  # |W|^2 before the update
                    weights = net.params[mask]
                    sq = float(weights @ weights)
                total += loss
                wsum += bw
                if bw > 0:
                    grad /= bw
                    optimizer.step(net, grad, learning_rate=learning_rate, batch_weight=bw)
                with np.errstate(divide="ignore", invalid="ignore"):
                    # (a minibatch of weight 0 gives NaN here, as scikit-learn's 0 / 0)
                    batch_total += rows * float(np.float64(loss + 0.5 * alpha * sq) / bw)
        self._epochs += 1
        return EpochResult(total, wsum, 0, finite,
                           batch_total / self.n_samples if self.batch_mean_loss else None)


def loss_and_gradient_sums(network, X, Y, sample_weight=None):
    """``(sum_i w_i C_i, sum_i w_i grad C_i, sum_i w_i)`` over rows held by a Dask
    cluster: :meth:`nncore.Network.loss_and_gradient_sums` on the workers.

    Parameters
    ----------
    network : nncore.Network
    X : dask array, shape (n_samples, n_features), chunked by rows
    Y : dask array, shape (n_samples, n_outputs) or (n_samples,)
    sample_weight : dask array of shape (n_samples,), optional

    Returns
    -------
    loss_sum : float
    grad_sum : ndarray of float64, shape (n_params,)
    weight_sum : float

    Notes
    -----
    Each block's sums are computed by the compiled kernels on the worker that
    holds it (its rows checked there: finite, of the network's dtype) and added
    in block order (see :data:`SPLIT_EVERY`); X never comes to the client.
    """
    with DaskData(network, X, Y, sample_weight) as data:
        return data.loss_and_gradient_sums()


def loss_and_gradient(network, X, Y, sample_weight=None):
    """``(C, grad C)`` over rows held by a Dask cluster: :meth:`nncore.Network.loss_and_gradient`
    computed by the workers that hold the blocks of X.

    The blocks' loss, gradient and weight sums are added, then divided once, so
    the result equals ``network.loss_and_gradient`` on the concatenated rows to
    floating-point rounding, also for uneven blocks and with sample weights.

    Parameters
    ----------
    network : nncore.Network
    X : dask array, shape (n_samples, n_features), chunked by rows
    Y : dask array, shape (n_samples, n_outputs) or (n_samples,)
        Rechunked to X's row chunks if they differ (a NumPy array is accepted).
    sample_weight : dask array of shape (n_samples,), optional

    Returns
    -------
    loss : float
    grad : ndarray, shape (n_params,)
        In the layout and dtype of ``network.params``.

    Examples
    --------
    >>> import dask.array as da, numpy as np, nncore, nncore.dask
    >>> from distributed import Client
    >>> client = Client(processes=False)                  # doctest: +SKIP
    >>> X = da.random.random((10_000, 4), chunks=2_500)   # doctest: +SKIP
    >>> Y = da.random.random((10_000, 1), chunks=2_500)   # doctest: +SKIP
    >>> net = nncore.Network([4, 8, 1], output="identity", seed=0)
    >>> loss, grad = nncore.dask.loss_and_gradient(net, X, Y)  # doctest: +SKIP
    """
    total, grad, wsum = loss_and_gradient_sums(network, X, Y, sample_weight)
    return total / wsum, (grad / wsum).astype(network.dtype, copy=False)


# ---------------------------------------------------------------- the estimators

class _DaskMLP:
    """What the two estimators add to the drop-in's: its hooks on dask input."""

    # -- input

    def _dask_features(self, X, reset):
        """X as a float dask array chunked by rows only (feature names checked, X
        not computed)."""
        for dtype in getattr(X, "dtypes", []) if not isinstance(X, da.Array) else []:
            if getattr(dtype, "kind", None) in ("M", "m"):  # a DataFrame's date column
                refuse_dates(np.empty(0, dtype=dtype))
        refuse_dates(X)
        if not isinstance(X, da.Array) and getattr(X, "ndim", 2) == 1:
            raise ValueError("Expected a 2D array (a dask DataFrame or array), got a Series or "
                             "1D array; reshape it with .to_frame() or [:, None]")
        # (a dask DataFrame's empty pandas twin: scikit-learn reads the names from it)
        validate_data(self, X if isinstance(X, da.Array) else getattr(X, "_meta", X),
                      skip_check_array=True, reset=reset)
        X = _as_dask_array(X, "X")
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got {X.ndim}D array instead: X must be "
                             f"(n_samples, n_features)")
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported")
        if X.dtype not in (np.float64, np.float32):
            X = X.astype(np.float64)
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        return X

    def _dask_targets(self, y, X):
        y = _aligned(y, X, "y")
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples, ), for example using ravel().",
                          DataConversionWarning, stacklevel=4)
            y = y[:, 0]
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1D or 2D, got {y.ndim}D")
        return y

    def _dask_input(self, X, y, incremental, reset):
        """The checked, persisted X and y (y as the drop-in's _validate_input gives
        it back) and what the checks computed on the workers."""
        if self.early_stopping and self.solver in _sklearn_mlp._STOCHASTIC_SOLVERS \
                and not incremental:
            raise ValueError(
                "early_stopping=True is not supported on dask input: its validation score "
                "would gather the held-out rows on the client every epoch. Hold out a "
                "validation set and score it yourself, or train on NumPy arrays")
        client = _current_client()
        X = _known_rows(client.persist(self._dask_features(X, reset)))
        y = client.persist(self._dask_targets(y, X))
        if X.shape[0] < 1:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum "
                             f"of 1 is required.")
        return client, X, y

    def _check_on_workers(self, client, X, checks):
        """Compute X's finite check and the targets' ``checks`` in one go."""
        results = client.gather(client.compute([_all_finite(X), *checks]))
        if not results[0]:
            raise ValueError("Input X contains NaN or infinity (checked on the workers).")
        return results[1:]

    def _check_sample_weight(self, sample_weight, X):
        if not isinstance(X, da.Array):
            return super()._check_sample_weight(sample_weight, X)
        if isinstance(sample_weight, Real):
            return da.full(X.shape[0], sample_weight, dtype=X.dtype, chunks=(X.chunks[0],))
        sw = _aligned(sample_weight, X, "sample_weight")
        if sw.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {sw.ndim}D array.")
        if sw.dtype not in (np.float64, np.float32):
            sw = sw.astype(np.float64)
        client = _current_client()
        finite, nonzero = client.gather(client.compute([da.isfinite(sw).all(), (sw != 0).any()]))
        if not finite:
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if not nonzero:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sw

    def _float_targets(self, y, dtype):
        if isinstance(y, da.Array):
            return y.astype(dtype)
        return super()._float_targets(y, dtype)

    # -- training: the drop-in's two hooks

    def _full_batch_data(self, net, X, Y, sample_weight):
        if not isinstance(X, da.Array):
            return super()._full_batch_data(net, X, Y, sample_weight)
        return DaskData(net, X, Y, sample_weight)

    def _train_stochastic(self, net, X, Y, sample_weight, *, epochs, batch_size, order,
                          callbacks):
        if not isinstance(X, da.Array):
            return super()._train_stochastic(net, X, Y, sample_weight, epochs=epochs,
                                             batch_size=batch_size, order=order,
                                             callbacks=callbacks)
        data = DaskData(net, X, Y, sample_weight, batch_size=batch_size, order=order,
                        stop_nonfinite=False, batch_mean_loss=True)
        net.optimizer = self._optimizer
        Trainer(net, data, self._optimizer, epochs=epochs, callbacks=callbacks,
                on_divergence="continue").run()

    # -- predicting

    def _checked_features(self, X, *, rows_known=False):
        """A fitted estimator's dask input as a float dask array (rows counted if
        ``rows_known``)."""
        check_is_fitted(self)
        X = self._dask_features(X, reset=False)
        return _known_rows(X) if rows_known else X

    def _blockwise(self, X, method):
        """``method`` of the plain drop-in mapped over the blocks of X (checked)."""
        est = self.to_local()
        # the blocks are bare arrays: feature names were checked on the collection
        est.__dict__.pop("feature_names_in_", None)
        # what the workers do not need to predict: the optimiser's state vectors
        est.__dict__.pop("_optimizer", None)
        est.__dict__.pop("_best_params", None)
        est.__dict__.pop("_best_live", None)
        est.network_.optimizer = None
        sample = getattr(est, method)(np.zeros((1, X.shape[1]), dtype=X.dtype))
        if sample.ndim == 1:
            out = X.map_blocks(_predict_block, dask.delayed(est), method, empty=sample[:0],
                               drop_axis=1, meta=np.empty((0,), dtype=sample.dtype))
        else:
            out = X.map_blocks(_predict_block, dask.delayed(est), method, empty=sample[:0],
                               chunks=(X.chunks[0], (sample.shape[1],)),
                               meta=np.empty((0, 0), dtype=sample.dtype))
        return out

    def predict(self, X):
        """Predict with the trained network.

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes
            Dask input gives a dask array computed blockwise on the workers; any
            other input is predicted here, as by the drop-in.

        Returns
        -------
        y : dask array or ndarray, shape (n_samples,) or (n_samples, n_outputs)
        """
        if _is_dask(X):
            return self._blockwise(self._checked_features(X), "predict")
        return super().predict(X)

    def to_local(self):
        """The plain drop-in estimator (:mod:`nncore.sklearn`) with the same parameters
        and fitted state: it trains and predicts in this process, without Dask.

        Returns
        -------
        nncore.sklearn.MLPClassifier or nncore.sklearn.MLPRegressor
        """
        return _convert(self, self._local_class)

    @classmethod
    def from_local(cls, estimator):
        """This class's estimator with the parameters and fitted state of a plain
        drop-in one (``nncore.sklearn.MLPClassifier`` / ``MLPRegressor``).

        Parameters
        ----------
        estimator : nncore.sklearn.MLPClassifier or nncore.sklearn.MLPRegressor

        Returns
        -------
        estimator of this class
        """
        base = cls._local_class
        if not isinstance(estimator, base):
            raise TypeError(f"from_local takes an nncore.sklearn.{base.__name__}, got "
                            f"{type(estimator).__name__}")
        return _convert(estimator, cls)


def _convert(estimator, cls):
    """A copy of ``estimator`` (parameters and fitted state) as an instance of ``cls``."""
    state = copy.deepcopy(estimator.__getstate__())
    new = cls.__new__(cls)
    new.__setstate__(state)
    return new


def _init_doc(local_cls, extra):
    doc = local_cls.__doc__
    old = ("    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'\n"
           "        'lbfgs' is SciPy's L-BFGS-B on the full-batch loss computed by nncore's\n"
           "        compiled kernels; 'sgd' and 'adam' train one compiled epoch at a time.\n")
    new = ("    solver : {'lbfgs', 'sgd', 'adam'}, default='lbfgs'\n"
           "        'lbfgs' is SciPy's L-BFGS-B on the client, each evaluation of the loss\n"
           "        one distributed sum over all the rows; 'sgd' and 'adam' sum each\n"
           "        minibatch's gradient on the workers holding its rows and step on\n"
           "        the client (one round trip per minibatch: use large batches).\n")
    stopping = ("        Whether to stop when the validation score is not improving.\n")
    if old not in doc or stopping not in doc:
        raise RuntimeError("the drop-in's parameter documentation changed; update nncore.dask")
    doc = doc.replace(old, new).replace(stopping, stopping + (
        "        Refused on dask input with 'sgd' and 'adam' (the validation score would\n"
        "        gather the held-out rows on the client every epoch).\n"))
    body = doc[doc.index("    Parameters\n"):doc.index("    See Also\n")]
    return extra + "\n\n" + body + (
        "    See Also\n    --------\n    nncore.sklearn.MLPClassifier, "
        "nncore.sklearn.MLPRegressor, DaskData\n")


class MLPClassifier(_DaskMLP, _sklearn_mlp.MLPClassifier):
    __doc__ = _init_doc(_sklearn_mlp.MLPClassifier, """\
Multi-layer Perceptron classifier trained on a Dask cluster.

    :class:`nncore.sklearn.MLPClassifier` (scikit-learn's MLPClassifier on
    nncore's core) whose ``fit`` on dask arrays or DataFrames trains on the
    workers of the current ``distributed.Client`` (see :mod:`nncore.dask`), and
    whose ``predict``, ``predict_proba`` and ``score`` on dask input return dask
    arrays.  ``lbfgs`` is the default solver here.""")

    _local_class = _sklearn_mlp.MLPClassifier

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="lbfgs",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun)

    def _label_proxy(self, y):
        """y's labels as a small array (see _labels_like), computed on the workers."""
        client = _current_client()
        return _labels_like(_result(client, client.compute(da.unique(y))), y)

    def _validate_input(self, X, y, incremental, reset):
        if not _is_dask(X):
            return super()._validate_input(X, y, incremental, reset)
        client, X, y = self._dask_input(X, y, incremental, reset)
        uniques, = self._check_on_workers(client, X, [da.unique(y)])
        proxy = _labels_like(uniques, y)
        self._fit_or_check_classes(proxy, incremental)
        binarizer = self._label_binarizer
        n_out = binarizer.transform(proxy[:1]).shape[1]
        Y = y.map_blocks(_binarize, binarizer, n_out, dtype=bool,
                         chunks=(y.chunks[0], (n_out,)), new_axis=1 if y.ndim == 1 else None,
                         meta=np.empty((0, 0), dtype=bool))
        return X, Y

    @available_if(lambda est: est._check_solver())
    @_sklearn_mlp._fit_context
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with one epoch over the given data (one pass over the
        blocks on dask input).

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes
        y : dask array or Series, or an array
        sample_weight : dask array, array-like or float, default=None
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required for the first call.

        Returns
        -------
        self
        """
        if not _is_dask(X):
            return super().partial_fit(X, y, sample_weight=sample_weight, classes=classes)
        if _sklearn_mlp._check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            labels = _as_dask_array(y, "y") if _is_dask(y) else da.from_array(np.asarray(y))
            if labels.ndim == 2 and labels.shape[1] == 1:
                labels = labels[:, 0]
            proxy = self._label_proxy(labels)
            if type_of_target(proxy).startswith("multilabel"):
                self._label_binarizer.fit(proxy)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Probability estimates, columns in the order of ``classes_``.

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes

        Returns
        -------
        y_prob : dask array or ndarray, shape (n_samples, n_classes)
        """
        if _is_dask(X):
            return self._blockwise(self._checked_features(X), "predict_proba")
        return super().predict_proba(X)

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`.

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes

        Returns
        -------
        log_y_prob : dask array or ndarray, shape (n_samples, n_classes)
        """
        if _is_dask(X):
            return da.log(self.predict_proba(X))
        return super().predict_log_proba(X)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given data (subset accuracy for multilabel targets).

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes
        y : dask array or Series, or an array
        sample_weight : dask array or array-like, default=None

        Returns
        -------
        score : 0-d dask array (dask input) or float
        """
        if not _is_dask(X):
            return super().score(X, y, sample_weight=sample_weight)
        pred = self._blockwise(self._checked_features(X, rows_known=True), "predict")
        y = _aligned(y, pred, "y")
        correct = pred == y
        if correct.ndim == 2:
            correct = correct.all(axis=1)
        return _weighted_mean(correct.astype(np.float64), sample_weight, pred)


class MLPRegressor(_DaskMLP, _sklearn_mlp.MLPRegressor):
    __doc__ = _init_doc(_sklearn_mlp.MLPRegressor, """\
Multi-layer Perceptron regressor trained on a Dask cluster.

    :class:`nncore.sklearn.MLPRegressor` (scikit-learn's MLPRegressor on
    nncore's core) whose ``fit`` on dask arrays or DataFrames trains on the
    workers of the current ``distributed.Client`` (see :mod:`nncore.dask`), and
    whose ``predict`` and ``score`` on dask input return dask arrays.
    ``lbfgs`` is the default solver here.""")

    _local_class = _sklearn_mlp.MLPRegressor

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="lbfgs", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        super().__init__(
            loss=loss, hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun)

    def _validate_input(self, X, y, incremental, reset):
        if not _is_dask(X):
            return super()._validate_input(X, y, incremental, reset)
        client, X, y = self._dask_input(X, y, incremental, reset)
        refuse_text_targets(self, y)
        if y.dtype.kind not in "biuf":
            y = y.astype(np.float64)
        checks = [da.isfinite(y).all()] + ([(y < 0).any()] if self.loss == "poisson" else [])
        results = self._check_on_workers(client, X, checks)
        if not results[0]:
            raise ValueError("Input y contains NaN or infinity.")
        if self.loss == "poisson" and results[1]:
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return X, y

    def score(self, X, y, sample_weight=None):
        """The coefficient of determination R^2 (uniformly averaged over outputs).

        Parameters
        ----------
        X : dask array or DataFrame, or what the drop-in takes
        y : dask array or Series, or an array
        sample_weight : dask array or array-like, default=None

        Returns
        -------
        score : 0-d dask array (dask input) or float
        """
        if not _is_dask(X):
            return super().score(X, y, sample_weight=sample_weight)
        pred = self._blockwise(self._checked_features(X, rows_known=True), "predict")
        y = _aligned(y, pred, "y").astype(np.float64)
        pred64 = pred.astype(np.float64)
        if y.ndim == 1:
            y, pred64 = y[:, None], pred64[:, None]
        w = _weights(sample_weight, pred)[:, None]
        wsum = w.sum()
        mean = (w * y).sum(axis=0) / wsum
        numerator = (w * (y - pred64) ** 2).sum(axis=0)
        denominator = (w * (y - mean) ** 2).sum(axis=0)
        # scikit-learn's r2_score with force_finite: a constant target scores 1
        # when predicted exactly, else 0
        scores = da.where(denominator != 0, 1 - numerator / da.where(denominator != 0,
                                                                        denominator, 1),
                          da.where(numerator == 0, 1.0, 0.0))
        score = scores.mean()
        return da.where(da.isfinite(pred).all(), score, np.nan)


def _block_finite(block):
    values = block.data if _validation.is_sparse(block) else block
    return np.full((1, 1), bool(np.isfinite(values).all()))


def _all_finite(X):
    """Whether every value of X (dense or scipy.sparse blocks) is finite, a 0-d dask
    array: the stored values of a sparse block are checked, never a dense copy."""
    return X.map_blocks(_block_finite, dtype=bool, meta=np.empty((0, 0), dtype=bool),
                        chunks=tuple((1,) * n for n in X.numblocks)).all()


def _labels_like(uniques, y):
    """A small array with the label values of y, its dtype and its number of
    columns: what LabelBinarizer and type_of_target learn from y (the unique
    values, and whether it is an indicator matrix) is learnt from it alike."""
    uniques = np.unique(uniques)
    if (uniques.dtype.kind == "f" and not np.isfinite(uniques).all()) or \
            (uniques.dtype.kind == "O" and any(u != u for u in uniques)):
        raise ValueError("Input y contains NaN or infinity.")
    if y.ndim == 1:
        return uniques
    return np.repeat(uniques[:, None], y.shape[1], axis=1)


def _binarize(y, binarizer, n_out):
    if y.shape[0] == 0:  # (an empty block: scikit-learn refuses 0 rows)
        return np.zeros((0, n_out), dtype=bool)
    return binarizer.transform(y).astype(bool)


def _weights(sample_weight, like):
    if sample_weight is None:
        return da.ones(like.shape[0], chunks=(like.chunks[0],), dtype=np.float64)
    return _aligned(sample_weight, like, "sample_weight").astype(np.float64)


def _weighted_mean(values, sample_weight, like):
    w = _weights(sample_weight, like)
    return (values * w).sum() / w.sum()

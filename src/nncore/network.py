"""nncore.Network: a multilayer perceptron whose parameters are one vector."""

from __future__ import annotations

import contextlib
import math
import secrets
import threading
import time
import warnings

import numpy as np

from . import _kernels, _parallel, _validation, activations, losses, optimizers
from ._parallel import available_cpus

#: rows per chunk for predict/loss/gradient: large enough for BLAS to run near
#: its peak, small enough that the workspace stays a few MB.
CHUNK_ROWS = 512

#: ... but narrow networks on several threads take chunks of SMALL_CHUNK_ROWS
#: while those hold at most SMALL_CHUNK_WORK multiply-adds: such products run
#: unpacked in BLAS's small-matrix kernels (OpenBLAS), which each thread then
#: streams from memory at its own pace.  Measured, 784-30-10 predict over 60,000
#: rows on 2 threads: float64 55 ms in chunks of 32 against 67 ms in 512, float32
#: 26 against 31; on one thread the chunks of 32 lose (92 against 83 ms), and for
#: 784-100-10 (2.4 Mi multiply-adds per 32 rows) too (138 against 107 ms).
SMALL_CHUNK_ROWS = 32
SMALL_CHUNK_WORK = 2**20

#: predict/loss/gradient split the rows across threads (each chunk on one, BLAS
#: on one thread inside) from this many multiply-adds per pass.  Measured
#: (predict + gradient, 2 threads against 1 thread with 2-thread BLAS, float64):
#: 0.6-0.9x below 7 Mi multiply-adds (784-30-10 on 300 rows, 64-32-10 on 3,000),
#: 1.4-2.4x from 22 Mi up (784-30-10 on 60,000 rows: 1.59x; 784-256-256-10:
#: 1.20x).
PASS_WORK = 2**24

_MASK64 = (1 << 64) - 1

#: fit(blas_threads="auto") runs BLAS on one thread when the rows of each
#: product (a minibatch, or a cache block of one) times the largest
#: n_in * n_out of the network is below this.  Measured on a quiet
#: 2-core machine (one 2-epoch fit per setting, medians of 5): a second thread
#: lost or broke even up to about 1.5 Mi multiply-adds per product (784-30-10 at
#: batch 32: 0.98x; 784-256-256-10 at batch 8: 0.94x) and gained from about
#: 3 Mi (1.11-1.13x).
SINGLE_THREAD_WORK = 2**21

#: fit(n_threads="auto") splits a minibatch across threads only when every
#: thread gets at least this many rows.  Each minibatch the threads exchange the
#: parameters and their gradients between cores, a cost that grows with the
#: network while the work saved grows with the rows.  Measured on a quiet 2-core
#: machine (fit over 20,000 samples, 2 threads against 1): 784-30-10 float64
#: 0.93x at 8 rows per thread, 1.19x at 16, 1.50x at 32, 1.63x at 512; float32
#: 0.91x at 16, 1.26x at 32; 784-100-10 float64 0.76x at 16, 1.23x at 32,
#: float32 0.99x at 32, 1.12x at 64.
THREAD_ROWS = 32
#: ... and for wider networks (more parameters to exchange, and BLAS's own
#: threads, which split the weights, as the alternative) at least this many:
#: 784-256-256-10 with 2 data threads against 2 BLAS threads, float64 0.65x at
#: 16 rows per thread, 0.93x at 64, 1.08x at 128, 1.21x at 512; float32 1.09x at
#: 128, 1.26x at 512.
WIDE_THREAD_ROWS = 128
#: ... and at least this many multiply-adds (rows times sum_l n_l n_{l+1}), so
#: that tiny networks, whose minibatches take microseconds, stay on one thread:
#: 64-32-10 float64 gained 1.42x at 64 rows per thread (151,552 multiply-adds),
#: 1.82x at 512; 2-3-1 lost (0.28x-0.46x) at every batch size up to 1024.
THREAD_WORK = 2**17

#: rows per cache block in fit (None: chosen by _block_rows)
BLOCK_ROWS = None


def _block_rows(sizes, dtype, batch_size):
    """Rows of a minibatch that fit processes at a time (0: all of it).

    A network that does little arithmetic per input byte (784-30-10: 3.8
    multiply-adds per byte in float64) spends its large minibatches streaming
    the gathered inputs through memory twice, for the forward pass and for the
    weight gradient; in blocks of 32 rows they stay in cache between the two.
    Measured at batch 1024 on 784-30-10: float32 0.097 -> 0.081 s per epoch,
    float64 unchanged; on 784-256-256-10 (43 per byte) blocks only shrink
    the GEMMs and cost time, so wide networks run whole minibatches.
    """
    if BLOCK_ROWS is not None:
        return BLOCK_ROWS
    if batch_size > 32 and _narrow(sizes, dtype):
        return 32
    return 0


def _narrow(sizes, dtype):
    """Whether the network does so little arithmetic per byte of input (fewer than 16
    multiply-adds) that streaming the inputs, not the matrix products, sets its pace."""
    work_per_row = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return work_per_row < 16 * sizes[0] * np.dtype(dtype).itemsize


def _check_blas_threads(setting):
    if setting is None or setting == "auto":
        return setting
    if isinstance(setting, (int, np.integer)) and not isinstance(setting, bool) and setting >= 1:
        return int(setting)
    raise ValueError(f"blas_threads must be 'auto', a positive integer or None, got {setting!r}")


def _check_n_threads(setting):
    if setting == "auto":
        return setting
    if isinstance(setting, (int, np.integer)) and not isinstance(setting, bool) \
            and 1 <= setting <= _kernels.MAX_THREADS:
        return int(setting)
    raise ValueError(f"n_threads must be 'auto' or an integer from 1 to {_kernels.MAX_THREADS}, "
                     f"got {setting!r}")


def _n_threads(setting, sizes, dtype, batch_size, blas_setting="auto"):
    """Threads fit splits each minibatch across."""
    pinned = blas_setting in ("auto", 1) and _parallel.blas_pinnable()
    if setting != "auto":
        if setting > 1 and not pinned:
            warnings.warn(
                f"n_threads={setting} with BLAS free to start its own threads inside each of "
                f"nncore's: that oversubscribes the cores and can be many times slower; keep "
                f"blas_threads='auto' with threadpoolctl installed (pip install nncore[threads])"
                f" or start Python with OPENBLAS_NUM_THREADS=1", RuntimeWarning, stacklevel=4)
        return setting
    if not pinned or not _kernels._threads_usable():
        return 1
    work_per_row = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    rows = THREAD_ROWS if _narrow(sizes, dtype) else WIDE_THREAD_ROWS
    rows = max(rows, -(-THREAD_WORK // work_per_row))  # per thread, at least
    return int(max(1, min(available_cpus(), batch_size // rows)))


def _unpinned_threads(setting, n_threads):
    """Threads for a fit whose BLAS another Python thread holds (see
    _parallel.pinned_blas): "auto" falls back to one; an explicit count is kept."""
    if setting == "auto":
        return 1
    if _parallel.blas_pinnable():  # (without threadpoolctl _n_threads has warned)
        warnings.warn(
            f"n_threads={n_threads} while another Python thread's nncore threads hold BLAS's "
            f"thread limit: when that thread finishes, BLAS's threads start inside these and "
            f"oversubscribe the cores", RuntimeWarning, stacklevel=4)
    return n_threads


def _blas_threads(setting, rows, sizes, n_threads=1):
    """A context that limits the BLAS thread pools during fit (threadpoolctl);
    rows is the number of rows each matrix product handles; when fit's own
    n_threads > 1 each of them calls BLAS, so "auto" keeps BLAS on one."""
    if setting is None:
        return contextlib.nullcontext()
    if setting == "auto" and n_threads > 1:
        limit = 1
    elif setting == "auto":
        work = rows * max(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        if work >= SINGLE_THREAD_WORK:
            return contextlib.nullcontext()
        limit = 1
    else:
        limit = setting  # checked by _check_blas_threads before training starts
    return _parallel.blas_limit(limit)


def _shuffle_seed(seed: int) -> int:
    """Start of the shuffling stream: the seed through one step of Knuth's MMIX
    LCG, so it lands far from the initialisation stream (which starts at seed)."""
    return (seed * 6364136223846793005 + 1442695040888963407) & _MASK64


class StopTraining(Exception):
    """Raise from a callback to end ``fit`` after the current epoch."""


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite during ``fit``."""


class Network:
    """A multilayer perceptron ``a_l = act_l(b_l + W_l a_{l-1})``.

    Parameters
    ----------
    sizes : sequence of int
        Widths of every layer, inputs first: ``[2, 3, 1]`` is the lecture's
        2-3-1 network.
    activation : str or list of str, default "sigmoid"
        Activation of the hidden layers, one name for all or one per hidden
        layer: sigmoid, tanh, relu, leaky_relu, identity.
    output : str, default "sigmoid"
        Activation of the output layer: sigmoid, identity, softmax.
    loss : str, default "mse"
        ``"mse"`` is the lecture's cost: per sample ``sum_k (y~_k - y_k)^2``,
        summed over the outputs and not halved (PyTorch's ``MSELoss`` also
        divides by the number of outputs), averaged over samples.
        ``"cross_entropy"`` pairs with sigmoid (binary) or softmax (categorical)
        outputs.
    dtype : "float64" or "float32"
        Precision of the parameters and of every computation on them.
    seed : int or None
        Seeds the initial weights and the shuffling of ``fit``.  The same seed
        gives bit-identical parameters, and with the same data and settings a
        bit-identical trained network.  ``None`` draws a fresh seed, kept in
        ``self.seed``.

    Attributes
    ----------
    params : ndarray, shape (n_params,)
        The whole model as one vector, in the lecture's order: layer by layer,
        neuron by neuron, each neuron's bias followed by its incoming weights.
        For ``Network([2, 3, 1])`` it has 13 entries.
    weights, biases : list of ndarray
        Views into ``params``: ``weights[l]`` has shape ``(n_{l+1}, n_l)`` and
        ``biases[l]`` shape ``(n_{l+1},)``; writing through them changes ``params``.
    history : dict of lists
        Per-epoch logs of every ``fit`` so far: ``loss`` (mean per-sample cost
        over the epoch's minibatches, each measured before its update), ``lr``,
        ``time`` and, when they apply, ``accuracy``, ``val_loss``, ``val_accuracy``.
    meta : dict
        Free-form, JSON-serialisable metadata saved and loaded with the model
        (the command line keeps class labels and input scaling there).

    Notes
    -----
    Weights start uniform on ``[-limit, limit]`` chosen by the layer's
    activation (Glorot for sigmoid/tanh/identity/softmax, He for relu and
    leaky_relu; see :mod:`nncore.activations`), biases at zero.  The draws come
    from SplitMix64 seeded with ``seed``, so :class:`nncore.reference.Network`
    starts from exactly the same numbers.
    """

    def __init__(self, sizes, *, activation="sigmoid", output="sigmoid", loss="mse",
                 dtype="float64", seed=None):
        self.sizes = _validation.check_sizes(sizes)
        self.activations = activations.resolve(activation, output, len(self.sizes) - 1)
        self.loss_name = losses.resolve(loss, self.activations[-1], self.sizes[-1]).name
        self.dtype = _validation.check_dtype(dtype)
        if seed is None:
            seed = secrets.randbits(63)
        elif isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}")
        elif not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        self.seed = int(seed)
        self._build()
        self.params[:] = self._initial_params()
        self.history = {}
        self._counters = np.array([_shuffle_seed(self.seed), 0], dtype=np.uint64)
        self._opt = None  # (optimizer key, state array)
        self._epochs_done = 0
        self.meta = {}  # user metadata saved with the model (JSON-serialisable)

    # ------------------------------------------------------------ structure

    def _build(self):
        """Kernel descriptors, the parameter vector and its views."""
        self._sizes = np.array(self.sizes, dtype=np.intp)
        self._acts = np.array([activations.ACTIVATIONS[a].id for a in self.activations],
                              dtype=np.intc)
        self._loss_id = losses.LOSSES[self.loss_name].id
        self.params = np.zeros(_kernels.n_params(self._sizes), dtype=self.dtype)
        self.weights, self.biases = [], []
        pos = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            block = self.params[pos:pos + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
            self.biases.append(block[:, 0])
            self.weights.append(block[:, 1:])
            pos += block.size
        self._lock = threading.Lock()
        self._work_per_row = sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        self._ws_lengths = {}  # (rows, threads, gradient) -> pass workspace length

    def _initial_params(self) -> np.ndarray:
        draws = np.empty(sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])))
        _kernels.uniform(draws, np.array([self.seed], dtype=np.uint64))
        out = np.zeros(self.n_params)
        pos = used = 0
        for n_in, n_out, act in zip(self.sizes[:-1], self.sizes[1:], self.activations):
            limit = activations.init_limit(act, n_in, n_out)
            w = limit * (2.0 * draws[used:used + n_in * n_out] - 1.0)
            out[pos:pos + n_out * (n_in + 1)].reshape(n_out, n_in + 1)[:, 1:] = w.reshape(
                n_out, n_in)
            pos += n_out * (n_in + 1)
            used += n_in * n_out
        return out

    @property
    def n_params(self) -> int:
        return self.params.shape[0]

    @property
    def loss_function(self) -> str:
        return self.loss_name

    def set_params(self, values) -> Network:
        """Copy ``values`` into the parameter vector (the views stay valid)."""
        arr = _validation.check_array(np.asarray(values).reshape(1, -1) if np.ndim(values) == 1
                                      else values, name="params", dtype=self.dtype)
        if arr.size != self.n_params or arr.shape[0] != 1:
            raise ValueError(f"params must have {self.n_params} entries, got shape "
                             f"{np.shape(values)}")
        self.params[:] = arr[0]
        return self

    def __setattr__(self, name, value):
        # Assigning net.params copies into the existing vector so that the
        # weights/biases views keep pointing at the model.
        if name == "params" and "params" in self.__dict__:
            self.set_params(value)
        else:
            object.__setattr__(self, name, value)

    def __repr__(self):
        return (f"Network({list(self.sizes)}, activation={self.activations[:-1]!r}, "
                f"output={self.activations[-1]!r}, loss={self.loss_name!r}, "
                f"dtype={self.dtype.name!r}, seed={self.seed})")

    # pickling: the views and the lock are rebuilt, not stored
    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("weights", "biases", "_lock", "_sizes", "_acts", "params",
                              "_work_per_row", "_ws_lengths")}
        state["params"] = np.array(self.params)
        return state

    def __setstate__(self, state):
        params = state.pop("params")
        self.__dict__.update(state)
        self.dtype = np.dtype(self.dtype)
        self._build()
        self.params[:] = params

    # ------------------------------------------------------------ checking

    def _check_X(self, X, name="X"):
        return _validation.check_array(X, name=name, dtype=self.dtype, n_cols=self.sizes[0])

    def _check_XY(self, X, Y, names=("X", "Y")):
        X = self._check_X(X, names[0])
        Y = _validation.check_array(Y, name=names[1], dtype=self.dtype, n_cols=self.sizes[-1],
                                    one_col_1d=self.sizes[-1] == 1)
        _validation.check_rows(X, Y, names)
        return X, Y

    def _workspace(self, n_rows, n_threads=1, gradient=False):
        """Workspace for a pass over n_rows on n_threads: chunks of at most
        CHUNK_ROWS rows, few enough that every thread gets one."""
        rows = max(1, min(-(-n_rows // n_threads), CHUNK_ROWS))
        if n_threads > 1 and _narrow(self.sizes, self.dtype) \
                and SMALL_CHUNK_ROWS * self._work_per_row <= SMALL_CHUNK_WORK:
            rows = min(rows, SMALL_CHUNK_ROWS)
        key = (rows, n_threads, gradient)
        length = self._ws_lengths.get(key)
        if length is None:  # (one row at a time is a common call: spare it the layout)
            length = _kernels.pass_workspace_size(self._sizes, rows, n_threads, gradient)
            if len(self._ws_lengths) < 64:
                self._ws_lengths[key] = length
        return np.empty(length, dtype=self.dtype)

    def _pass_threads(self, n_rows):
        """Threads for predict / loss / gradient over n_rows: several only for
        passes of at least PASS_WORK multiply-adds."""
        work = n_rows * self._work_per_row
        if work < PASS_WORK or not _kernels._threads_usable() or not _parallel.blas_pinnable():
            return 1
        return min(available_cpus(), -(-n_rows // 64))  # at least 64 rows a thread

    def _run_pass(self, n_rows, kernel):
        """kernel(n_threads) on the threads _pass_threads picks, BLAS held to one
        thread inside them (one thread when another Python thread holds BLAS)."""
        nt = self._pass_threads(n_rows)
        if nt == 1:
            return kernel(1)
        with _parallel.pinned_blas() as pinned:
            return kernel(nt if pinned else 1)

    # ------------------------------------------------------------ maths

    def predict(self, X) -> np.ndarray:
        """Output activations ``a_L`` for every row of ``X``, shape (n, n_outputs)."""
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        self._run_pass(X.shape[0], lambda nt: _kernels.forward(
            self.params, self._sizes, self._acts, X, out, self._workspace(X.shape[0], nt), nt))
        return out

    def _loss_grad(self, X, Y, sample_weight, want_grad):
        X, Y = self._check_XY(X, Y)
        sw = _validation.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        grad = np.zeros(self.n_params, dtype=self.dtype)
        total = self._run_pass(X.shape[0], lambda nt: _kernels.loss_gradient(
            self.params, self._sizes, self._acts, self._loss_id, X, Y, sw, grad,
            self._workspace(X.shape[0], nt, want_grad), want_grad, nt))
        wsum = X.shape[0] if sw is None else float(sw.sum(dtype=np.float64))
        return total / wsum, grad, wsum

    def loss(self, X, Y, sample_weight=None) -> float:
        """The cost ``C = 1/N sum_i C_i`` (weighted mean with ``sample_weight``)."""
        return float(self._loss_grad(X, Y, sample_weight, False)[0])

    def gradient(self, X, Y, sample_weight=None) -> np.ndarray:
        """``grad C``: the gradient of every parameter, averaged over the samples,
        as one vector in the layout of ``params`` (computed by backpropagation)."""
        _, grad, wsum = self._loss_grad(X, Y, sample_weight, True)
        grad /= self.dtype.type(wsum)
        return grad

    def loss_and_gradient(self, X, Y, sample_weight=None):
        """``(C, grad C)`` from one forward and one backward pass."""
        loss, grad, wsum = self._loss_grad(X, Y, sample_weight, True)
        grad /= self.dtype.type(wsum)
        return float(loss), grad

    def per_sample_gradients(self, X, Y) -> np.ndarray:
        """The table of per-example gradients, shape (n_samples, n_params).

        Row ``i`` is ``dC_i/dW`` for sample ``i`` alone, in the layout of
        ``params``; the mean of the rows is :meth:`gradient`.  This is the
        lecture's "backpropagation in the computer" table, computed in batches
        by the compiled kernels.
        """
        X, Y = self._check_XY(X, Y)
        out = np.empty((X.shape[0], self.n_params), dtype=self.dtype)
        _kernels.per_sample_gradients(self.params, self._sizes, self._acts, self._loss_id,
                                      X, Y, out, self._workspace(X.shape[0]))
        return out

    def accuracy(self, X, Y) -> float:
        """Fraction of samples classified right: argmax for one-hot targets, a
        0.5 threshold for binary ones."""
        X, Y = self._check_XY(X, Y)
        return _accuracy(self.predict(X), Y, _metric_for(Y))

    # ------------------------------------------------------------ training

    def fit(self, X, Y, *, epochs=30, batch_size=10, learning_rate=None, shuffle=True,
            optimizer="sgd", momentum=0.9, nesterov=False, beta1=0.9, beta2=0.999,
            epsilon=1e-8, weight_decay=0.0, lr_schedule="constant", decay_rate=0.5,
            decay_steps=10, sample_weight=None, validation_data=None, validation_split=0.0,
            early_stopping=False, patience=10, min_delta=0.0, callbacks=None, verbose=0,
            on_divergence="raise", blas_threads="auto", n_threads="auto") -> Network:
        """Train by minibatch gradient descent: ``W := W - r grad C`` per minibatch.

        Each epoch is one call into the compiled core: the samples are
        shuffled with the network's seeded generator, cut into minibatches of
        ``batch_size`` (the last one may be shorter), and each minibatch is
        forwarded, backpropagated and applied without returning to Python.
        Calling ``fit`` again continues from the current parameters, the
        optimiser's state, the shuffling stream and the schedule's epoch count.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_outputs) (1-D with one output)
        epochs : int
        batch_size : int
        learning_rate : float, optional
            ``r``; default 3.0 for sgd (the lecture's), 0.3 for momentum, 1e-3 for adam.
        shuffle : bool
        optimizer : {"sgd", "momentum", "adam"}
        momentum : float
            ``mu`` of the momentum optimiser.
        nesterov : bool
        beta1, beta2, epsilon : float
            Adam's decay rates and denominator guard.
        weight_decay : float
            L2 penalty: ``weight_decay * W`` is added to every weight's gradient
            (biases are not decayed).
        lr_schedule : {"constant", "exponential", "step", "inverse_time"} or callable
            See :func:`nncore.optimizers.learning_rate`; ``decay_rate`` and
            ``decay_steps`` parametrise it.
        sample_weight : array-like, shape (n_samples,), optional
            Each minibatch's gradient is the weighted mean ``sum w_i g_i / sum w_i``.
        validation_data : (X_val, Y_val), optional
        validation_split : float
            Fraction of the samples, taken from the end, held out for validation.
        early_stopping : bool
            Stop when the monitored loss (``val_loss`` if there is validation
            data, else ``loss``) has not improved by ``min_delta`` for
            ``patience`` epochs, and restore the best epoch's parameters.
        callbacks : list of callables
            Called after each epoch as ``cb(epoch, logs)``; returning True or
            raising :class:`StopTraining` ends training.  Objects with an
            ``on_epoch_end(epoch, logs)`` method work too.
        verbose : {0, 1, 2}
            0 silent, 1 a tqdm progress bar over the epochs, 2 one line per epoch.
        blas_threads : "auto", int or None
            Threads for BLAS during this fit (needs threadpoolctl, the optional
            extra ``nncore[threads]``; without it BLAS keeps its own setting).
            ``"auto"`` runs BLAS on one thread when the matrix products of a
            minibatch (or of a block of one) are too small for a second thread
            to pay for its start-up (see :data:`SINGLE_THREAD_WORK`), and
            leaves it alone otherwise;
            an integer sets the count; ``None`` leaves BLAS alone.
            While ``n_threads`` > 1, ``"auto"`` keeps BLAS on one thread (each of
            nncore's threads calls it).
        n_threads : "auto" or int
            Threads (OpenMP) that share each minibatch: every thread
            forwards and backpropagates its own consecutive part of it and the
            parts' gradients are added in a fixed order before the one update
            -- the same step, with sums taken in a different order, so results
            agree with ``n_threads=1`` to rounding, and are bit-identical run to
            run for a given ``n_threads``.  ``"auto"`` uses up to
            :func:`available_cpus` threads, each with at least
            :data:`THREAD_ROWS` rows of a minibatch for networks whose pace is
            set by streaming the inputs (fewer than 16 multiply-adds per input
            byte, such as 784-30-10), :data:`WIDE_THREAD_ROWS` for wider ones,
            and :data:`THREAD_WORK` multiply-adds; smaller minibatches keep one
            thread (and BLAS its own threads).
            nncore's threads need BLAS held to one thread inside them, which
            takes threadpoolctl (``nncore[threads]``) and ``blas_threads`` "auto"
            or 1; otherwise "auto" means one thread, and an explicit count
            warns.
            Without OpenMP in the build, or in a process forked after nncore
            ran threads (GNU OpenMP cannot run there), the parts run one after
            another with the same results.
        on_divergence : {"raise", "warn"}
            When the loss becomes NaN or infinite, training stops, the
            parameters and optimiser state of the last finite epoch are restored
            and a :class:`DivergenceError` is raised (or a RuntimeWarning issued).

        Returns
        -------
        self
        """
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("fit is already running on this network in another thread; "
                               "train a copy (copy.deepcopy) instead")
        try:
            return self._fit(X, Y, epochs, batch_size, learning_rate, shuffle, optimizer,
                             momentum, nesterov, beta1, beta2, epsilon, weight_decay,
                             lr_schedule, decay_rate, decay_steps, sample_weight,
                             validation_data, validation_split, early_stopping, patience,
                             min_delta, callbacks, verbose, on_divergence, blas_threads,
                             n_threads)
        finally:
            self._lock.release()

    def _fit(self, X, Y, epochs, batch_size, learning_rate, shuffle, optimizer, momentum,
             nesterov, beta1, beta2, epsilon, weight_decay, lr_schedule, decay_rate,
             decay_steps, sample_weight, validation_data, validation_split, early_stopping,
             patience, min_delta, callbacks, verbose, on_divergence, blas_threads, n_threads):
        chk = _validation
        epochs = chk.check_positive(epochs, "epochs", integer=True)
        batch_size = chk.check_positive(batch_size, "batch_size", integer=True)
        optimizer = optimizers.check_name(optimizer)
        n_state, default_lr = optimizers.OPTIMIZERS[optimizer]
        lr0 = default_lr if learning_rate is None else chk.check_positive(
            learning_rate, "learning_rate")
        weight_decay = chk.check_positive(weight_decay, "weight_decay", allow_zero=True)
        momentum = chk.check_fraction(momentum, "momentum")
        beta1 = chk.check_fraction(beta1, "beta1")
        beta2 = chk.check_fraction(beta2, "beta2")
        epsilon = chk.check_positive(epsilon, "epsilon")
        decay_rate = chk.check_positive(decay_rate, "decay_rate")
        decay_steps = chk.check_positive(decay_steps, "decay_steps", integer=True)
        if not callable(lr_schedule) and lr_schedule not in optimizers.SCHEDULES:
            raise ValueError(f"unknown lr_schedule {lr_schedule!r}; valid: "
                             f"{', '.join(optimizers.SCHEDULES)} or a callable")
        validation_split = chk.check_fraction(validation_split, "validation_split")
        patience = chk.check_positive(patience, "patience", integer=True)
        min_delta = chk.check_positive(min_delta, "min_delta", allow_zero=True)
        if verbose not in (0, 1, 2, False, True):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if on_divergence not in ("raise", "warn"):
            raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
        _check_blas_threads(blas_threads)
        _check_n_threads(n_threads)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not (callable(cb) or hasattr(cb, "on_epoch_end")):
                raise TypeError(f"callback {cb!r} is neither callable nor has on_epoch_end")

        X, Y = self._check_XY(X, Y)
        sw = chk.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        if validation_data is not None:
            if validation_split:
                raise ValueError("give validation_data or validation_split, not both")
            try:
                Xv, Yv = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, Y_val)") from None
            Xv, Yv = self._check_XY(Xv, Yv, ("X_val", "Y_val"))
        elif validation_split:
            n_val = int(math.floor(X.shape[0] * validation_split))
            if n_val < 1 or n_val >= X.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves {n_val} validation "
                                 f"samples out of {X.shape[0]}; need at least one on each side")
            Xv, Yv = X[-n_val:], Y[-n_val:]
            X, Y = X[:-n_val], Y[:-n_val]
            if sw is not None:
                sw = np.ascontiguousarray(sw[:-n_val])
        else:
            Xv = Yv = None
        if early_stopping is not True and early_stopping is not False:
            raise TypeError("early_stopping must be True or False")

        metric = _metric_for(Y)
        opt_id = optimizers.kernel_id(optimizer, nesterov)
        key = (optimizer, bool(nesterov))
        if self._opt is None or self._opt[0] != key:
            # a new optimiser starts from zero state and a zero step count
            self._opt = (key, np.zeros(n_state * self.n_params, dtype=self.dtype))
            self._counters[1] = 0
        state = self._opt[1]
        hyper = np.array([lr0, weight_decay, beta1 if optimizer == "adam" else momentum,
                          beta2, epsilon], dtype=np.float64)
        n = X.shape[0]
        block = _block_rows(self.sizes, self.dtype, batch_size)
        nt = _n_threads(n_threads, self.sizes, self.dtype, min(batch_size, max(n, 1)),
                        blas_threads)
        metric_id = _kernels.METRIC_IDS[metric]

        hist = self.history
        keys = ["loss", "lr", "time"]
        if metric:
            keys.append("accuracy")
        if Xv is not None:
            keys += ["val_loss"] + (["val_accuracy"] if metric else [])
        for k in keys:
            hist.setdefault(k, [])

        monitor = "val_loss" if Xv is not None else "loss"
        best, best_params, wait = math.inf, None, 0
        bar = None
        if verbose == 1:
            from tqdm.auto import tqdm
            bar = tqdm(total=epochs, unit="epoch", leave=True)
        threads = contextlib.ExitStack()
        pinned = False
        if nt > 1 and blas_threads in ("auto", 1):
            pinned = threads.enter_context(_parallel.pinned_blas())
            if not pinned:
                nt = _unpinned_threads(n_threads, nt)
        if not pinned:
            threads.enter_context(_blas_threads(blas_threads, block or batch_size, self.sizes, nt))
        try:
            ws = np.empty(_kernels.train_workspace_size(self._sizes, n, batch_size, opt_id, block,
                                                        nt), dtype=self.dtype)
            order = np.empty(n, dtype=np.intp)
            for _ in range(epochs):
                epoch = self._epochs_done
                lr = optimizers.learning_rate(lr_schedule, lr0, epoch, decay_rate, decay_steps)
                hyper[0] = lr
                # Snapshot: a failed or interrupted epoch is rolled back whole.
                snap = (self.params.copy(), state.copy(), self._counters.copy())
                t0 = time.perf_counter()
                n_logged = [len(hist[k]) for k in keys]
                try:
                    total, wsum, correct, status = _kernels.train_epoch(
                        self.params, self._sizes, self._acts, self._loss_id, X, Y, sw, order,
                        bool(shuffle), self._counters, batch_size, opt_id, hyper, state, ws,
                        metric_id, block, nt)
                    if status == _kernels.STATUS_OK and not np.isfinite(self.params).all():
                        status = _kernels.STATUS_NONFINITE
                    seconds = time.perf_counter() - t0
                    if status == _kernels.STATUS_OK:
                        # The epoch counts once its whole record is written: an interrupt
                        # anywhere before that (a signal lands between bytecodes, e.g.
                        # in the validation loss) rolls the whole epoch back.
                        logs = {"loss": total / wsum, "lr": lr, "time": seconds}
                        if metric:
                            logs["accuracy"] = correct / n
                        if Xv is not None:
                            logs["val_loss"] = self.loss(Xv, Yv)
                            if metric:
                                logs["val_accuracy"] = _accuracy(self.predict(Xv), Yv, metric)
                        for k in keys:
                            hist[k].append(logs[k])
                        self._epochs_done += 1
                except BaseException:
                    for k, m in zip(keys, n_logged):
                        del hist[k][m:]
                    self._epochs_done = epoch  # in case the interrupt followed the count
                    self._restore(snap)
                    raise
                if status != _kernels.STATUS_OK:
                    self._restore(snap)
                    msg = (f"training diverged in epoch {epoch + 1}: the loss became NaN or "
                           f"infinite at learning rate {lr:g}. The parameters of the last "
                           f"finite epoch were restored; try a smaller learning_rate or "
                           f"scale the inputs (e.g. to [0, 1] or zero mean, unit variance).")
                    if on_divergence == "raise":
                        raise DivergenceError(msg)
                    warnings.warn(msg, RuntimeWarning, stacklevel=3)
                    break
                stop = False
                if early_stopping:
                    current = logs[monitor]
                    if current < best - min_delta:
                        best, best_params, wait = current, self.params.copy(), 0
                    else:
                        wait += 1
                        stop = wait >= patience
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k != "time"}
                                    | {"samples/s": f"{n / max(seconds, 1e-12):.3g}"})
                    bar.update(1)
                elif verbose:
                    print(f"epoch {self._epochs_done}: "
                          + ", ".join(f"{k}={v:.6g}" for k, v in logs.items() if k != "time")
                          + f", {seconds:.3f}s, {n / max(seconds, 1e-12):.4g} samples/s",
                          flush=True)
                for cb in callbacks:
                    try:
                        fn = cb.on_epoch_end if hasattr(cb, "on_epoch_end") else cb
                        if fn(self._epochs_done - 1, dict(logs)) is True:
                            stop = True
                    except StopTraining:
                        stop = True
                if stop:
                    break
        finally:
            threads.close()
            if bar is not None:
                bar.close()
        if early_stopping and best_params is not None:
            self.params[:] = best_params
            self.best_epoch_ = int(np.argmin(hist[monitor])) if hist[monitor] else None
        return self

    def _restore(self, snap):
        params, state, counters = snap
        self.params[:] = params
        self._opt[1][:] = state
        self._counters[:] = counters

    # ------------------------------------------------------------ files

    def save(self, path, *, include_optimizer=True, include_history=True):
        """Write the network to ``path`` (.npz with a JSON header); see :mod:`nncore.io`."""
        from . import io
        io.save(self, path, include_optimizer=include_optimizer,
                include_history=include_history)


def _metric_for(Y: np.ndarray):
    """"argmax" for one-hot targets, "binary" for 0/1 targets, None otherwise.

    Looks at a block of rows at a time, so no temporary grows with the data."""
    one_hot = Y.shape[1] > 1
    block = max(1, 65536 // Y.shape[1])
    for start in range(0, Y.shape[0], block):
        part = Y[start:start + block]
        if not ((part == 0) | (part == 1)).all():
            return None
        one_hot = one_hot and bool((part.sum(axis=1) == 1).all())
    return "argmax" if one_hot else "binary"


def _accuracy(P: np.ndarray, Y: np.ndarray, metric) -> float:
    if metric == "argmax":
        return float(np.mean(P.argmax(axis=1) == Y.argmax(axis=1)))
    if metric == "binary":
        return float(np.mean(((P > 0.5) == (Y > 0.5)).all(axis=1)))
    raise ValueError("accuracy needs one-hot or binary (0/1) targets")

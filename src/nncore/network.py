"""nncore.Network: a multilayer perceptron whose parameters are one vector."""

from __future__ import annotations

import json
import secrets
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from . import _archive, _kernels, _layout, _parallel, _validation, activations, losses
from . import optimizers as _optimizers
from ._version import __version__
from .callbacks import EarlyStopping, PrintProgress, ProgressBar, as_callback
from .training import DivergenceError, LocalData, Trainer, accuracy, target_metric

__all__ = ["Network", "KernelSpec", "LayerValues", "DivergenceError"]

#: the flat keywords fit took before optimisers were objects -> what replaces them
_DEPRECATED_FIT_KEYWORDS = {
    "momentum": "optimizer=nncore.optimizers.SGD(momentum=...)",
    "nesterov": "optimizer=nncore.optimizers.SGD(momentum=..., nesterov=True)",
    "beta1": "optimizer=nncore.optimizers.Adam(beta1=...)",
    "beta2": "optimizer=nncore.optimizers.Adam(beta2=...)",
    "epsilon": "optimizer=nncore.optimizers.Adam(epsilon=...)",
    "weight_decay": "optimizer=nncore.optimizers.SGD(weight_decay=...) (or Adam(...))",
    "lr_schedule": "optimizer=nncore.optimizers.SGD(schedule=nncore.optimizers.StepDecay(...))",
    "decay_rate": "a schedule object, e.g. nncore.optimizers.ExponentialDecay(decay_rate, "
                  "decay_steps), given to the optimizer",
    "decay_steps": "a schedule object, e.g. nncore.optimizers.ExponentialDecay(decay_rate, "
                   "decay_steps), given to the optimizer",
}


@dataclass(frozen=True)
class KernelSpec:
    """What the compiled kernels need to run a network besides its parameters:
    the layer widths, each layer's activation id and the loss id (see
    :mod:`nncore.activations`, :mod:`nncore.losses`)."""

    sizes: np.ndarray  # intp
    acts: np.ndarray  # intc
    loss: int


@dataclass
class LayerValues:
    """One layer's values for every row of a forward pass (see :meth:`Network.forward_trace`):
    ``z = b + a_prev W^T`` and ``a = act(z)``, each of shape (n_rows, n_out)."""

    activation: str
    z: np.ndarray
    a: np.ndarray


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
    loss_name : str
        The cost the network is trained on (the constructor's ``loss``;
        :meth:`loss` computes it).
    history : dict of lists
        Per-epoch logs of every ``fit`` so far: ``loss`` (mean per-sample cost
        over the epoch's minibatches, each measured before its update), ``lr``,
        ``time`` and, when they apply, ``accuracy``, ``val_loss``, ``val_accuracy``.
    optimizer : nncore.optimizers.Optimizer or None
        The optimiser of the last fit, with its state; the next fit continues it
        when given the same optimiser (or the same short form) again.
    epochs_done : int
        Epochs trained over every fit (learning-rate schedules count them).
    rng_state : ndarray of uint64, shape (1,)
        The shuffling stream's state, carried on from fit to fit.
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
        if not self.__dict__.pop("_no_draws", False):
            self.params[:] = self._initial_params()
        self.history = {}
        self.optimizer = None
        self.epochs_done = 0
        self.rng_state = np.array([_layout.shuffle_seed(self.seed)], dtype=np.uint64)
        self.meta = {}  # user metadata saved with the model (JSON-serialisable)

    # ------------------------------------------------------------ structure

    def _build(self):
        """Kernel descriptors, the parameter vector and its views."""
        self.spec = KernelSpec(
            sizes=np.array(self.sizes, dtype=np.intp),
            acts=np.array([activations.ACTIVATIONS[a].id for a in self.activations],
                          dtype=np.intc),
            loss=losses.LOSSES[self.loss_name].id)
        self.params = np.zeros(_layout.n_params(self.sizes), dtype=self.dtype)
        blocks = _layout.blocks(self.params, self.sizes)
        self.biases = [block[:, 0] for block in blocks]
        self.weights = [block[:, 1:] for block in blocks]
        self._lock = threading.Lock()
        self._work_per_row = _parallel.work_per_row(self.sizes)
        self._ws_lengths = {}  # (rows, threads, gradient) -> pass workspace length
        # the lean path of predict for a few well-formed rows (a model being served)
        self._predictor = _kernels._Predictor(self.params, self.spec.sizes, self.spec.acts)

    @classmethod
    def _blank(cls, sizes, **kwargs) -> Network:
        """A network whose parameters are all zero, for a caller that sets them
        itself (the drop-in draws scikit-learn's): the constructor's draws, and
        their temporaries the size of the parameters, are skipped."""
        net = cls.__new__(cls)
        net.__dict__["_no_draws"] = True
        net.__init__(sizes, **kwargs)
        return net

    def _initial_params(self) -> np.ndarray:
        draws = np.empty(self._work_per_row)
        _kernels.uniform(draws, np.array([self.seed], dtype=np.uint64))
        out = np.zeros(self.n_params)
        used = 0
        for block, n_in, n_out, act in zip(_layout.blocks(out, self.sizes), self.sizes[:-1],
                                           self.sizes[1:], self.activations):
            limit = activations.init_limit(act, n_in, n_out)
            w = limit * (2.0 * draws[used:used + n_in * n_out] - 1.0)
            block[:, 1:] = w.reshape(n_out, n_in)
            used += n_in * n_out
        return out

    @property
    def n_params(self) -> int:
        """The length of ``params``: ``sum_l n_{l+1} (n_l + 1)``."""
        return self.params.shape[0]

    @property
    def loss_function(self) -> str:
        warnings.warn("Network.loss_function is deprecated; use Network.loss_name",
                      DeprecationWarning, stacklevel=2)
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
        hidden = self.activations[:-1]
        # (one name for hidden layers that share it, as it is usually given; none
        # without hidden layers)
        if len(set(hidden)) == 1:
            hidden = hidden[0]
        activation = f"activation={hidden!r}, " if hidden else ""
        return (f"Network({list(self.sizes)}, {activation}"
                f"output={self.activations[-1]!r}, loss={self.loss_name!r}, "
                f"dtype={self.dtype.name!r}, seed={self.seed})")

    def astype(self, dtype) -> Network:
        """A new network of the same configuration and seed with the parameters
        converted to ``dtype`` (no training state, history or metadata)."""
        net = Network(self.sizes, activation=self.activations[:-1],
                      output=self.activations[-1], loss=self.loss_name, dtype=dtype,
                      seed=self.seed)
        net.params[:] = self.params
        return net

    def _float64_twin(self) -> Network:
        """A float64 network holding these parameters, for a float32 model that meets
        other inputs in float64 (scikit-learn's promotion, which the drop-in keeps):
        made once and kept (not pickled), its parameters refreshed at each call."""
        twin = self.__dict__.get("_twin64")
        if twin is None:
            twin = self._twin64 = self.astype(np.float64)
        else:
            twin.params[:] = self.params
        return twin

    # pickling: the views, the kernel descriptors and the lock are rebuilt, not stored
    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("weights", "biases", "_lock", "spec", "params",
                              "_work_per_row", "_ws_lengths", "_predictor", "_twin64")}
        state["params"] = np.array(self.params)
        return state

    def __setstate__(self, state):
        params = state.pop("params")
        if "_counters" in state:  # pickled by nncore 0.1.0
            counters = state.pop("_counters")
            state["rng_state"] = np.array(counters[:1], dtype=np.uint64)
            state["epochs_done"] = state.pop("_epochs_done", 0)
            legacy = state.pop("_opt", None)
            state["optimizer"] = None
            if legacy is not None:
                (name, nesterov), vec = legacy
                opt = _optimizers.get(name, nesterov=nesterov) if name == "momentum" \
                    else _optimizers.get(name)
                opt.state = np.array(vec)
                opt.step_counter[0] = counters[1]
                state["optimizer"] = opt
        self.__dict__.update(state)
        self.dtype = np.dtype(self.dtype)
        self._build()
        self.params[:] = params

    # The training state before optimisers were objects, kept readable for the
    # tests and notebooks that looked at it: (("adam", False), state vector).
    @property
    def _opt(self):
        return None if self.optimizer is None else (self.optimizer.key, self.optimizer.state)

    @property
    def _epochs_done(self):
        return self.epochs_done

    # ------------------------------------------------------------ checking

    def check_data(self, X, Y=None, *, names=("X", "Y"), assume_finite=False):
        """``X`` (and ``Y``) as the kernels take them: finite, 2-D, C-contiguous
        arrays of the network's dtype with its numbers of inputs (and outputs).

        Arrays that already are are returned as they are (no copy); a 1-D ``Y``
        is one column when the network has one output; a scipy.sparse ``X``
        becomes a CSR matrix of the network's dtype (never a dense copy).  Raises
        ``ValueError`` or ``TypeError`` naming the problem.  Returns ``X``, or
        ``(X, Y)``.

        ``assume_finite=True`` skips the scan for NaN and infinity of arrays the
        caller has checked already (scikit-learn's validation has, in the
        drop-in; as its ``set_config(assume_finite=True)``); values that a
        narrowing to the network's dtype makes infinite are still refused.
        """
        scan = not assume_finite
        if _validation.is_sparse(X):
            X = _validation.check_sparse(X, name=names[0], dtype=self.dtype,
                                         n_cols=self.sizes[0], scan=scan)
        else:
            X = _validation.check_array(X, name=names[0], dtype=self.dtype,
                                        n_cols=self.sizes[0], scan=scan)
        if Y is None:
            return X
        Y = _validation.check_array(Y, name=names[1], dtype=self.dtype, n_cols=self.sizes[-1],
                                    one_col_1d=self.sizes[-1] == 1, scan=scan)
        _validation.check_rows(X, Y, names)
        losses.check_targets(self.loss_name, Y)
        return X, Y

    def _workspace(self, n_rows, n_threads=1, gradient=False, nnz=None):
        """Workspace for a pass over n_rows on n_threads (nnz: of CSR input through
        the sparse first layer)."""
        if nnz is not None:
            rows = _parallel.sparse_chunk_rows(n_rows, n_threads, nnz, self.sizes)
        elif n_threads > 1:
            rows = _parallel.pass_chunk_rows(n_rows, n_threads, self.sizes, self.dtype, gradient)
        else:
            rows = max(1, min(n_rows, _parallel.CHUNK_ROWS))
        key = (rows, n_threads, gradient)
        length = self._ws_lengths.get(key)
        if length is None:  # (one row at a time is a common call: spare it the layout)
            length = _kernels.pass_workspace_size(self.spec.sizes, rows, n_threads, gradient)
            if len(self._ws_lengths) < 64:
                self._ws_lengths[key] = length
        return np.empty(length, dtype=self.dtype)

    # ------------------------------------------------------------ maths

    def predict(self, X) -> np.ndarray:
        """Output activations ``a_L`` for every row of ``X``, shape (n, n_outputs).
        ``X`` may be a scipy.sparse matrix: wide and sparse, its first layer is
        computed from the nonzeros; denser, it is densified a block of rows at a time.

        A few rows (up to 64) given as a C-contiguous array of the network's dtype
        take a lean path: checked in nanoseconds, computed in one kernel call."""
        out = self._predictor.predict(X)
        if out is not None:
            return out
        if _validation.is_sparse(X):
            X = self.check_data(X)
            out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
            if _sparse_first(X, self.sizes[1]):
                self._forward(None, out, csr=_validation.csr_arrays(X))
                return out
            for start, chunk in _dense_chunks(X):
                self._forward(chunk, out[start:start + chunk.shape[0]])
            return out
        X, check = _validation.check_array(X, name="X", dtype=self.dtype, n_cols=self.sizes[0],
                                           kernel_checks_finite=True)
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        self._forward(X, out, check)
        return out

    def predict_lean(self, X):
        """The lean path of :meth:`predict` alone: the outputs when ``X`` is a few rows
        (up to 64) of finite values in a C-contiguous 2-D array of the network's dtype
        with its number of inputs, else None (the caller then goes the general way,
        which converts what it can and explains what it cannot).  Estimators use it
        to serve one row at a time without their own validation's overhead."""
        return self._predictor.predict(X)

    def _forward(self, X, out, check_finite=False, csr=None):
        """out := the outputs for the rows of X (None: of the CSR arrays csr)."""
        spec = self.spec
        n = out.shape[0]
        nnz = None if csr is None else csr[0].shape[0]
        bad = _parallel.run_pass(n, self._work_per_row, lambda nt: _kernels.forward(
            self.params, spec.sizes, spec.acts, X, out, self._workspace(n, nt, nnz=nnz), nt,
            check_finite, *(csr or (None, None, None))))
        if bad >= 0:
            _validation.raise_nonfinite_row(X, "X", bad)

    def _sums(self, X, Y, sw, grad, csr=None):
        """The loss sum over the rows (a dense X, or X None and csr its CSR arrays, or
        both: a dense X and its nonzeros), and grad := the gradient sum."""
        spec = self.spec
        want = grad is not None
        n = Y.shape[0]
        nnz = None if csr is None or X is not None else csr[0].shape[0]
        return _parallel.run_pass(
            n, self._work_per_row, lambda nt: _kernels.loss_gradient(
                self.params, spec.sizes, spec.acts, spec.loss, X, Y, sw,
                grad if want else _NO_GRAD[self.dtype.type],
                self._workspace(n, nt, want, nnz), want, nt, *(csr or (None, None, None))))

    def loss_and_gradient_sums(self, X, Y, sample_weight=None, *, check=True):
        """``(sum_i w_i C_i, sum_i w_i grad C_i, sum_i w_i)``: the sums behind
        :meth:`loss_and_gradient`, before the division, so that sums over blocks of
        rows (on several machines, say) add up to the sums over all of them.

        ``check=False`` skips the checks of :meth:`check_data` for arrays that have
        passed them already (a solver evaluating the same data many times); the
        kernels still check every shape and length."""
        total, grad, wsum = self._loss_grad(X, Y, sample_weight, True, check)
        return total, grad, wsum

    def _loss_grad(self, X, Y, sample_weight, want_grad, check=True, nonzeros=None):
        """(loss sum, gradient sum or None, weight sum).  nonzeros: those of a dense X
        (``_kernels.nonzeros``), for the first layer."""
        if check:
            X, Y = self.check_data(X, Y)
            sw = _validation.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        else:
            sw = sample_weight
        grad = np.zeros(self.n_params, dtype=self.dtype) if want_grad else None
        if isinstance(X, np.ndarray):
            total = self._sums(X, Y, sw, grad, nonzeros)
        elif _sparse_first(X, self.sizes[1]):
            total = self._sums(None, Y, sw, grad, _validation.csr_arrays(X))
        else:
            total, part = 0.0, np.empty_like(grad) if want_grad else None
            for start, chunk in _dense_chunks(X):
                rows = slice(start, start + chunk.shape[0])
                total += self._sums(chunk, Y[rows], None if sw is None else sw[rows], part)
                if want_grad:
                    grad += part
        wsum = X.shape[0] if sw is None else float(sw.sum(dtype=np.float64))
        return total, grad, wsum

    def loss(self, X, Y, sample_weight=None) -> float:
        """The cost ``C = 1/N sum_i C_i`` (weighted mean with ``sample_weight``)."""
        total, _, wsum = self._loss_grad(X, Y, sample_weight, False)
        return float(total / wsum)

    def gradient(self, X, Y, sample_weight=None) -> np.ndarray:
        """``grad C``: the gradient of every parameter, averaged over the samples,
        as one vector in the layout of ``params`` (computed by backpropagation)."""
        _, grad, wsum = self._loss_grad(X, Y, sample_weight, True)
        grad /= self.dtype.type(wsum)
        return grad

    def loss_and_gradient(self, X, Y, sample_weight=None):
        """``(C, grad C)`` from one forward and one backward pass."""
        total, grad, wsum = self._loss_grad(X, Y, sample_weight, True)
        grad /= self.dtype.type(wsum)
        return float(total / wsum), grad

    def per_sample_gradients(self, X, Y) -> np.ndarray:
        """The table of per-example gradients, shape (n_samples, n_params).

        Row ``i`` is ``dC_i/dW`` for sample ``i`` alone, in the layout of
        ``params``; the mean of the rows is :meth:`gradient`.  This is the
        lecture's "backpropagation in the computer" table, computed in batches
        by the compiled kernels.
        """
        X, Y = self.check_data(X, Y)
        if not isinstance(X, np.ndarray):  # (a table with a row per sample is dense anyway)
            X = np.ascontiguousarray(X.toarray())
        out = np.empty((X.shape[0], self.n_params), dtype=self.dtype)
        spec = self.spec
        _kernels.per_sample_gradients(self.params, spec.sizes, spec.acts, spec.loss,
                                      X, Y, out, self._workspace(X.shape[0]))
        return out

    def forward_trace(self, X) -> list[LayerValues]:
        """Every layer's ``z`` and ``a`` for the rows of ``X``, layer by layer.

        Each layer's ``z`` comes from the compiled forward kernel run on that
        layer's block of ``params`` alone (with the identity activation), its
        ``a`` from the compiled activation kernel: the same code that trains.
        """
        a_prev = self.check_data(X)
        if not isinstance(a_prev, np.ndarray):
            a_prev = np.ascontiguousarray(a_prev.toarray())
        out = []
        for block, n_in, n_out, act in zip(_layout.blocks(self.params, self.sizes),
                                           self.sizes[:-1], self.sizes[1:], self.activations):
            sizes = np.array([n_in, n_out], dtype=np.intp)
            z = np.empty((a_prev.shape[0], n_out), dtype=self.dtype)
            _kernels.forward(block.reshape(-1), sizes, _IDENTITY, a_prev, z,
                             np.empty(_kernels.workspace_size(sizes, min(a_prev.shape[0],
                                                                         _parallel.CHUNK_ROWS)),
                                      dtype=self.dtype))
            a = np.empty_like(z)
            _kernels.activate(z, a, activations.ACTIVATIONS[act].id)
            out.append(LayerValues(act, z, a))
            a_prev = a
        return out

    def accuracy(self, X, Y) -> float:
        """Fraction of samples classified right: argmax for one-hot targets, a
        0.5 threshold for binary ones."""
        X, Y = self.check_data(X, Y)
        return accuracy(self.predict(X), Y, target_metric(Y))

    # ------------------------------------------------------------ training

    def fit(self, X, Y, *, epochs=30, batch_size=10, learning_rate=None, shuffle=True,
            optimizer="sgd", sample_weight=None, validation_data=None, validation_split=0.0,
            early_stopping=False, patience=10, min_delta=0.0, callbacks=None, verbose=0,
            on_divergence="raise", blas_threads="auto", n_threads="auto",
            **deprecated) -> Network:
        """Train by minibatch gradient descent: ``W := W - r grad C`` per minibatch.

        Each epoch is one call into the compiled core: the samples are
        shuffled with the network's seeded generator, cut into minibatches of
        ``batch_size`` (the last one may be shorter), and each minibatch is
        forwarded, backpropagated and applied without returning to Python.
        Calling ``fit`` again continues from the current parameters, the
        optimiser's state, the shuffling stream and the schedule's epoch count.
        The loop itself is :class:`nncore.training.Trainer`.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_outputs) (1-D with one output)
        epochs : int
        batch_size : int
        learning_rate : float, optional
            ``r`` for an optimiser given by name; default 3.0 for ``"sgd"`` (the
            lecture's), 0.3 for ``"momentum"``, 1e-3 for ``"adam"``.  An
            optimiser object carries its own.
        shuffle : bool
        optimizer : {"sgd", "momentum", "adam"} or nncore.optimizers.Optimizer
            A name is the short form: ``"sgd"`` is ``SGD(learning_rate)``,
            ``"momentum"`` is ``SGD(learning_rate, momentum=0.9)``, ``"adam"`` is
            ``Adam(learning_rate)``; it continues the state of the last fit's
            optimiser when that was the same short form.  An object (e.g.
            ``nncore.optimizers.Adam(1e-3, weight_decay=1e-4)``) brings its
            hyperparameters, schedule and state: passing the same object again
            continues it.
        sample_weight : array-like, shape (n_samples,), optional
            Each minibatch's gradient is the weighted mean ``sum w_i g_i / sum w_i``.
        validation_data : (X_val, Y_val), optional
        validation_split : float
            Fraction of the samples, taken from the end, held out for validation.
        early_stopping : bool
            The short form of :class:`nncore.callbacks.EarlyStopping`: stop
            when the monitored loss (``val_loss`` if there is validation data,
            else ``loss``) has not improved by ``min_delta`` for ``patience``
            epochs, and restore the best epoch's parameters.
        patience : int
        min_delta : float
        callbacks : list
            :class:`nncore.callbacks.Callback` objects, objects with an
            ``on_epoch_end(epoch, logs)`` method, or functions
            ``cb(epoch, logs)``; called after each epoch, in order; returning
            True or raising :class:`StopTraining` ends training.
        verbose : {0, 1, 2}
            0 silent, 1 a tqdm progress bar over the epochs
            (:class:`nncore.callbacks.ProgressBar`), 2 one line per epoch
            (:class:`nncore.callbacks.PrintProgress`).
        blas_threads : "auto", int or None
            Threads for BLAS during this fit (needs threadpoolctl, the optional
            extra ``nncore[threads]``; without it BLAS keeps its own setting).
            ``"auto"`` runs BLAS on one thread when the matrix products of a
            minibatch (or of a block of one) are too small for a second thread
            to pay for its start-up (see ``nncore._parallel.SINGLE_THREAD_WORK``),
            and leaves it alone otherwise; an integer sets the count; ``None``
            leaves BLAS alone.  While ``n_threads`` > 1, ``"auto"`` keeps BLAS on
            one thread (each of nncore's threads calls it).
        n_threads : "auto" or int
            Threads (OpenMP) that share each minibatch: every thread
            forwards and backpropagates its own consecutive part of it and the
            parts' gradients are added in a fixed order before the one update
            -- the same step, with sums taken in a different order, so results
            agree with ``n_threads=1`` to rounding, and are bit-identical run to
            run for a given ``n_threads``.  ``"auto"`` uses up to as many threads
            as the process may run on (its CPU affinity, ``OMP_NUM_THREADS``,
            ``threadpoolctl.threadpool_limits``) when each gets
            enough rows and work (``nncore._parallel.THREAD_ROWS``,
            ``WIDE_THREAD_ROWS``, ``THREAD_WORK``); smaller minibatches keep one
            thread (and BLAS its own threads).  nncore's threads need BLAS held
            to one thread inside them, which takes threadpoolctl and
            ``blas_threads`` "auto" or 1; otherwise "auto" means one thread, and
            an explicit count warns.  Without OpenMP in the build, or in a
            process forked after nncore ran threads (GNU OpenMP cannot run
            there), the parts run one after another with the same results.
        on_divergence : {"raise", "warn"}
            When the loss becomes NaN or infinite, training stops, the
            parameters and optimiser state of the last finite epoch are restored
            and a :class:`DivergenceError` is raised (or a RuntimeWarning issued).
        **deprecated
            ``momentum, nesterov, beta1, beta2, epsilon, weight_decay,
            lr_schedule, decay_rate, decay_steps``: the optimiser's
            hyperparameters as flat keywords still work, with a
            DeprecationWarning naming the optimiser object that replaces them.

        Returns
        -------
        self
        """
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("fit is already running on this network in another thread; "
                               "train a copy (copy.deepcopy) instead")
        try:
            for name in deprecated:
                if name not in _DEPRECATED_FIT_KEYWORDS:
                    raise TypeError(f"fit() got an unexpected keyword argument {name!r}")
                warnings.warn(f"fit({name}=...) is deprecated: pass "
                              f"{_DEPRECATED_FIT_KEYWORDS[name]} instead",
                              DeprecationWarning, stacklevel=2)
            trainer = self._trainer(
                X, Y, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                shuffle=shuffle, optimizer=optimizer, sample_weight=sample_weight,
                validation_data=validation_data, validation_split=validation_split,
                early_stopping=early_stopping, patience=patience, min_delta=min_delta,
                callbacks=callbacks, verbose=verbose, on_divergence=on_divergence,
                blas_threads=blas_threads, n_threads=n_threads, flat=deprecated)
            self.optimizer = trainer.optimizer
            trainer.run()
            return self
        finally:
            self._lock.release()

    def _trainer(self, X, Y, *, epochs, batch_size, learning_rate, shuffle, optimizer,
                 sample_weight, validation_data, validation_split, early_stopping, patience,
                 min_delta, callbacks, verbose, on_divergence, blas_threads, n_threads, flat):
        """Check every setting and the data (nothing is touched before all pass),
        and set up the Trainer of one fit."""
        chk = _validation
        epochs = chk.check_positive(epochs, "epochs", integer=True)
        batch_size = chk.check_positive(batch_size, "batch_size", integer=True)
        opt = _optimizers.get(optimizer, learning_rate, **flat)
        if isinstance(optimizer, str) and self.optimizer is not None \
                and self.optimizer.key == opt.key:
            opt.adopt(self.optimizer)  # the short form again continues the state
        opt.bind(self.n_params, self.dtype)
        validation_split = chk.check_fraction(validation_split, "validation_split")
        patience = chk.check_positive(patience, "patience", integer=True)
        min_delta = chk.check_positive(min_delta, "min_delta", allow_zero=True)
        if verbose not in (0, 1, 2, False, True):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if on_divergence not in ("raise", "warn"):
            raise ValueError(f"on_divergence must be 'raise' or 'warn', got {on_divergence!r}")
        _parallel.check_blas_threads(blas_threads)
        _parallel.check_n_threads(n_threads)
        user_callbacks = [as_callback(cb) for cb in (callbacks or [])]
        if early_stopping is not True and early_stopping is not False:
            raise TypeError("early_stopping must be True or False")

        X, Y = self.check_data(X, Y)
        sw = chk.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        validation = None
        if validation_data is not None:
            if validation_split:
                raise ValueError("give validation_data or validation_split, not both")
            try:
                Xv, Yv = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, Y_val)") from None
            validation = self.check_data(Xv, Yv, names=("X_val", "Y_val"))
        elif validation_split:
            n_val = int(np.floor(X.shape[0] * validation_split))
            if n_val < 1 or n_val >= X.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves {n_val} validation "
                                 f"samples out of {X.shape[0]}; need at least one on each side")
            validation = (X[-n_val:], Y[-n_val:])
            X, Y = X[:-n_val], Y[:-n_val]
            if sw is not None:
                sw = np.ascontiguousarray(sw[:-n_val])

        cbs = []
        if early_stopping:
            cbs.append(EarlyStopping("val_loss" if validation is not None else "loss",
                                     patience=patience, min_delta=min_delta))
        if verbose == 1:
            cbs.append(ProgressBar())
        elif verbose:
            cbs.append(PrintProgress())
        data = LocalData(self, X, Y, sw, batch_size=batch_size, shuffle=shuffle,
                         n_threads=n_threads, blas_threads=blas_threads)
        return Trainer(self, data, opt, epochs=epochs, callbacks=cbs + user_callbacks,
                       validation=validation, on_divergence=on_divergence)

    # ------------------------------------------------------------ files

    def to_archive(self, *, include_optimizer=True, include_history=True, meta=None):
        """The model file's contents: ``(header, arrays)``, the header a JSON-able
        dict and the arrays ``params`` (and ``opt_state``); see :mod:`nncore.io`."""
        if meta is None:
            meta = self.meta
        header = {
            "format": _archive.FORMAT,
            "format_version": _archive.FORMAT_VERSION,
            "nncore_version": __version__,
            "sizes": list(self.sizes),
            "activations": list(self.activations),
            "loss": self.loss_name,
            "dtype": self.dtype.name,
            "seed": str(self.seed),
            "n_params": int(self.n_params),
            "epochs_done": int(self.epochs_done),
            "counters": [str(int(self.rng_state[0])),
                         str(0 if self.optimizer is None else self.optimizer.step_count)],
        }
        arrays = {"params": np.asarray(self.params)}
        if include_optimizer and self.optimizer is not None and self.optimizer.state is not None:
            header["optimizer"] = self.optimizer.to_dict()
            arrays["opt_state"] = np.asarray(self.optimizer.state)
        if include_history:
            header["history"] = {k: [float(v) for v in vals] for k, vals in self.history.items()}
        if meta is not None:
            if not isinstance(meta, dict):
                raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
            try:
                json.dumps(meta)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"meta must hold only JSON types (dict, list, str, number, "
                                f"bool, None): {exc}") from None
            header["meta"] = meta
        return header, arrays

    @classmethod
    def from_archive(cls, header: dict, arrays: dict) -> Network:
        """The network a model file holds (``header`` and ``arrays`` as
        :func:`nncore.io.read` gives them).  Every field is checked before the
        network is built; a bad one raises ValueError saying which."""
        params = arrays["params"]
        opt_state = arrays.get("opt_state")
        try:
            sizes = header["sizes"]
            acts = header["activations"]
            loss = header["loss"]
            dtype = header["dtype"]
            seed = int(header["seed"]) if isinstance(header["seed"], str) else header["seed"]
            counters = [int(c) for c in header["counters"]]
            epochs_done = header.get("epochs_done", 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the header is missing or has a malformed field ({exc})") from None
        # exact JSON types: int() would turn 4.7 into 4, "342" into [3, 4, 2], true into 1
        if not isinstance(sizes, list) or not all(_is_int(n) for n in sizes):
            raise ValueError(f"the layer sizes {sizes!r} are not a list of integers")
        if not isinstance(acts, list) or not all(isinstance(a, str) for a in acts):
            raise ValueError("the activations are not a list of names")
        if not isinstance(loss, str) or not isinstance(dtype, str) or not _is_int(seed):
            raise ValueError("the loss, dtype or seed field has the wrong type")
        if not _is_int(epochs_done) or epochs_done < 0:
            raise ValueError(f"epochs_done is {epochs_done!r}, not a count")
        # the parameter count is checked before anything is allocated, so a tampered
        # header cannot make load build a huge network
        if len(sizes) >= 2 and all(n >= 1 for n in sizes):
            expected = _layout.n_params(sizes)
            if params.shape != (expected,) or header.get("n_params") != expected:
                raise ValueError(f"the parameter vector is {params.dtype}{params.shape}, the "
                                 f"header's layer sizes {sizes} need ({expected},) parameters")
        if len(acts) != len(sizes) - 1:
            raise ValueError(f"{len(acts)} activations for {len(sizes) - 1} layers")
        try:
            net = cls(sizes, activation=acts[:-1], output=acts[-1], loss=loss, dtype=dtype,
                      seed=seed)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"its configuration is invalid ({exc})") from None
        if params.dtype != net.dtype or params.shape != (net.n_params,):
            raise ValueError(f"the parameter vector is {params.dtype}{params.shape}, the "
                             f"header's network needs {net.dtype}({net.n_params},)")
        if header.get("n_params") != net.n_params:
            raise ValueError("the header's parameter count does not match its layer sizes")
        if not np.isfinite(params).all():
            raise ValueError("the parameter vector contains NaN or infinity")
        net.params[:] = params
        if len(counters) != 2 or not all(0 <= c < 2**64 for c in counters):
            raise ValueError("the counters are malformed")
        net.rng_state[0] = counters[0]
        net.epochs_done = epochs_done
        entry = header.get("optimizer")
        if (entry is None) != (opt_state is None):
            raise ValueError("the optimizer state and the header's optimizer entry must "
                             "come together")
        if entry is not None:
            net.optimizer = _optimizers.from_dict(entry, opt_state, counters[1], net.n_params,
                                                  net.dtype)
        hist = header.get("history")
        if hist is not None:
            if not isinstance(hist, dict) or not all(
                isinstance(v, list) and all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                for v in hist.values()
            ):
                raise ValueError("the history is malformed (it needs lists of numbers)")
            net.history = {str(k): [float(x) for x in v] for k, v in hist.items()}
        meta = header.get("meta", {})
        if not isinstance(meta, dict):
            raise ValueError("its meta field is not a JSON object")
        net.meta = meta
        return net

    def save(self, path, *, include_optimizer=True, include_history=True, meta=None):
        """Write the network to ``path``: one ``.npz`` holding the parameter vector,
        the optimiser's state and a JSON header (configuration, training state,
        history, ``meta`` — by default ``self.meta``); see :mod:`nncore.io`.
        A failed save leaves any existing file as it was."""
        _archive.write(path, *self.to_archive(include_optimizer=include_optimizer,
                                              include_history=include_history, meta=meta))


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


_IDENTITY = np.array([activations.ACTIVATIONS["identity"].id], dtype=np.intc)
_NO_GRAD = {np.float64: np.empty(0, np.float64), np.float32: np.empty(0, np.float32)}

#: a sparse X is densified this many values (32 MB of float64) at a time
_DENSE_CHUNK_VALUES = 1 << 22


def _sparse_first(X, n_out) -> bool:
    """Whether the kernels take a checked CSR ``X`` as it is, the first layer (of n_out
    neurons) computed from its nonzeros (wide, sparse input), rather than dense
    blocks of its rows."""
    return _kernels.sparse_first_layer(X.nnz, X.shape[0], X.shape[1], n_out,
                                       X.dtype == np.float64)


def _dense_chunks(X):
    """(first row, dense block of rows) over a CSR matrix, a few MB at a time."""
    rows = max(1, _DENSE_CHUNK_VALUES // max(1, X.shape[1]))
    for start in range(0, X.shape[0], rows):
        yield start, np.ascontiguousarray(X[start:start + rows].toarray())


"""Optimisers and learning-rate schedules: small objects over the one parameter vector.

An optimiser holds its hyperparameters, its state — whole vectors in the layout
of ``params``, so Adam's moments are two more vectors like the model itself —
and its step count.  The compiled epoch applies it after every minibatch;
:meth:`Optimizer.step` applies it once, to a gradient computed anywhere.

==========  =====================================================  ==============
optimiser   update with gradient g (after weight decay)            state
==========  =====================================================  ==============
SGD         W := W - r g  (the lecture's W = W_old - r grad C)     none
SGD(mu)     v := mu v + g;  W := W - r v                           v
            (nesterov=True:  W := W - r (g + mu v))
Adam        m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2;          m, v
            W := W - r m^ / (sqrt(v^) + eps), with the bias
            corrections m^ = m/(1-b1^t), v^ = v/(1-b2^t)
==========  =====================================================  ==============

These are the conventions of ``torch.optim.SGD`` (dampening 0) and
``torch.optim.Adam``.  L2 ``weight_decay`` adds ``weight_decay * W`` to the
gradient of every weight — not of the biases, as in scikit-learn's ``alpha``.

The learning rate may follow a schedule, a function of the epoch (0-based,
counted over every ``fit`` of the network): one of :class:`ExponentialDecay`,
:class:`StepDecay`, :class:`InverseTimeDecay`, or any callable
``schedule(epoch, r0) -> r``.

``Network.fit(optimizer="sgd" | "momentum" | "adam", learning_rate=r)`` is the
short form: ``"momentum"`` is ``SGD(r, momentum=0.9)``, and ``r`` defaults to
:data:`DEFAULT_LEARNING_RATES`.

Minibatch optimisers are one family; a full-batch solver (L-BFGS) is another:
it does not step per minibatch but asks its data for the loss and gradient over
all of it (``loss_and_gradient``), as many times as it needs, and the training
loop hands it the data instead of running epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from . import _kernels, _parallel, _validation

__all__ = [
    "Optimizer", "SGD", "Adam", "SklearnSGD", "SklearnAdam", "LBFGS", "Schedule", "Constant",
    "ExponentialDecay", "StepDecay", "InverseTimeDecay", "DEFAULT_LEARNING_RATES", "NAMES",
    "SCHEDULES", "get", "from_config", "from_dict", "learning_rate",
]

#: the short forms of ``fit(optimizer=...)`` and their default learning rates:
#: 3.0 is the lecture's (sigmoid units, MSE, inputs in [0, 1]); momentum
#: multiplies the effective step by about 1 / (1 - mu) = 10, hence 0.3.
DEFAULT_LEARNING_RATES: dict[str, float] = {"sgd": 3.0, "momentum": 0.3, "adam": 1e-3}
#: the names of the minibatch optimisers' short forms (``"lbfgs"`` is the full-batch one)
NAMES = tuple(DEFAULT_LEARNING_RATES)


# ---------------------------------------------------------------- schedules

class Schedule:
    """A learning-rate schedule: ``schedule(epoch, r0)`` is the learning rate of
    (0-based) ``epoch`` for an optimiser whose learning rate is ``r0``."""

    name: ClassVar[str] = ""

    def __call__(self, epoch: int, lr0: float) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The schedule's parameters, JSON-serialisable (saved with the model)."""
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self):
        return hash((type(self), tuple(self.get_config().items())))


class Constant(Schedule):
    """``r = r0``."""

    name = "constant"

    def __call__(self, epoch, lr0):
        return lr0


class _Decay(Schedule):
    def __init__(self, decay_rate: float = 0.5, decay_steps: int = 10):
        self.decay_rate = _validation.check_positive(decay_rate, "decay_rate")
        self.decay_steps = _validation.check_positive(decay_steps, "decay_steps", integer=True)

    def get_config(self):
        return {"name": self.name, "decay_rate": self.decay_rate,
                "decay_steps": self.decay_steps}


class ExponentialDecay(_Decay):
    """``r = r0 * decay_rate ** (epoch / decay_steps)``."""

    name = "exponential"

    def __call__(self, epoch, lr0):
        return lr0 * self.decay_rate ** (epoch / self.decay_steps)


class StepDecay(_Decay):
    """``r = r0 * decay_rate ** floor(epoch / decay_steps)``."""

    name = "step"

    def __call__(self, epoch, lr0):
        return lr0 * self.decay_rate ** (epoch // self.decay_steps)


class InverseTimeDecay(_Decay):
    """``r = r0 / (1 + decay_rate * epoch / decay_steps)``."""

    name = "inverse_time"

    def __call__(self, epoch, lr0):
        return lr0 / (1.0 + self.decay_rate * epoch / self.decay_steps)


#: schedule name -> class, for ``schedule="step"`` and the model file
SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, ExponentialDecay, StepDecay, InverseTimeDecay)}


def _check_schedule(schedule):
    if schedule is None or isinstance(schedule, Schedule) or callable(schedule):
        return schedule
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return SCHEDULES[schedule]()
    raise ValueError(f"unknown lr_schedule {schedule!r}; valid: {', '.join(SCHEDULES)} "
                     f"or a callable")


def _scheduled(schedule, lr0: float, epoch: int) -> float:
    r = lr0 if schedule is None else float(schedule(epoch, lr0))
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"the learning-rate schedule gave {r!r} at epoch {epoch}; it must be > 0")
    return r


def learning_rate(schedule: str | Callable[[int, float], float], lr0: float, epoch: int,
                  decay_rate: float, decay_steps: int) -> float:
    """The learning rate of (0-based) ``epoch`` under a schedule given by name
    (``"constant"``, ``"exponential"``, ``"step"``, ``"inverse_time"`` with
    ``decay_rate`` and ``decay_steps``) or as a callable ``schedule(epoch, r0)``."""
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            _check_schedule(schedule)  # raises, naming the valid ones
        cls = SCHEDULES[schedule]
        schedule = cls() if cls is Constant else cls(decay_rate, decay_steps)
    return _scheduled(schedule, lr0, epoch)


# ---------------------------------------------------------------- optimisers

class Optimizer:
    """Base class of the minibatch optimisers.

    Parameters
    ----------
    learning_rate : float
        ``r``, the step size (before any schedule).
    weight_decay : float
        L2 penalty: ``weight_decay * W`` is added to the gradient of every
        weight (biases are not decayed).
    schedule : Schedule, callable or None
        The learning rate of each epoch, ``schedule(epoch, r0)``; None keeps ``r``.

    Attributes
    ----------
    state : ndarray or None
        The optimiser's vectors, one after another, each in the layout of the
        network's ``params`` (allocated, as zeros, by the first fit).
    step_count : int
        Updates applied so far (Adam's bias correction counts them).
    """

    #: the optimiser's kernel id(s) and how many state vectors it keeps are set
    #: by each subclass
    full_batch: ClassVar[bool] = False

    def __init__(self, learning_rate: float, *, weight_decay: float = 0.0, schedule=None):
        self.learning_rate = _validation.check_positive(learning_rate, "learning_rate")
        self.weight_decay = _validation.check_positive(weight_decay, "weight_decay",
                                                       allow_zero=True)
        self.schedule = _check_schedule(schedule)
        self.state: np.ndarray | None = None
        # the step count, in the one-element array the compiled kernels count in
        self.step_counter = np.zeros(1, dtype=np.uint64)

    # -------------------------------------------------------- what each one is

    @property
    def kind(self) -> int:
        """The compiled kernels' id of this update rule."""
        raise NotImplementedError

    @property
    def n_state(self) -> int:
        """How many vectors of the parameters' length the state holds."""
        raise NotImplementedError

    @property
    def key(self) -> tuple[str, bool]:
        """``(name, nesterov)``: which short form this is; a fit given the same short
        form again continues this optimiser's state (and the model file's entry)."""
        raise NotImplementedError

    def _hyper(self) -> dict[str, float]:
        """The values of the kernel's fields this optimiser uses."""
        return {}

    def get_config(self) -> dict[str, Any]:
        """The hyperparameters, JSON-serialisable (a custom callable schedule is not)."""
        raise NotImplementedError

    # -------------------------------------------------------- the update

    @property
    def step_count(self) -> int:
        """Updates applied so far (Adam's bias correction counts them)."""
        return int(self.step_counter[0])

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of (0-based, counted over every fit) ``epoch``."""
        return _scheduled(self.schedule, self.learning_rate, epoch)

    def kernel_config(self, learning_rate: float | None = None) -> dict[str, float]:
        """The compiled kernels' description of one update at ``learning_rate``."""
        config = {"kind": self.kind, "weight_decay": self.weight_decay, "alpha": 0.0,
                  "momentum": 0.0, "beta1": 0.0, "beta2": 0.0, "epsilon": 0.0,
                  "learning_rate": self.learning_rate if learning_rate is None
                  else learning_rate}
        config.update(self._hyper())
        return config

    def bind(self, n_params: int, dtype) -> Optimizer:
        """Make the state fit a parameter vector of ``n_params`` in ``dtype``: zeros
        for a new optimiser; an existing state must match."""
        dtype = np.dtype(dtype)
        size = self.n_state * n_params
        if self.state is None:
            self.state = np.zeros(size, dtype=dtype)
        elif self.state.shape != (size,) or self.state.dtype != dtype:
            raise ValueError(
                f"this {type(self).__name__} holds state for another network ({self.state.dtype}"
                f"{self.state.shape}, this one needs {dtype}({size},)); use a new optimiser, "
                f"or reset() this one")
        return self

    def reset(self) -> None:
        """Forget the state and the step count."""
        self.state = None
        self.step_counter[0] = 0

    def step(self, network, grad, *, learning_rate: float | None = None,
             batch_weight: float = 1.0) -> None:
        """Apply one update to ``network.params`` with the gradient ``grad`` (in the
        layout of params), exactly as the compiled epoch does after a minibatch:
        count the step, add the weight decay (and scikit-learn's ``alpha`` over
        ``batch_weight``, the minibatch's weight), update.  ``grad`` is not
        modified."""
        params = network.params
        self.bind(params.shape[0], params.dtype)
        grad = np.array(grad, dtype=params.dtype, order="C")  # the kernel decays it in place
        if grad.shape != params.shape:
            raise ValueError(f"grad has shape {grad.shape}, params {params.shape}")
        _kernels.optimizer_step(self.kernel_config(learning_rate),
                                np.asarray(network.sizes, dtype=np.intp), params, grad,
                                self.state, self.step_counter, batch_weight)

    # -------------------------------------------------------- rollback, files

    def snapshot(self):
        """A copy of the state and step count, for :meth:`restore`."""
        return (None if self.state is None else self.state.copy(), self.step_counter.copy())

    def _snapshot_into(self, snap):
        """:meth:`snapshot`, written into the arrays of an earlier one where they fit
        (the training loop's, every epoch); a subclass's own snapshot is called."""
        state, step = snap
        if type(self).snapshot is not Optimizer.snapshot or self.state is None \
                or state is None or state.shape != self.state.shape \
                or state.dtype != self.state.dtype:
            return self.snapshot()
        np.copyto(state, self.state)
        np.copyto(step, self.step_counter)
        return snap

    def restore(self, snap) -> None:
        """Go back to a :meth:`snapshot` (the loop does when an epoch fails)."""
        state, step = snap
        if state is None:
            self.state = None
        else:
            self.state[:] = state
        self.step_counter[:] = step

    def adopt(self, other: Optimizer) -> Optimizer:
        """Continue ``other``'s state and step count (same update rule)."""
        self.state = other.state
        self.step_counter = other.step_counter
        return self

    def to_dict(self) -> dict[str, Any]:
        """The model file's entry for this optimiser (the state is saved beside it)."""
        name, nesterov = self.key
        return {"name": name, "nesterov": nesterov,
                "state_size": 0 if self.state is None else int(self.state.size),
                "config": self.get_config()}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"


def _schedule_config(schedule):
    if schedule is None:
        return None
    if isinstance(schedule, Schedule):
        return schedule.get_config()
    return {"name": "callable", "repr": repr(schedule)}


def _schedule_from_config(config):
    if config is None:
        return None
    if not isinstance(config, dict) or config.get("name") not in SCHEDULES:
        return None  # a custom callable cannot be restored from a file
    params = {k: v for k, v in config.items() if k != "name"}
    return SCHEDULES[config["name"]](**params)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    ``W := W - r g`` — the lecture's ``W = W_old - r grad C(W_old)`` — or, with
    momentum ``mu``, ``v := mu v + g; W := W - r v`` (Nesterov:
    ``W := W - r (g + mu v)``), as ``torch.optim.SGD`` with dampening 0.

    Parameters
    ----------
    learning_rate : float, optional
        ``r``; default 3.0 without momentum (the lecture's), 0.3 with it.
    momentum : float in [0, 1)
    nesterov : bool
        Nesterov's variant; needs ``momentum > 0``.
    weight_decay : float
        L2 penalty on the weights (not the biases).
    schedule : Schedule, callable or None
        The learning rate per epoch, ``schedule(epoch, r0)``.
    """

    def __init__(self, learning_rate: float | None = None, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, schedule=None):
        self.momentum = _validation.check_fraction(momentum, "momentum")
        if nesterov is not True and nesterov is not False:
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = nesterov
        if learning_rate is None:
            learning_rate = DEFAULT_LEARNING_RATES["momentum" if self.momentum else "sgd"]
        super().__init__(learning_rate, weight_decay=weight_decay, schedule=schedule)

    @property
    def kind(self):
        if self.momentum == 0.0:
            return _kernels.OPTIMIZER_IDS["sgd"]
        return _kernels.OPTIMIZER_IDS["nesterov" if self.nesterov else "momentum"]

    @property
    def n_state(self):
        return 0 if self.momentum == 0.0 else 1

    @property
    def key(self):
        return ("sgd" if self.momentum == 0.0 else "momentum", self.nesterov)

    @property
    def velocity(self) -> np.ndarray | None:
        """``v``, in the layout of params (None without momentum or before training)."""
        return self.state if self.n_state else None

    def _hyper(self):
        return {"momentum": self.momentum}

    def get_config(self):
        return {"class": "SGD", "learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov, "weight_decay": self.weight_decay,
                "schedule": _schedule_config(self.schedule)}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as ``torch.optim.Adam``.

    ``m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2;
    W := W - r (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.

    Parameters
    ----------
    learning_rate : float
    beta1, beta2 : float in [0, 1)
        Decay rates of the moving averages of ``g`` and ``g^2``.
    epsilon : float
        Added to the denominator.
    weight_decay : float
        L2 penalty on the weights (not the biases), added to the gradient.
    schedule : Schedule, callable or None
    """

    def __init__(self, learning_rate: float = DEFAULT_LEARNING_RATES["adam"], *,
                 beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                 weight_decay: float = 0.0, schedule=None):
        self.beta1 = _validation.check_fraction(beta1, "beta1")
        self.beta2 = _validation.check_fraction(beta2, "beta2")
        self.epsilon = _validation.check_positive(epsilon, "epsilon")
        super().__init__(learning_rate, weight_decay=weight_decay, schedule=schedule)

    @property
    def kind(self):
        return _kernels.OPTIMIZER_IDS["adam"]

    @property
    def n_state(self):
        return 2  # m and v

    @property
    def key(self):
        return ("adam", False)

    @property
    def moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(m, v)``, views into the state, each in the layout of params."""
        if self.state is None:
            return None
        n = self.state.shape[0] // 2
        return self.state[:n], self.state[n:]

    def _hyper(self):
        return {"beta1": self.beta1, "beta2": self.beta2, "epsilon": self.epsilon}

    def get_config(self):
        return {"class": "Adam", "learning_rate": self.learning_rate, "beta1": self.beta1,
                "beta2": self.beta2, "epsilon": self.epsilon,
                "weight_decay": self.weight_decay, "schedule": _schedule_config(self.schedule)}


class SklearnSGD(Optimizer):
    """scikit-learn's MLP stochastic gradient descent, its update and its schedules.

    ``v := mu v - r g;  W := W + v`` (Nesterov: ``W := W + mu v - r g``) — the
    velocity carries the learning rate, so a rate that changes between epochs
    changes the steps as in ``sklearn.neural_network``'s ``SGDOptimizer``.  The
    rate follows ``lr_schedule``: ``"constant"``; ``"invscaling"``, ``r =
    learning_rate_init / (t + 1) ** power_t`` after every epoch, ``t`` the samples
    seen (:meth:`iteration_ends`); ``"adaptive"``, divided by 5 each time training
    stalls, until it falls below 1e-6 (:meth:`trigger_stopping`).

    ``alpha`` is scikit-learn's L2 penalty: ``alpha W / (the minibatch's weight)``
    is added to the weights' gradient (and ``0.5 alpha |W|^2`` over that weight to
    the minibatch's loss).  The drop-in estimators of :mod:`nncore.sklearn` use
    this optimiser; it works for any network.

    Attributes
    ----------
    learning_rate : float
        The current learning rate.
    """

    def __init__(self, learning_rate_init: float = 0.1, lr_schedule: str = "constant",
                 momentum: float = 0.9, nesterov: bool = True, power_t: float = 0.5, *,
                 alpha: float = 0.0):
        if lr_schedule not in ("constant", "invscaling", "adaptive"):
            raise ValueError(f"lr_schedule must be 'constant', 'invscaling' or 'adaptive', "
                             f"got {lr_schedule!r}")
        self.learning_rate_init = _validation.check_positive(learning_rate_init,
                                                             "learning_rate_init")
        self.lr_schedule = lr_schedule
        self.momentum = _validation.check_positive(momentum, "momentum", allow_zero=True)
        if self.momentum > 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.nesterov = bool(nesterov)
        self.power_t = _validation.check_positive(power_t, "power_t", allow_zero=True)
        self.alpha = _validation.check_positive(alpha, "alpha", allow_zero=True)
        super().__init__(self.learning_rate_init)

    @property
    def kind(self):
        return _kernels.OPTIMIZER_IDS["sk_nesterov" if self.nesterov else "sk_momentum"]

    @property
    def n_state(self):
        return 1  # the velocity, also without momentum (scikit-learn keeps it)

    @property
    def key(self):
        return ("sk_sgd", self.nesterov)

    @property
    def velocity(self) -> np.ndarray | None:
        """``v``, in the layout of params (None before training)."""
        return self.state

    def _hyper(self):
        return {"momentum": self.momentum, "alpha": self.alpha}

    def learning_rate_at(self, epoch: int) -> float:
        return self.learning_rate

    def iteration_ends(self, time_step: int) -> None:
        """After an epoch, with ``time_step`` the samples trained on so far."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg: str, verbose) -> bool:
        """Training has stalled: whether to stop (otherwise the adaptive rate was
        divided by 5)."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False

    def get_config(self):
        return {"class": "SklearnSGD", "learning_rate_init": self.learning_rate_init,
                "lr_schedule": self.lr_schedule, "momentum": self.momentum,
                "nesterov": self.nesterov, "power_t": self.power_t, "alpha": self.alpha,
                "learning_rate": self.learning_rate}


class SklearnAdam(Optimizer):
    """scikit-learn's MLP Adam: ``m, v`` as in :class:`Adam`, and
    ``W := W - r sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`` — epsilon is
    added outside the bias correction, unlike PyTorch's Adam.  ``alpha`` as in
    :class:`SklearnSGD`.

    Attributes
    ----------
    learning_rate : float
        As scikit-learn's AdamOptimizer: the bias-corrected rate of the last step.
    """

    def __init__(self, learning_rate_init: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, *, alpha: float = 0.0):
        self.learning_rate_init = _validation.check_positive(learning_rate_init,
                                                             "learning_rate_init")
        self.beta_1 = _validation.check_fraction(beta_1, "beta_1")
        self.beta_2 = _validation.check_fraction(beta_2, "beta_2")
        self.epsilon = _validation.check_positive(epsilon, "epsilon")
        self.alpha = _validation.check_positive(alpha, "alpha", allow_zero=True)
        super().__init__(self.learning_rate_init)

    @property
    def kind(self):
        return _kernels.OPTIMIZER_IDS["sk_adam"]

    @property
    def n_state(self):
        return 2

    @property
    def key(self):
        return ("sk_adam", False)

    def _hyper(self):
        return {"beta1": self.beta_1, "beta2": self.beta_2, "epsilon": self.epsilon,
                "alpha": self.alpha}

    @property
    def learning_rate(self) -> float:
        # scikit-learn's AdamOptimizer sets it at every step: here it follows the step
        # count wherever training stopped (a callback's error mid-fit included)
        t = self.step_count
        if not t:
            return self.learning_rate_init
        return float(self.learning_rate_init * np.sqrt(1 - self.beta_2 ** t)
                     / (1 - self.beta_1 ** t))

    @learning_rate.setter
    def learning_rate(self, value):
        pass  # (as scikit-learn's: the next step sets it anew)

    def learning_rate_at(self, epoch: int) -> float:
        return self.learning_rate_init

    def iteration_ends(self, time_step: int) -> None:
        """After an epoch: nothing (as scikit-learn's AdamOptimizer)."""

    def kernel_config(self, learning_rate: float | None = None) -> dict[str, float]:
        # (the kernels apply the bias correction themselves)
        return super().kernel_config(self.learning_rate_init if learning_rate is None
                                     else learning_rate)

    def trigger_stopping(self, msg: str, verbose) -> bool:
        """Training has stalled: Adam always stops."""
        if verbose:
            print(msg + " Stopping.")
        return True

    def get_config(self):
        return {"class": "SklearnAdam", "learning_rate_init": self.learning_rate_init,
                "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "alpha": self.alpha}


class LBFGS:
    """L-BFGS-B (SciPy's) on the loss over all the data: a full-batch solver.

    It takes no minibatch steps: the training loop hands it a function giving the
    loss and gradient over all the samples (computed by the compiled kernels, or
    summed over the blocks of a cluster) and it iterates on the whole parameter
    vector, which is exactly the variable SciPy's minimiser wants.  Each
    iteration is logged as an epoch.

    Parameters
    ----------
    max_iter : int, optional
        Iterations at most (default: ``fit``'s ``epochs``).
    max_fun : int, default 15000
        Loss-and-gradient evaluations at most.
    tol : float, default 1e-4
        Stop when the largest gradient component (projected) is below ``tol``
        (SciPy's ``gtol``).
    weight_decay : float, default 0.0
        L2 penalty: ``0.5 weight_decay |W|^2`` is added to the loss (its gradient
        ``weight_decay W`` to the weights'); biases are not penalised.
    max_corrections : int, default 10
        The number of updates L-BFGS keeps (SciPy's ``maxcor``).

    Attributes
    ----------
    result_ : scipy.optimize.OptimizeResult or None
        The last run's result (``nit``, ``nfev``, ``status``, ``message``).
    """

    full_batch = True
    state = None

    def __init__(self, max_iter: int | None = None, *, max_fun: int = 15000, tol: float = 1e-4,
                 weight_decay: float = 0.0, max_corrections: int = 10):
        self.max_iter = None if max_iter is None else _validation.check_positive(
            max_iter, "max_iter", integer=True)
        self.max_fun = _validation.check_positive(max_fun, "max_fun", integer=True)
        self.tol = _validation.check_positive(tol, "tol", allow_zero=True)
        self.weight_decay = _validation.check_positive(weight_decay, "weight_decay",
                                                       allow_zero=True)
        self.max_corrections = _validation.check_positive(max_corrections, "max_corrections",
                                                          integer=True)
        self.result_ = None
        self.step_count = 0  # iterations over every run

    key = ("lbfgs", False)

    def minimize(self, fun, x0, *, max_iter: int, callback=None):
        """Minimise ``fun(x) -> (loss, gradient)`` from ``x0`` (float64 vectors) for
        at most ``max_iter`` iterations; ``callback(result)`` after each iteration
        may raise StopIteration to end early.  Returns SciPy's OptimizeResult."""
        import scipy.optimize

        def each(intermediate_result):
            self.step_count += 1
            if callback is not None:
                callback(intermediate_result)

        with _parallel.serial_solver_blas(fun) as evaluate:
            self.result_ = scipy.optimize.minimize(
                evaluate, np.asarray(x0, dtype=np.float64), method="L-BFGS-B", jac=True,
                callback=each, options={"maxfun": self.max_fun, "maxiter": max_iter,
                                        "gtol": self.tol, "maxcor": self.max_corrections})
        return self.result_

    # what the training loop and the model file ask of every optimiser
    def bind(self, n_params, dtype):
        return self

    def reset(self):
        self.step_count = 0

    def snapshot(self):
        return self.step_count

    def restore(self, snap):
        self.step_count = snap

    def adopt(self, other):
        return self

    def get_config(self):
        return {"class": "LBFGS", "max_iter": self.max_iter, "max_fun": self.max_fun,
                "tol": self.tol, "weight_decay": self.weight_decay,
                "max_corrections": self.max_corrections}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"LBFGS({args})"


_CLASSES = {"SGD": SGD, "Adam": Adam, "SklearnSGD": SklearnSGD, "SklearnAdam": SklearnAdam}


def from_config(config: dict[str, Any]) -> Optimizer:
    """The optimiser :meth:`Optimizer.get_config` describes (without state)."""
    params = dict(config)
    cls = _CLASSES[params.pop("class")]
    current = params.pop("learning_rate", None) if cls is SklearnSGD else None
    if cls in (SGD, Adam):
        params["schedule"] = _schedule_from_config(params.get("schedule"))
    opt = cls(**params)
    if current is not None:  # the adaptive / invscaling rate where training left it
        opt.learning_rate = _validation.check_positive(current, "learning_rate")
    return opt


def from_dict(entry, state: np.ndarray, step_count: int, n_params: int, dtype) -> Optimizer:
    """The optimiser a model file's entry (:meth:`Optimizer.to_dict`) and state
    describe, every field checked; raises ValueError saying which is wrong.

    Files written before optimisers were objects have no ``config``: their
    optimiser gets the default hyperparameters of its name (a fit given the short
    form sets them anyway)."""
    if not isinstance(entry, dict):
        raise ValueError("the optimizer entry is malformed")
    name = entry.get("name")
    nesterov = entry.get("nesterov", False)
    if not isinstance(name, str) or name not in (*NAMES, "sk_sgd", "sk_adam"):
        raise ValueError(f"unknown optimizer {name!r}")
    if not isinstance(nesterov, bool):
        raise ValueError(f"the optimizer's nesterov flag is {nesterov!r}, not true/false")
    config = entry.get("config")
    try:
        if config is None and name.startswith("sk_"):
            raise ValueError("scikit-learn's optimisers are saved with their configuration")
        if config is None:
            opt = get(name, nesterov=nesterov) if name == "momentum" else get(name)
        elif not isinstance(config, dict) or config.get("class") not in _CLASSES:
            raise ValueError(f"unknown optimizer class in {config!r}")
        else:
            opt = from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the optimizer's configuration is invalid ({exc})") from None
    if opt.key != (name, nesterov):
        raise ValueError(f"the optimizer's configuration ({opt!r}) does not match its name "
                         f"{name!r}")
    need = opt.n_state * n_params
    if state.dtype != np.dtype(dtype) or state.shape != (need,):
        raise ValueError("the optimizer state does not match the network")
    if not np.isfinite(state).all():
        raise ValueError("the optimizer state contains NaN or infinity")
    opt.state = np.array(state)
    opt.step_counter[0] = step_count
    return opt


def get(spec, learning_rate: float | None = None, **options) -> Optimizer:
    """An optimiser from fit's short form: a name and a learning rate, or an
    :class:`Optimizer` as it is.

    ``options`` are the flat hyperparameters of earlier versions of ``fit``
    (``momentum, nesterov, beta1, beta2, epsilon, weight_decay, lr_schedule,
    decay_rate, decay_steps``), applied where they mean something: momentum and
    nesterov to ``"momentum"``, the betas and epsilon to ``"adam"``.
    """
    if spec == "lbfgs":  # the full-batch short form: no learning rate, no minibatches
        if learning_rate is not None or options:
            raise TypeError("lbfgs takes no learning rate or minibatch options; give its "
                            "settings as nncore.optimizers.LBFGS(...)")
        return LBFGS()
    if isinstance(spec, (Optimizer, LBFGS)):
        if learning_rate is not None or options:
            given = ", ".join(["learning_rate"] * (learning_rate is not None) + list(options))
            raise TypeError(f"{given} belong(s) to the optimizer object: pass "
                            f"{type(spec).__name__}({given.split(', ')[0]}=...) instead")
        return spec
    if not isinstance(spec, str) or spec not in NAMES:
        raise ValueError(f"unknown optimizer {spec!r}; valid: {', '.join(NAMES)}, lbfgs "
                         f"or an nncore.optimizers.Optimizer")
    lr = DEFAULT_LEARNING_RATES[spec] if learning_rate is None else learning_rate
    opt = {"momentum": 0.9, "nesterov": False, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
           "weight_decay": 0.0, "lr_schedule": "constant", "decay_rate": 0.5,
           "decay_steps": 10}
    unknown = set(options) - set(opt)
    if unknown:
        raise TypeError(f"unexpected keyword argument {sorted(unknown)[0]!r}")
    opt.update(options)
    # every value given is checked, also those this optimiser does not use, as fit
    # always did
    lr = _validation.check_positive(lr, "learning_rate")
    _validation.check_positive(opt["weight_decay"], "weight_decay", allow_zero=True)
    for name in ("momentum", "beta1", "beta2"):
        _validation.check_fraction(opt[name], name)
    _validation.check_positive(opt["epsilon"], "epsilon")
    _validation.check_positive(opt["decay_rate"], "decay_rate")
    _validation.check_positive(opt["decay_steps"], "decay_steps", integer=True)
    schedule = _check_schedule(opt["lr_schedule"])
    if isinstance(opt["lr_schedule"], str):  # a name: the flat decay_rate and decay_steps apply
        cls = SCHEDULES[opt["lr_schedule"]]
        schedule = None if cls is Constant else cls(opt["decay_rate"], opt["decay_steps"])
    if spec == "adam":
        return Adam(lr, beta1=opt["beta1"], beta2=opt["beta2"], epsilon=opt["epsilon"],
                    weight_decay=opt["weight_decay"], schedule=schedule)
    if spec == "momentum":
        momentum = opt["momentum"]
        return SGD(lr, momentum=momentum, nesterov=bool(opt["nesterov"]) and momentum > 0,
                   weight_decay=opt["weight_decay"], schedule=schedule)
    return SGD(lr, weight_decay=opt["weight_decay"], schedule=schedule)

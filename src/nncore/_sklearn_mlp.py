"""The drop-in: scikit-learn's MLPClassifier / MLPRegressor, trained by nncore's core.

Same parameters, defaults, mathematics, random streams, stopping rules and fitted
attributes as ``sklearn.neural_network`` (1.9), so that::

    from nncore.sklearn import MLPClassifier   # instead of sklearn.neural_network

trains the same network, faster.  What is the same, and how:

* initial weights and intercepts: drawn from ``check_random_state(random_state)``
  exactly as scikit-learn draws them (Glorot uniform, factor 2 for logistic);
* minibatches: scikit-learn's ``shuffle`` of the sample indices each epoch, from
  the same random state; the early-stopping split by ``train_test_split`` with it;
* losses: half squared error (averaged over the outputs), the log-loss of
  probabilities clipped to the dtype's eps, half Poisson deviance (exp outputs);
  ``alpha``'s L2 penalty ``0.5 alpha |W|^2 / n`` per minibatch of ``n`` samples (or
  of that sample weight), added to the loss and its gradient;
* updates: scikit-learn's SGD (the velocity carries the learning rate; Nesterov),
  its Adam (epsilon outside the bias correction), its ``invscaling`` and
  ``adaptive`` schedules; L-BFGS-B from SciPy with scikit-learn's options, its
  packing of the parameters and its convergence warnings;
* stopping: ``tol``, ``n_iter_no_change``, early stopping on the validation
  *score*, ConvergenceWarning; ``warm_start`` and ``partial_fit`` keep or reset the
  optimiser, ``t_``, ``n_iter_`` and the no-improvement count as scikit-learn does.

The arithmetic runs in nncore's compiled kernels (one call per epoch, several
threads for large minibatches), so results equal scikit-learn's to floating-point
rounding, not bit for bit.  ``coefs_`` and ``intercepts_`` are views of the
trained ``network_``'s parameter vector in scikit-learn's shapes; assigning new
arrays to them sets the network's parameters.
"""

from __future__ import annotations

import functools
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn import config_context, get_config
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkClassifier
from sklearn.neural_network import MLPRegressor as _SkRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import _kernels, _layout
from ._sklearn_base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    accuracy,
    fit_label_binarizer,
    plain_training_data,
    predict_plain,
    r2,
    refuse_dates,
    refuse_text_targets,
    train_network,
)
from .callbacks import Callback
from .network import Network
from .optimizers import LBFGS, SklearnAdam, SklearnSGD
from .training import LocalData


def _fit_context(method):
    """scikit-learn's rule for its MLP's fit and partial_fit: the parameters checked
    unless ``set_config(skip_parameter_validation=True)``, and what the method calls
    (``train_test_split``) not checking its own again, so that a bad setting fails
    there as it does in scikit-learn (``validation_fraction=0.0``: its ValueError)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        if not get_config()["skip_parameter_validation"]:
            _validate_params(self)
        with config_context(skip_parameter_validation=True):
            return method(self, *args, **kwargs)
    return run


_PARAM_NAMES = {}  # estimator class -> its parameters' names (from __init__'s signature)
_PLAIN = (bool, int, float, str, type(None))
_PARAMS_PASSED = set()  # (class, key) of settings that passed the checks, in any estimator


def _validate_params(est):
    """``est._validate_params()``, skipped when every parameter holds a plain value (a
    number, string, None, or tuple of numbers) and the same class has passed the checks
    with those same values before, in this estimator or another (a clone in a grid
    search, a fresh estimator each fit): the checks (get_params reads __init__'s
    signature each time) took a fifth of a small partial_fit, 0.25 ms of a small fit.
    Any other value (a list, an array, a RandomState) is checked every call, as it
    could have changed in place."""
    cls = type(est)
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(cls._get_param_names())
    key = []
    for name in names:
        value = getattr(est, name)
        if type(value) is tuple and all(type(v) in _PLAIN for v in value):
            key.append((tuple, tuple((type(v), v) for v in value)))
        elif type(value) in _PLAIN:
            key.append((type(value), value))
        else:
            key = None
            break
    if key is not None:
        key = (cls, tuple(key))
        if key in _PARAMS_PASSED:
            return
    est._validate_params()
    if key is not None:
        if len(_PARAMS_PASSED) >= 1024:  # (a long search's settings: bounded)
            _PARAMS_PASSED.clear()
        _PARAMS_PASSED.add(key)


__all__ = ["MLPClassifier", "MLPRegressor"]

_STOCHASTIC_SOLVERS = ("sgd", "adam")

#: scikit-learn's activation names -> nncore's (leaky_relu is nncore's addition)
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
                "leaky_relu": "leaky_relu", "softmax": "softmax", "exp": "exp"}


def _check_sample_weight(sample_weight, X):
    """One finite weight per sample (a number means that weight for all), float64
    unless X is float32; as scikit-learn's MLP, negative weights are not refused,
    all-zero weights are."""
    n = X.shape[0]
    if isinstance(sample_weight, Real):
        sw = np.full(n, sample_weight, dtype=X.dtype)
    else:
        sw = check_array(sample_weight, accept_sparse=False, ensure_2d=False,
                         dtype=[np.float64, np.float32], order="C", input_name="sample_weight")
        if sw.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {sw.ndim}D array. "
                             f"Expected either a scalar value or a 1D array of length {n}.")
        if sw.shape != (n,):
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}!")
    if np.all(sw == 0):
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


def _sklearn_objective(loss, grad, sw_sum, x, sizes, alpha, out):
    """scikit-learn's L-BFGS objective and its gradient at the parameters ``x``
    (float64, nncore's layout) from nncore's loss and gradient sums over the data:
    their means plus alpha's L2 penalty on the weights, the gradient to ``out``
    (float64; may be ``grad``).  ``sizes``: the network's spec.sizes."""
    sumsq = _kernels.l2_gradient(grad, x, sizes, sw_sum, alpha / sw_sum, out)
    return loss / sw_sum + 0.5 * alpha * sumsq / sw_sum, out


def _check_random_state(est):
    """``check_random_state(est.random_state)``, as scikit-learn's fit and partial_fit
    make it each call.  For an integer seed the generator an earlier call made is
    seeded again instead of made anew: the same state (``RandomState.seed`` runs the
    legacy seeding ``RandomState(seed)`` runs), 3 us instead of 130-170, which had
    been a third of a small partial_fit.  Never a generator the user passed."""
    seed, own = est.random_state, est.__dict__.get("_own_random_state")
    if isinstance(seed, Integral) and own is not None and est.__dict__.get("_random_state") is own:
        own.seed(seed)
        return own
    rs = check_random_state(seed)
    est._own_random_state = rs if isinstance(seed, Integral) else None
    return rs


def _check_optimize_result(result, max_iter):
    """scikit-learn's account of an L-BFGS run: the iterations (at most max_iter)
    and a ConvergenceWarning saying why it stopped when it did not converge."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        msg = (f"lbfgs failed to converge after {n_iter} iteration(s) "
               f"(status={result.status}):\n{result.message}\n")
        if n_iter == max_iter:
            msg += (f"\nIncrease the number of iterations to improve the convergence "
                    f"(max_iter={max_iter}).")
        msg += ("\nYou might also want to scale the data as shown in:\n"
                "    https://scikit-learn.org/stable/modules/preprocessing.html")
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
    return n_iter


def _binarize(lb, y, known=True):
    """``lb.transform(y).astype(bool)`` for labels all among ``lb.classes_`` (as
    _fit_or_check_classes has made sure): for a 1-D NumPy array of integers, bools
    or strings, the comparisons scikit-learn's label_binarize comes to, without its
    checks (two type_of_target calls: a third of a small partial_fit's time).
    Anything else goes to scikit-learn.  ``known=False``: the labels not yet checked;
    None unless the comparisons find every one among the classes (and the caller then
    checks them as scikit-learn does)."""
    classes = lb.classes_
    if type(lb) is not LabelBinarizer or lb.sparse_output or type(y) is not np.ndarray \
            or y.ndim != 1 or type(classes) is not np.ndarray \
            or y.dtype.kind not in "iubU" or classes.dtype.kind != y.dtype.kind \
            or lb.y_type_ not in ("binary", "multiclass") \
            or lb.neg_label != 0 or lb.pos_label != 1:
        return lb.transform(y).astype(bool) if known else None
    if classes.shape[0] == 1:
        Y = np.zeros((y.shape[0], 1), dtype=bool)
        found = known or bool((y == classes[0]).all())
    elif lb.y_type_ == "binary":  # one column: the second (sorted) class
        Y = (y == classes[1]).reshape(-1, 1)
        found = known or bool((Y[:, 0] | (y == classes[0])).all())
    else:
        Y = y[:, None] == classes[None, :]
        found = known or bool(Y.any(axis=1).all())
    return Y if found else None


def _inverse_binarize(lb, y):
    """``lb.inverse_transform(y)`` for the network's outputs: what scikit-learn's own
    code does with a NumPy array (the argmax of each row, or the threshold half way
    between its labels), without its dispatch, which took 100 us of a one-row
    predict's 130.  Anything else goes to scikit-learn."""
    if type(lb) is not LabelBinarizer or lb.sparse_input_ or type(y) is not np.ndarray \
            or type(lb.classes_) is not np.ndarray or y.dtype.kind != "f":
        return lb.inverse_transform(y)
    classes = lb.classes_
    if lb.y_type_ == "multiclass" and y.ndim == 2:
        return classes[np.clip(y.argmax(axis=1), 0, classes.shape[0] - 1)]
    indicator = np.asarray(y > (lb.pos_label + lb.neg_label) / 2.0, dtype=np.intp)
    if lb.y_type_ == "multilabel-indicator" and y.ndim == 2 \
            and y.shape[1] == classes.shape[0]:
        return indicator
    if lb.y_type_ == "binary" and y.ndim == 1:
        if classes.shape[0] == 1:
            return np.repeat(classes[0], len(y))
        return classes[indicator]
    return lb.inverse_transform(y)


class _EpochEnd(Callback):
    """scikit-learn's bookkeeping after every epoch: n_iter_, loss_, t_, the loss
    curve, the validation score, the no-improvement count and the optimiser's
    schedule; returns True to stop."""

    def __init__(self, est, n_samples, validation, incremental):
        self.est, self.n_samples = est, n_samples
        self.validation, self.incremental = validation, incremental
        self.reached_max_iter = False

    def on_epoch_end(self, epoch, logs):
        est = self.est
        est.n_iter_ += 1
        est.loss_ = np.float64(logs["loss"])
        est.t_ += self.n_samples
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        est._update_no_improvement_count(self.validation)
        est._optimizer.iteration_ends(est.t_)
        if est._no_improvement_count > est.n_iter_no_change:
            what = ("Validation score did not improve more than" if self.validation is not None
                    else "Training loss did not improve more than")
            msg = (f"{what} tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs.")
            if est._optimizer.trigger_stopping(msg, est.verbose):
                return True
            est._no_improvement_count = 0
        if self.incremental:
            return True
        if est.n_iter_ == est.max_iter:
            self.reached_max_iter = True  # warned once training is over, from fit
        return False


class _BaseMLP(BaseEstimator):
    """The machinery both drop-in estimators share (scikit-learn's
    BaseMultilayerPerceptron, on nncore's Network)."""

    # scikit-learn's own constraints, so that a bad setting gets its very message (a
    # set's order in it depends on how the module was compiled); nncore adds
    # leaky_relu to the activations
    _parameter_constraints: dict = {
        **_SkClassifier._parameter_constraints,
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu", "leaky_relu"})],
    }

    # ------------------------------------------------------------ the network

    @property
    def network_(self) -> Network:
        """The trained :class:`nncore.Network`: its ``params`` vector holds every
        coefficient and intercept (``coefs_``/``intercepts_`` are views of it)."""
        check_is_fitted(self, "coefs_")
        return self._network()

    def _network(self) -> Network:
        """The Network whose parameters are coefs_ / intercepts_: the existing one
        while they are still its views, else (after coefs_ / intercepts_ were
        assigned, or after unpickling) a network holding their values."""
        net = self.__dict__.get("_net")
        coefs, intercepts = self.coefs_, self.intercepts_
        views = self.__dict__.get("_views")
        if net is not None and views is not None and coefs is views[0] \
                and intercepts is views[1] and all(a is b for a, b in zip(coefs, views[2])) \
                and all(a is b for a, b in zip(intercepts, views[3])):
            return net
        replaced = (views is None or coefs is not views[0],
                    views is None or intercepts is not views[1])
        coefs = [np.asarray(c) for c in coefs]
        intercepts = [np.asarray(b) for b in intercepts]
        sizes = [coefs[0].shape[0]] + [c.shape[1] for c in coefs]
        if len(intercepts) != len(coefs) or any(
                c.ndim != 2 or b.shape != (c.shape[1],) or c.shape[0] != n_in
                for c, b, n_in in zip(coefs, intercepts, sizes[:-1])):
            raise ValueError("coefs_ and intercepts_ must be lists of arrays of shapes "
                             "(n_in, n_out) and (n_out,), one per layer, the layers chained")
        dtype = np.result_type(*coefs, *intercepts)
        dtype = np.float32 if dtype == np.float32 else np.float64
        if net is None or list(net.sizes) != sizes or net.dtype != dtype or \
                net.activations[-1] != _ACTIVATIONS[self.out_activation_]:
            net = self._new_network(sizes, dtype)
        self._settle_best(net, *replaced)
        for w, b, c, i in zip(net.weights, net.biases, coefs, intercepts):
            w[...] = c.T
            b[...] = i
        self._attach(net)
        return net

    def _settle_best(self, net, coefs_replaced, intercepts_replaced):
        """Before assigned coefs_ / intercepts_ are written into net: the best
        parameters that follow the current ones (see _fit_stochastic) stay what they
        are where scikit-learn's lists were replaced (its _best_coefs keeps the old
        arrays), and follow on where only their items were (the same list)."""
        live = self.__dict__.get("_best_live")
        if live is None:
            return
        if net is not self.__dict__.get("_net"):  # (a new network: no array is shared)
            self._best_live = None
            return
        best = _layout.blocks(self._best_params, net.sizes)
        now = _layout.blocks(net.params, net.sizes)
        for b, c, keep in zip(best, now, _layout.blocks(live, net.sizes)):
            for cols, replaced in ((slice(1, None), coefs_replaced),
                                   (slice(0, 1), intercepts_replaced)):
                if replaced:
                    b[:, cols] = np.where(keep[:, cols], c[:, cols], b[:, cols])
                    keep[:, cols] = False
        if not live.any():
            self._best_live = None

    def _new_network(self, sizes, dtype):
        hidden = _ACTIVATIONS[self.activation]
        out = _ACTIVATIONS[self.out_activation_]
        # (its parameters are set by _initialize or from coefs_ / a checkpoint)
        return Network._blank(sizes, activation=hidden, output=out, loss=self._network_loss(),
                              dtype=np.dtype(dtype).name, seed=0)

    def _attach(self, net):
        """coefs_ / intercepts_ become views of net's parameters, in scikit-learn's shapes."""
        self._net = net
        self.coefs_ = [w.T for w in net.weights]
        self.intercepts_ = list(net.biases)
        self._views = (self.coefs_, self.intercepts_, list(self.coefs_), list(self.intercepts_))

    def __getstate__(self):
        if self.__dict__.get("_net") is not None:
            self._network()  # coefs_ / intercepts_ assigned since: into the network first
        state = dict(super().__getstate__())  # (object's is the live __dict__ itself)
        state.pop("_views", None)  # views do not survive pickling: rebuilt from the network
        if "_net" in state:
            state["coefs_"] = state["intercepts_"] = None
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if self.__dict__.get("_net") is not None:
            self._attach(self._net)

    # ------------------------------------------------------------ fitting

    def _initialize(self, y, layer_units, dtype):
        """scikit-learn's first pass: counters, the output activation, the initial
        weights (drawn from self._random_state in its order) and the curves."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        net = self._new_network(layer_units, dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for w, b, fan_in, fan_out in zip(net.weights, net.biases, layer_units[:-1],
                                         layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._random_state.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._random_state.uniform(-bound, bound, fan_out)
            w[...] = coef.astype(dtype, copy=False).T
            b[...] = intercept.astype(dtype, copy=False)
        self._attach(net)
        # (early stopping's best parameters, restored at the end; scikit-learn keeps
        # its _best_coefs only then, and a copy the size of the network would
        # otherwise be made, and pickled, for nothing)
        self._best_params = net.params.copy() if self.early_stopping else None
        self._best_live = None
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        if np.any(np.array(hidden) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        refuse_dates(X)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, X)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1], *hidden, self.n_outputs_]
        self._random_state = _check_random_state(self)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
        net = self._network()
        Y = self._float_targets(y, net.dtype)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(net.dtype, copy=False)
        if self.solver in _STOCHASTIC_SOLVERS:
            self._fit_stochastic(net, X, Y, sample_weight, incremental)
        else:
            net = self._fit_lbfgs(net, X, Y, sample_weight)
        if not np.isfinite(net.params).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may"
                             " contain large values and need to be preprocessed.")
        return self

    def _fit_stochastic(self, net, X, Y, sample_weight, incremental):
        if not incremental or not hasattr(self, "_optimizer"):
            if self.solver == "sgd":
                self._optimizer = SklearnSGD(self.learning_rate_init, self.learning_rate,
                                             self.momentum, self.nesterovs_momentum,
                                             self.power_t, alpha=self.alpha)
            else:
                self._optimizer = SklearnAdam(self.learning_rate_init, self.beta_1, self.beta_2,
                                              self.epsilon, alpha=self.alpha)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        self._optimizer.alpha = self.alpha
        validation = None
        X_train, Y_train, sw_train = X, Y, sample_weight
        if self.early_stopping:
            # don't stratify in multilabel (nor multiclass) classification, as scikit-learn
            # (the labels as scikit-learn holds them: a bool indicator column)
            stratify = Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
            train, val = train_test_split(np.arange(X.shape[0]),
                                          random_state=self._random_state,
                                          test_size=self.validation_fraction, stratify=stratify)
            if val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            X_train, Y_train = X[train], Y[train]
            y_val = Y[val] if not is_classifier(self) else \
                self._label_binarizer.inverse_transform(Y[val].astype(bool))
            if not is_classifier(self) and y_val.shape[1] == 1:
                y_val = y_val.ravel()
            sw_val = None
            if sample_weight is not None:
                sw_train, sw_val = sample_weight[train], sample_weight[val]
            validation = (X[val], y_val, sw_val)
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                              "going to be clipped", stacklevel=3)
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        sample_idx = np.arange(n_samples, dtype=int)

        def order(epoch):
            # scikit-learn shuffles the previous epoch's permutation, from its random
            # state: utils.shuffle(sample_idx, random_state=...) draws
            # random_state.shuffle(arange(n)) and indexes with it.  The same draw
            # here, without that function's argument validation (5 ms an epoch)
            nonlocal sample_idx
            perm = np.arange(sample_idx.shape[0])
            self._random_state.shuffle(perm)
            sample_idx = sample_idx[perm]
            return sample_idx

        self.n_iter_ = 0
        epoch_end = _EpochEnd(self, n_samples, validation, incremental)
        try:
            self._train_stochastic(net, X_train, Y_train, sw_train, epochs=self.max_iter,
                                   batch_size=batch_size,
                                   order=order if self.shuffle else None, callbacks=[epoch_end])
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        if epoch_end.reached_max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          f"and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        if self.early_stopping and self.__dict__.get("_best_params") is not None:
            live = self.__dict__.get("_best_live")
            np.copyto(net.params, self._best_params, where=True if live is None else ~live)
            # scikit-learn restores with coefs_ = _best_coefs, after which they are one
            # set of arrays: a warm-started fit's steps move its best coefficients too,
            # until a better validation score copies them, so such a fit that never
            # improves ends where it stopped, not back at the earlier best.  Here the
            # best follows the parameters wherever _best_live is True
            self._best_live = np.ones(net.params.shape, dtype=bool)

    def _fit_lbfgs(self, net, X, Y, sample_weight):
        # L-BFGS-B iterates on nncore's parameter vector, a permutation of scikit-learn's
        # packing: its steps are elementwise and its dot products' sums differ by
        # rounding only, so the iterates are scikit-learn's up to rounding, and no
        # evaluation converts between the two (with the penalty's NumPy passes, a tenth
        # of an evaluation of iris's 4-100-3)
        sizes = net.spec.sizes
        data = self._full_batch_data(net, X, Y, sample_weight)

        def loss_grad(x):
            net.params[:] = x
            loss, grad, sw_sum = data.loss_and_gradient_sums()
            # (a new gradient array each time: SciPy keeps the one it is given)
            out = grad if grad.dtype == np.float64 else np.empty(grad.shape[0])
            return _sklearn_objective(loss, grad, sw_sum, x, sizes, self.alpha, out)

        solver = LBFGS(self.max_iter, max_fun=self.max_fun, tol=self.tol)
        x0 = net.params.astype(np.float64)
        last = {"x": x0.copy(), "iterations": 0}

        def each(result):
            last.update(x=result.x.copy(), iterations=last["iterations"] + 1, loss=result.fun)

        try:
            with data:
                result = solver.minimize(loss_grad, x0, max_iter=self.max_iter,
                                         callback=each)
        except BaseException:
            # the parameters hold a line search's trial point: keep the last
            # completed iteration instead (an interrupt, a lost cluster)
            net.params[:] = last["x"]
            if last["iterations"]:
                self.n_iter_, self.loss_ = last["iterations"], np.float64(last["loss"])
            raise
        self.n_iter_ = _check_optimize_result(result, self.max_iter)
        self.loss_ = np.float64(result.fun)
        # SciPy evaluates the objective at its float64 iterates cast to x0's dtype
        # (scikit-learn's x0 packs float32 X's float32 coefficients), as here, and
        # scikit-learn's coefs_ end as views of the float64 solution
        if net.dtype == np.float32:
            net = net.astype(np.float64)
            self._attach(net)
        net.params[:] = result.x
        return net

    # -- where the data lives: here, in this process; nncore.dask overrides these

    def _check_sample_weight(self, sample_weight, X):
        """The checked sample weights for the rows of (validated) X."""
        return _check_sample_weight(sample_weight, X)

    def _float_targets(self, y, dtype):
        """The (validated) targets as an array of the network's dtype."""
        return np.asarray(y, dtype=dtype)

    def _full_batch_data(self, net, X, Y, sample_weight):
        """A source of the loss and gradient sums over all the data."""
        # (scikit-learn's validation has found them finite)
        X, Y = net.check_data(X, Y, assume_finite=True)
        return LocalData(net, X, Y, sample_weight, batch_size=max(1, X.shape[0]))

    def _train_stochastic(self, net, X, Y, sample_weight, *, epochs, batch_size, order,
                          callbacks):
        """Epochs of minibatch training, each in one compiled call."""
        train_network(net, X, Y, sample_weight, self._optimizer, epochs=epochs,
                      batch_size=batch_size, shuffle=False, order=order, callbacks=callbacks,
                      on_divergence="continue", stop_nonfinite=False, batch_mean_loss=True,
                      assume_finite=True)

    def _update_no_improvement_count(self, validation):
        if validation is not None:
            X_val, y_val, sw_val = validation
            self.validation_scores_.append(self._score(X_val, y_val, sample_weight=sw_val))
            if self.verbose:
                print(f"Validation score: {self.validation_scores_[-1]:f}")
            last = self.validation_scores_[-1]
            if last < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best_params = self._net.params.copy()
                self._best_live = None
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------------ predicting

    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            # well-formed rows, which validate_data would pass without a word (it took
            # 130 us a call, 0.5 ms for a DataFrame): see predict_plain
            out = predict_plain(self, self._network(), X)
            if out is not None:
                return out
        if check_input:
            refuse_dates(X)
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        net = self._network()
        if net.dtype == np.float32 and getattr(X, "dtype", None) != np.float32:
            # scikit-learn multiplies other inputs by its float32 coefficients in
            # float64 (NumPy's promotion), and returns float64
            net = net._float64_twin()
        return net.predict(X)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _loss_grad_lbfgs(self, packed_coef_inter, X, y, sample_weight, activations=None,
                         deltas=None, coef_grads=None, intercept_grads=None):
        """scikit-learn's objective of L-BFGS at the packed parameters (coefficients then
        intercepts): the loss with alpha's penalty, and its gradient, packed alike.  The
        trailing buffers of scikit-learn's signature are accepted and not needed."""
        net = self._network()
        X = net.check_data(validate_data(self, X, accept_sparse=["csr", "csc"], reset=False))
        Y = np.asarray(y, dtype=net.dtype).reshape(X.shape[0], -1)
        sw_sum = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        x = np.empty(net.n_params)
        _layout.from_sklearn(np.asarray(packed_coef_inter), net.sizes, x)
        net.params[:] = x
        loss, grad, _ = net.loss_and_gradient_sums(X, Y, sample_weight)
        value, out = _sklearn_objective(loss, grad, sw_sum, x, net.spec.sizes, self.alpha,
                                        np.empty(net.n_params))
        return value, _layout.to_sklearn(out, net.sizes, np.empty_like(grad))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape(n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu'}, default='relu'
        Activation function for the hidden layers; 'leaky_relu' (slope 0.01 for
        negative inputs) is nncore's addition.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' is SciPy's L-BFGS-B on the full-batch loss computed by nncore's
        compiled kernels; 'sgd' and 'adam' train one compiled epoch at a time.
    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size (of
        each minibatch) when added to the loss.
    batch_size : int, default='auto'
        Size of minibatches for stochastic optimizers; 'auto' is
        ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Learning rate schedule for weight updates (solver='sgd' only).
    learning_rate_init : float, default=0.001
        The initial learning rate (solver='sgd' or 'adam').
    power_t : float, default=0.5
        The exponent of 'invscaling'.
    max_iter : int, default=200
        Maximum number of iterations (epochs for 'sgd' and 'adam').
    shuffle : bool, default=True
        Whether to shuffle samples in each iteration (solver='sgd' or 'adam').
    random_state : int, RandomState instance, default=None
        Initial weights, the early-stopping split and the shuffling, drawn as
        scikit-learn draws them.
    tol : float, default=1e-4
        Tolerance for the optimization.
    verbose : bool, default=False
        Whether to print progress messages to stdout.
    warm_start : bool, default=False
        Reuse the solution of the previous call to fit as initialization.
    momentum : float, default=0.9
        Momentum for gradient descent update (solver='sgd').
    nesterovs_momentum : bool, default=True
        Whether to use Nesterov's momentum (solver='sgd' and momentum > 0).
    early_stopping : bool, default=False
        Whether to stop when the validation score is not improving.
    validation_fraction : float, default=0.1
        The proportion of training data set aside for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates.
    epsilon : float, default=1e-8
        Adam's numerical stability value.
    n_iter_no_change : int, default=10
        Maximum number of epochs without ``tol`` improvement.
    max_fun : int, default=15000
        Maximum number of loss function calls (solver='lbfgs').
"""

_ATTRS_DOC = """
    loss_ : float
        The current loss computed with the loss function.
    best_loss_ : float or None
        The minimum loss reached by the solver throughout fitting (None with
        early stopping).
    loss_curve_ : list of shape (`n_iter_`,)
        The loss at the end of each training epoch (stochastic solvers).
    validation_scores_ : list of shape (`n_iter_`,) or None
        The score on the held-out validation set at each epoch (early stopping).
    best_validation_score_ : float or None
        The best validation score (early stopping).
    t_ : int
        The number of training samples seen by the solver during fitting.
    coefs_ : list of shape (n_layers - 1,)
        ``coefs_[i]`` is the weight matrix of layer i, shape (n_in, n_out): a view
        of ``network_``'s parameter vector; assigning new arrays sets it.
    intercepts_ : list of shape (n_layers - 1,)
        ``intercepts_[i]`` is the bias vector of layer i + 1.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
    n_iter_ : int
        The number of iterations the solver has run.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    network_ : nncore.Network
        The trained network (see :class:`nncore.Network`): ``params``,
        ``weights``/``biases`` views, ``save``, ONNX and PyTorch export.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer Perceptron classifier: scikit-learn's, on nncore's compiled core.

    A drop-in for ``sklearn.neural_network.MLPClassifier``: the same parameters,
    defaults, mathematics and fitted attributes (see :mod:`nncore.sklearn`); it
    optimizes the log-loss with L-BFGS or stochastic gradient descent.

    Parameters
    ----------
{_PARAMS_DOC.strip(chr(10))}

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.
{_ATTRS_DOC.strip(chr(10))}

    See Also
    --------
    MLPRegressor, NNClassifier

    Examples
    --------
    >>> from nncore.datasets import load_digits
    >>> from nncore.sklearn import MLPClassifier
    >>> X, y = load_digits(return_X_y=True, scale=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(30,), max_iter=50, random_state=0)
    >>> clf.fit(X[:1500], y[:1500]).score(X[1500:], y[1500:]) > 0.9
    True
    """

    loss = "log_loss"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _network_loss(self):
        return "log_loss"

    @property
    def multilabel_(self):
        """Whether the targets were a multilabel indicator matrix (nncore's addition,
        read-only; AttributeError until fitted)."""
        return self._label_binarizer.y_type_ == "multilabel-indicator"

    def _fit_or_check_classes(self, y, incremental):
        """Fit the label binarizer to ``y`` (a fresh fit), or check ``y``'s classes
        against ``classes_`` (warm_start: the same set; partial_fit: a subset), as
        scikit-learn does.  ``y`` may stand for the targets (nncore.dask passes a
        small array with their labels)."""
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = fit_label_binarizer(y)
            self.classes_ = self._label_binarizer.classes_
            return
        classes = unique_labels(y)
        if self.warm_start:
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has "
                    f"{classes}")
        elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has "
                             f"{self.classes_}. 'y' has {classes}.")

    def _validate_input(self, X, y, incremental, reset):
        plain = incremental and not reset and not self.warm_start \
            and plain_training_data(self, X, y, "iubU")
        if plain:
            # (partial_fit's labels need only be among classes_: checked by the comparisons)
            Y = _binarize(self._label_binarizer, plain[1], known=False)
            if Y is not None:
                return plain[0], Y
        # (a first fit's plain 1-D labels, handed back as validate_data would)
        plain = reset and getattr(y, "ndim", 0) == 1 \
            and plain_training_data(self, X, y, "iubU", reset=True)
        if plain:
            X, y = plain
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                 dtype=(np.float64, np.float32), reset=reset)
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
        self._fit_or_check_classes(y, incremental)
        # a bool indicator matrix, as scikit-learn (no upcast of float32 data)
        y = _binarize(self._label_binarizer, y)
        return X, y

    @_fit_context
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The class labels (a label indicator matrix for multilabel targets).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    @_fit_context
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required for the first call.

        Returns
        -------
        self
        """
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
        """
        if "coefs_" not in self.__dict__:  # (check_is_fitted's 30 us spared when it is)
            check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return _inverse_binarize(self._label_binarizer, y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy)

    def predict_log_proba(self, X):
        """The log of :meth:`predict_proba`.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
        """
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer Perceptron regressor: scikit-learn's, on nncore's compiled core.

    A drop-in for ``sklearn.neural_network.MLPRegressor`` (see
    :mod:`nncore.sklearn`): it optimizes the squared error (half of it, averaged
    over the outputs) or the Poisson deviance with L-BFGS or stochastic gradient
    descent.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        'poisson' uses a log link (exp outputs) and needs ``y >= 0``.
{_PARAMS_DOC.strip(chr(10))}

    Attributes
    ----------
{_ATTRS_DOC.strip(chr(10))}

    See Also
    --------
    MLPClassifier, NNRegressor

    Examples
    --------
    >>> import numpy as np
    >>> from nncore.sklearn import MLPRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(-2, 2, size=(300, 2))
    >>> y = X[:, 0] ** 2 - X[:, 1]
    >>> reg = MLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_SkRegressor._parameter_constraints,
        "activation": _BaseMLP._parameter_constraints["activation"],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    def _network_loss(self):
        return "poisson" if self.loss == "poisson" else "half_squared_error"

    def _validate_input(self, X, y, incremental, reset):
        plain = plain_training_data(self, X, y, "fiu", reset=reset)
        if plain:
            X, y = plain
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                 y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
            refuse_text_targets(self, y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            # (scikit-learn's MLP trains on with a NaN loss; its GLMs refuse, as here)
            raise ValueError("Some value(s) of y are negative which is not allowed for "
                             "Poisson regression.")
        return X, y

    @_fit_context
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    # scikit-learn 1.9 guards the regressor's partial_fit with `est._check_solver`
    # (not called, so always true): partial_fit exists for every solver, and with
    # lbfgs runs a whole L-BFGS fit.  Mirrored.
    @available_if(lambda est: est._check_solver)
    @_fit_context
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single iteration over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        if "coefs_" not in self.__dict__:  # (check_is_fitted's 30 us spared when it is)
            check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the Poisson loss needs counts (fit refuses negative targets, see
        # _validate_input), as scikit-learn's PoissonRegressor declares
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


def _check_partial_fit_first_call(clf, classes=None):
    """Whether this is the first call to partial_fit (then classes_ is set); later
    calls must give the same classes or none (scikit-learn's rule)."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {clf.classes_!r}")
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False

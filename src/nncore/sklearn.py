"""scikit-learn estimators backed by :class:`nncore.Network`.

:class:`NNClassifier` and :class:`NNRegressor` follow scikit-learn's estimator
contract (they pass ``sklearn.utils.estimator_checks``), so they work in
``Pipeline``, ``GridSearchCV``, ``cross_val_score``, ``clone`` and pickle::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from nncore.sklearn import NNClassifier

    clf = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(30,)))
    clf.fit(X_train, y_train).score(X_test, y_test)

This module needs scikit-learn (``pip install "nncore[sklearn]"``); ``import
nncore`` does not.  Neither estimator rescales its inputs: standardise them (a
``StandardScaler`` in a ``Pipeline``) or bring them to ``[0, 1]`` first, as for
any network trained by gradient descent.
"""

from __future__ import annotations

import numbers

import numpy as np

# isort: off
from . import _sklearn_base  # noqa: F401  (first: a clear error without scikit-learn)

from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
# isort: on

from . import _validation, optimizers
from ._sklearn_base import (
    ClassifierMixin,
    RegressorMixin,
    fit_label_binarizer,
    plain_training_data,
    predict_plain,
    refuse_dates,
    refuse_text_targets,
)
from ._sklearn_mlp import MLPClassifier, MLPRegressor, _binarize  # (the drop-in)
from .network import Network

__all__ = ["NNClassifier", "NNRegressor", "MLPClassifier", "MLPRegressor"]

_COMMON_PARAMS_DOC = """
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Widths of the hidden layers; ``()`` trains a network without hidden
        layers (logistic or linear regression).
    activation : str or list of str, default="relu"
        Activation of the hidden layers, one name for all or one per layer:
        ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"``, ``"identity"``.
    optimizer : {"adam", "momentum", "sgd", "lbfgs"}, default="adam"
        ``"sgd"`` is the lecture's ``W := W - r grad C``; see
        :mod:`nncore.optimizers` for the update rules.  ``"lbfgs"`` is SciPy's
        L-BFGS-B on the full-batch loss (``epochs`` iterations at most, no
        minibatches; :meth:`partial_fit` runs one iteration).
    learning_rate : float or None, default=None
        ``r``.  ``None`` takes the optimiser's default: 1e-3 for adam, 0.3 for
        momentum, 3.0 for sgd (the lecture's value, meant for sigmoid networks
        with MSE on inputs in [0, 1]).
    batch_size : int, default=32
        Samples per minibatch (the last one of an epoch may be shorter).
        A value of at least ``n_samples`` trains by full-batch gradient descent.
    epochs : int, default=200
        Passes over the training data in :meth:`fit` (an upper bound when
        ``early_stopping`` is on).  :meth:`partial_fit` always makes one pass.
    momentum : float, default=0.9
        ``mu`` of the momentum optimiser.
    nesterov : bool, default=False
        Nesterov's variant of momentum.
    weight_decay : float, default=0.0
        L2 penalty added to every weight's gradient as ``weight_decay * W``
        (biases are not decayed); scikit-learn's MLP calls it ``alpha``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        classifiers), stop when its loss has not improved by ``min_delta`` for
        ``patience`` epochs, and keep the parameters of the best epoch
        (in :meth:`fit`; :meth:`partial_fit` never holds data out).
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping`` is on.
    patience : int, default=10
        Epochs without improvement before early stopping ends training.
    min_delta : float, default=0.0
        Smallest decrease of the validation loss that counts as improvement.
    shuffle : bool, default=True
        Reshuffle the samples before every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the early-stopping split.
        An integer is used as the network's seed directly, so
        ``random_state=0`` starts from the same weights as ``Network(..., seed=0)``.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the parameters and of every computation on them.
    verbose : {0, 1, 2}, default=0
        0 silent, 1 a progress bar over the epochs, 2 one line per epoch.
"""

_COMMON_ATTRS_DOC = """
    network_ : nncore.Network
        The trained network: its ``params`` vector, ``weights``/``biases``
        views, ``history`` and ``save`` are all available.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    loss_curve_ : list of float
        Training loss of every epoch so far (fit and partial_fit calls).
    validation_loss_curve_ : list of float or None
        Loss on the held-out data per epoch with ``early_stopping``, else None.
    n_iter_ : int
        Number of epochs the network has been trained for.
"""


def _doc(text):
    return text.replace("{params}", _COMMON_PARAMS_DOC.strip("\n")).replace(
        "{attrs}", _COMMON_ATTRS_DOC.strip("\n"))


class _BaseNN(BaseEstimator):
    """Shared machinery: parameter checks, the network, training."""

    # ------------------------------------------------------------ checks

    def _check_dtype(self):
        return _validation.check_dtype(self.dtype)

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = (sizes,)
        try:
            sizes = list(sizes)
        except TypeError:
            raise TypeError("hidden_layer_sizes must be an int or a sequence of ints, got "
                            f"{self.hidden_layer_sizes!r}") from None
        for s in sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError("hidden_layer_sizes must contain positive integers, got "
                                 f"{self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _seed(self):
        """The network's seed: an int random_state as it is, else drawn from it."""
        rs = self.random_state
        if rs is None:
            return None
        if isinstance(rs, numbers.Integral) and not isinstance(rs, (bool, np.bool_)):
            if not 0 <= rs < 2**32:
                raise ValueError(f"random_state must be in [0, 2**32), got {rs}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _check_early_stopping(self):
        if self.early_stopping is not True and self.early_stopping is not False:
            raise TypeError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        if self.early_stopping:
            frac = self.validation_fraction
            if (isinstance(frac, (bool, np.bool_)) or not isinstance(frac, numbers.Real)
                    or not 0 < frac < 1):
                raise ValueError(f"validation_fraction must be in (0, 1), got {frac!r}")

    def _validate_X(self, X, *, reset):
        refuse_dates(X)
        return validate_data(self, X, reset=reset, dtype=self._check_dtype())

    def _sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return None
        if isinstance(sample_weight, numbers.Real):
            sample_weight = np.full(n, sample_weight, dtype=self._check_dtype())
        sw = check_array(sample_weight, ensure_2d=False, dtype=self._check_dtype(),
                         input_name="sample_weight")
        if sw.ndim != 1 or sw.shape[0] != n:
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected ({n},): "
                             "one weight per sample")
        if (sw < 0).any():
            raise ValueError("sample_weight must be non-negative")
        if not sw.sum() > 0:
            raise ValueError("sample_weight is zero for every sample; at least one sample "
                             "needs a positive weight")
        return sw

    # ------------------------------------------------------------ training

    def _new_network(self, n_features, n_outputs, output, loss):
        self._check_early_stopping()
        return Network([n_features, *self._hidden_sizes(), n_outputs],
                       activation=self.activation, output=output, loss=loss,
                       dtype=self.dtype, seed=self._seed())

    def _optimizer(self, incremental):
        """The optimiser object: partial_fit continues the network's (its state and
        step count); fit starts a new one from the estimator's parameters."""
        if incremental and self.network_.optimizer is not None:
            return self.network_.optimizer
        if self.optimizer == "lbfgs":
            if self.learning_rate is not None:
                raise ValueError("learning_rate does not apply to optimizer='lbfgs'")
            return optimizers.LBFGS(weight_decay=self.weight_decay)
        return optimizers.get(self.optimizer, self.learning_rate, momentum=self.momentum,
                              nesterov=self.nesterov, weight_decay=self.weight_decay)

    def _train(self, X, Y, sample_weight, *, epochs, stratify=None, incremental=False):
        net = self.network_
        kwargs = dict(batch_size=self.batch_size, shuffle=self.shuffle,
                      optimizer=self._optimizer(incremental), verbose=self.verbose)
        validation = None
        if self.early_stopping and not incremental:
            X, Y, sample_weight, validation = self._split(X, Y, sample_weight, stratify)
            kwargs.update(validation_data=validation, early_stopping=True,
                          patience=self.patience, min_delta=self.min_delta)
        net.fit(X, Y, epochs=epochs, sample_weight=sample_weight, **kwargs)
        self.loss_curve_ = list(net.history["loss"])
        val = net.history.get("val_loss")
        self.validation_loss_curve_ = list(val) if val else None
        self.n_iter_ = len(self.loss_curve_)

    def _split(self, X, Y, sample_weight, stratify):
        """Hold out ``validation_fraction`` of the samples, stratified when possible."""
        index = np.arange(X.shape[0])
        seed = self.network_.seed % 2**32
        try:
            try:
                train, val = train_test_split(index, test_size=self.validation_fraction,
                                              random_state=seed, stratify=stratify)
            except ValueError:
                if stratify is None:
                    raise
                # too few samples per class to stratify (tiny data sets): plain split
                train, val = train_test_split(index, test_size=self.validation_fraction,
                                              random_state=seed)
        except ValueError as exc:
            raise ValueError(f"early_stopping cannot hold out validation_fraction="
                             f"{self.validation_fraction} of {X.shape[0]} samples: {exc}") from None
        sw = None if sample_weight is None else sample_weight[train]
        return X[train], Y[train], sw, (X[val], Y[val])

    def _outputs(self, X):
        if "network_" not in self.__dict__:
            check_is_fitted(self)
        # well-formed rows, which validate_data would pass without a word
        out = predict_plain(self, self.network_, X)
        if out is not None:
            return out
        X = self._validate_X(X, reset=False)
        return self.network_.predict(X)


class NNClassifier(ClassifierMixin, _BaseNN):
    __doc__ = _doc("""A neural-network classifier trained by nncore's compiled kernels.

    The default is the modern choice: softmax outputs with cross-entropy for
    several classes, one sigmoid output with cross-entropy for two, so that
    :meth:`predict_proba` estimates class probabilities and the gradient never
    vanishes on a confidently wrong output.  The lecture's model is available
    too (and is what scikit-learn's own MLP cannot train):
    ``NNClassifier(hidden_layer_sizes=(30,), activation="sigmoid",
    output="sigmoid", loss="mse", optimizer="sgd", learning_rate=3.0,
    batch_size=10, epochs=30)`` fits one sigmoid output per class to the
    one-hot targets by mean squared error.

    Parameters
    ----------
{params}
    output : {"auto", "softmax", "sigmoid"}, default="auto"
        Output activation.  ``"auto"`` is softmax over the classes, or a single
        sigmoid output for two classes and one sigmoid per label for
        multilabel targets.  ``"sigmoid"`` with more than two classes gives
        one sigmoid per class (one-vs-rest); :meth:`predict_proba` then
        normalises the outputs to sum to one.
    loss : {"cross_entropy", "mse"}, default="cross_entropy"
        ``"mse"`` is the lecture's cost ``sum_k (y~_k - y_k)^2`` per sample
        against one-hot targets.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (for multilabel targets, the label indices).
    multilabel_ : bool
        Whether the targets were a multilabel indicator matrix (read-only).
{attrs}

    See Also
    --------
    NNRegressor, nncore.Network

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from nncore.datasets import load_digits
    >>> from nncore.sklearn import NNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), NNClassifier(epochs=20, random_state=0))
    >>> clf.fit(X[:1500], y[:1500]).score(X[1500:], y[1500:]) > 0.9
    True
    """)

    def __init__(self, *, hidden_layer_sizes=(100,), activation="relu", output="auto",
                 loss="cross_entropy", optimizer="adam", learning_rate=None, batch_size=32,
                 epochs=200, momentum=0.9, nesterov=False, weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, patience=10, min_delta=0.0,
                 shuffle=True, random_state=None, dtype="float64", verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @property
    def multilabel_(self):
        """Whether the targets were a multilabel indicator matrix (AttributeError until fitted)."""
        return self._kind == "multilabel-indicator"

    # ------------------------------------------------------------ targets

    def _validate_Xy(self, X, y, *, reset):
        # (1-D integer, bool or string labels are what check_classification_targets takes)
        plain = getattr(y, "ndim", None) == 1 \
            and plain_training_data(self, X, y, "iubU", self._check_dtype(), reset=reset)
        if plain:
            return plain
        refuse_dates(X)
        X, y = validate_data(self, X, y, reset=reset, dtype=self._check_dtype(),
                             multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _set_classes(self, labels):
        """Fit the label encoding and fix the output layer from ``labels``."""
        binarizer = fit_label_binarizer(labels)
        classes = binarizer.classes_
        kind = binarizer.y_type_
        if len(classes) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; "
                             f"got 1 class ({classes[0]!r})")
        output = self.output
        if output not in ("auto", "softmax", "sigmoid"):
            raise ValueError(f"output must be 'auto', 'softmax' or 'sigmoid' for a classifier, "
                             f"got {output!r}")
        if kind == "multilabel-indicator":
            if output == "softmax":
                raise ValueError("multilabel targets need output='sigmoid' (or 'auto'): "
                                 "softmax makes the labels exclude each other")
            output, n_out = "sigmoid", len(classes)
        elif kind == "binary":
            output = "sigmoid" if output == "auto" else output
            n_out = 1 if output == "sigmoid" else 2
        else:
            output = "softmax" if output == "auto" else output
            n_out = len(classes)
        self._label_binarizer = binarizer
        self.classes_ = classes
        self._kind = kind
        self._n_outputs = n_out
        return output, n_out

    def _encode(self, y):
        """Targets for the network: one-hot rows (one 0/1 column for binary sigmoid)."""
        if self._kind == "multilabel-indicator":
            Y = self._label_binarizer.transform(y)
        else:
            # (the comparisons, for plain labels all among the classes; else the checks)
            Y = _binarize(self._label_binarizer, y, known=False)
            if Y is None:
                unknown = np.setdiff1d(np.unique(y), self.classes_)
                if unknown.size:
                    raise ValueError(f"y contains labels {unknown.tolist()!r} that are not "
                                     f"among the classes {self.classes_.tolist()!r}")
                Y = self._label_binarizer.transform(y)
        if hasattr(Y, "toarray"):
            Y = Y.toarray()
        Y = np.asarray(Y, dtype=self._check_dtype())
        if self._kind == "binary" and self._n_outputs == 2:
            Y = np.hstack([1 - Y, Y])
        return Y

    # ------------------------------------------------------------ fitting

    def fit(self, X, y, sample_weight=None):
        """Train a new network on ``X`` and the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a binary indicator matrix for multilabel targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Each minibatch's gradient becomes the weighted mean
            ``sum w_i g_i / sum w_i``.  With full batches (``batch_size`` at
            least ``n_samples``) an integer weight is exactly that many
            repetitions of the sample; with minibatches it is not, because a
            repeated sample takes part in more steps.

        Returns
        -------
        self
        """
        X, y = self._validate_Xy(X, y, reset=True)
        sw = self._sample_weight(sample_weight, X.shape[0])
        if sw is not None and type_of_target(y) != "multilabel-indicator":
            weighted = np.unique(y[sw > 0])
            if len(weighted) < 2:
                raise ValueError(f"sample_weight leaves only 1 class with positive weight "
                                 f"({weighted[0]!r}); a classifier needs at least 2 classes")
        output, n_out = self._set_classes(y)
        Y = self._encode(y)
        self.network_ = self._new_network(X.shape[1], n_out, output, self.loss)
        stratify = y if self._kind != "multilabel-indicator" else None
        self._train(X, Y, sw, epochs=self.epochs, stratify=stratify)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One pass over ``X, y``, continuing from the current network.

        The optimiser's state (momentum, Adam's moments and step count) and the
        shuffling stream carry over between calls, exactly as if the passes
        were epochs of one :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), default=None
            Every class that will ever be seen; required on the first call
            (for multilabel targets the first ``y`` fixes the labels), and if
            given later it must not change.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        first = not hasattr(self, "network_")
        X, y = self._validate_Xy(X, y, reset=first)
        sw = self._sample_weight(sample_weight, X.shape[0])
        if first:
            if type_of_target(y) == "multilabel-indicator":
                classes = y
            elif classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit: "
                                 "the network's output layer needs every class up front")
            output, n_out = self._set_classes(classes)
            self.network_ = self._new_network(X.shape[1], n_out, output, self.loss)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={np.unique(classes).tolist()!r} differs from the classes "
                             f"of the first call {self.classes_.tolist()!r}")
        self._train(X, self._encode(y), sw, epochs=1, incremental=True)
        return self

    # ------------------------------------------------------------ predicting

    def predict_proba(self, X):
        """Probability of each class, columns in the order of ``classes_``.

        For multilabel targets, the probability of each label (rows need not
        sum to one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        out = self._outputs(X)
        if self._kind == "multilabel-indicator":
            return out
        if out.shape[1] == 1:
            return np.hstack([1 - out, out])
        if self.network_.activations[-1] != "softmax":
            # one-vs-rest sigmoid (or MSE) outputs: normalise to a distribution
            total = out.sum(axis=1, keepdims=True)
            out = np.divide(out, total, out=np.full_like(out, 1.0 / out.shape[1]),
                            where=total > 0)
        return out

    def predict(self, X):
        """The most probable class of each sample (each label above 0.5 for multilabel).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        proba = self.predict_proba(X)
        if self._kind == "multilabel-indicator":
            return self._label_binarizer.inverse_transform(proba, threshold=0.5)
        return self.classes_[np.argmax(proba, axis=1)]


class NNRegressor(RegressorMixin, _BaseNN):
    __doc__ = _doc("""A neural-network regressor trained by nncore's compiled kernels.

    Identity outputs with the mean squared error ``sum_k (y~_k - y_k)^2`` per
    sample (summed over the outputs, not halved: the lecture's cost).  Nothing
    is rescaled implicitly: standardise ``X`` (``StandardScaler`` in a
    ``Pipeline``) and, when the targets are large, ``y`` too
    (``sklearn.compose.TransformedTargetRegressor``).

    Parameters
    ----------
{params}
    output : {"identity", "sigmoid"}, default="identity"
        Output activation; ``"sigmoid"`` suits targets in (0, 1).
    loss : {"mse"}, default="mse"

    Attributes
    ----------
{attrs}
    n_outputs_ : int
        Number of targets.

    See Also
    --------
    NNClassifier, nncore.Network

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from nncore.sklearn import NNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-3, 3, size=(500, 1))
    >>> y = np.sin(X[:, 0])
    >>> reg = make_pipeline(StandardScaler(), NNRegressor(hidden_layer_sizes=(30,),
    ...                     activation="tanh", random_state=0))
    >>> reg.fit(X, y).score(X, y) > 0.95
    True
    """)

    def __init__(self, *, hidden_layer_sizes=(100,), activation="relu", output="identity",
                 loss="mse", optimizer="adam", learning_rate=None, batch_size=32, epochs=200,
                 momentum=0.9, nesterov=False, weight_decay=0.0, early_stopping=False,
                 validation_fraction=0.1, patience=10, min_delta=0.0, shuffle=True,
                 random_state=None, dtype="float64", verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate_Xy(self, X, y, *, reset):
        plain = plain_training_data(self, X, y, "fiu", self._check_dtype(), reset=reset)
        if plain:
            X, y = plain
        else:
            refuse_dates(X)
            X, y = validate_data(self, X, y, reset=reset, dtype=self._check_dtype(),
                                 multi_output=True, y_numeric=True)
            refuse_text_targets(self, y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = np.asarray(y, dtype=self._check_dtype())
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        return X, y, Y

    def fit(self, X, y, sample_weight=None):
        """Train a new network on ``X`` and the targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None
            Each minibatch's gradient becomes the weighted mean
            ``sum w_i g_i / sum w_i``.

        Returns
        -------
        self
        """
        X, y, Y = self._validate_Xy(X, y, reset=True)
        sw = self._sample_weight(sample_weight, X.shape[0])
        self._y_1d = y.ndim == 1
        self.n_outputs_ = Y.shape[1]
        self.network_ = self._new_network(X.shape[1], Y.shape[1], self.output, self.loss)
        self._train(X, Y, sw, epochs=self.epochs)
        return self

    def partial_fit(self, X, y, sample_weight=None):
        """One pass over ``X, y``, continuing from the current network.

        The optimiser's state and the shuffling stream carry over between
        calls, exactly as if the passes were epochs of one :meth:`fit`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        first = not hasattr(self, "network_")
        X, y, Y = self._validate_Xy(X, y, reset=first)
        sw = self._sample_weight(sample_weight, X.shape[0])
        if first:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = Y.shape[1]
            self.network_ = self._new_network(X.shape[1], Y.shape[1], self.output, self.loss)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} targets, the network was built for "
                             f"{self.n_outputs_}")
        self._train(X, Y, sw, epochs=1, incremental=True)
        return self

    def predict(self, X):
        """The network's outputs for ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        out = self._outputs(X)
        return out[:, 0] if self._y_1d else out


# skl2onnx converts these estimators as soon as both are imported (see _skl2onnx_hook)
from . import _skl2onnx_hook  # noqa: E402

_skl2onnx_hook.install()

"""What nncore's two families of scikit-learn estimators share.

``nncore.sklearn.NNClassifier`` / ``NNRegressor`` (nncore's own parameters) and the
drop-in ``MLPClassifier`` / ``MLPRegressor`` (scikit-learn's) differ in their
parameters and mathematics, not in how they run: an :class:`nncore.Network`
trained by :class:`nncore.training.Trainer` over a
:class:`nncore.training.LocalData` source, with inputs checked here.
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401
    from sklearn import base as _base
    from sklearn.base import BaseEstimator
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nncore.sklearn needs scikit-learn >= 1.7 (pip install 'nncore[sklearn]'); "
        f"importing it failed: {exc}"
    ) from exc

import sys

import numpy as np

from .training import LocalData, Trainer

__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "accuracy",
           "fit_label_binarizer", "plain_training_data", "predict_plain",
           "predict_well_formed", "r2",
           "refuse_dates", "refuse_text_targets", "train_network"]


def refuse_dates(X):
    """scikit-learn's check_array turns datetime64/timedelta64 into float
    (nanoseconds since 1970); a network fed that is almost surely a mistake."""
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind in ("M", "m"):
        raise TypeError(f"X has dtype {X.dtype} (datetime); nncore needs real numbers: "
                        "turn dates into numeric features first")


def refuse_text_targets(est, y):
    """A regressor's targets must be numbers.  scikit-learn's validation lets strings
    through (``y_numeric`` converts only object arrays) and its MLP fails on them in
    its loss with NumPy's UFuncTypeError; a conversion to float would instead train
    on whatever the strings spell, ``"nan"`` included."""
    if y.dtype.kind in "USV":
        raise TypeError(f"y has dtype {y.dtype} (text); {type(est).__name__} needs numeric "
                        f"targets: convert them to numbers first")


def _series_values(y):
    """A pandas Series of a NumPy dtype, or of pandas's strings, as its values (what
    scikit-learn's checks of labels and targets take from it: for strings an object
    array); else y itself."""
    pd = sys.modules.get("pandas")
    if pd is not None and type(y) is pd.Series \
            and (isinstance(y.dtype, np.dtype) or isinstance(y.dtype, pd.StringDtype)):
        return y.to_numpy()
    return y


def _str_labels(y):
    """A 1-D object array holding strs and nothing else, as a NumPy string array:
    what scikit-learn's label checks make of it (unique_labels sorts the strs into
    one, so ``classes_`` and predictions come out as NumPy strings either way).
    None for anything else (a missing value, a number, bytes)."""
    if type(y) is not np.ndarray or y.dtype.kind != "O" or y.ndim != 1 or y.shape[0] == 0:
        return None
    labels = y.astype(str)
    # (str() of anything else differs from it: None, nan, 1, True, b"a")
    return labels if bool((labels == y).all()) else None


def accuracy(y_true, y_pred, sample_weight=None):
    """scikit-learn's ``accuracy_score(y_true, y_pred, sample_weight=sample_weight)``.

    For two 1-D NumPy arrays of labels of one kind (integers, bools or strings) and
    of one length, and no weights or a C-contiguous 1-D float array of finite ones,
    not all zero, it is what accuracy_score comes to,
    ``np.average(y_true == y_pred, weights=sample_weight)``, without its checks of
    the labels' types, which cost 0.3-1 ms a call: as much as an epoch of a small
    early-stopping fit, which scores the held-out data each epoch.  Anything else
    goes to accuracy_score.  A pandas Series of a NumPy dtype counts as its values.
    """
    given, y_true = y_true, _series_values(y_true)
    if type(y_pred) is np.ndarray and y_pred.dtype.kind == "U":
        # (strs against a classifier's predicted strings)
        labels = _str_labels(y_true)
        y_true = y_true if labels is None else labels
    if type(y_true) is np.ndarray and type(y_pred) is np.ndarray and y_true.ndim == 1 \
            and y_true.shape == y_pred.shape and y_true.shape[0] > 0 \
            and y_true.dtype.kind in "iubU" and y_pred.dtype.kind == y_true.dtype.kind \
            and _plain_weights(sample_weight, y_true.shape[0], (np.float64, np.float32)):
        return float(np.average(y_true == y_pred, weights=sample_weight))
    from sklearn.metrics import accuracy_score

    return accuracy_score(given, y_pred, sample_weight=sample_weight)


class ClassifierMixin(_base.ClassifierMixin):
    """scikit-learn's ClassifierMixin, its ``score`` by :func:`accuracy`."""

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of ``self.predict(X)`` against ``y`` (scikit-learn's
        ``accuracy_score``; in multi-label classification the subset accuracy, each
        sample's whole label set predicted right).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels for `X`.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return accuracy(y, self.predict(X), sample_weight)


class RegressorMixin(_base.RegressorMixin):
    """scikit-learn's RegressorMixin, its ``score`` by :func:`r2`."""

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination :math:`R^2` of ``self.predict(X)`` against
        ``y`` (scikit-learn's ``r2_score``: for several outputs their scores'
        mean).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True values for `X`.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return r2(y, self.predict(X), sample_weight)


def _plain_weights(sample_weight, n, dtypes):
    """Whether sample_weight is None or what scikit-learn's _check_sample_weight hands
    back as it is: a C-contiguous 1-D array of ``n`` finite weights of one of
    ``dtypes``, not all zero."""
    return sample_weight is None or (
        type(sample_weight) is np.ndarray and sample_weight.shape == (n,)
        and sample_weight.dtype in dtypes and sample_weight.flags.c_contiguous
        and bool(np.isfinite(sample_weight.sum())) and bool(sample_weight.any()))


def r2(y_true, y_pred, sample_weight=None):
    """scikit-learn's ``r2_score(y_true, y_pred, sample_weight=sample_weight)``.

    For two float arrays of one dtype and shape (1-D, or 2-D: the outputs' scores
    averaged), of two rows or more, all finite, and no weights or plain ones of that
    dtype (see accuracy), the arithmetic of r2_score (scikit-learn 1.9) on the same
    arrays (its checks copy none of them) without its checks; anything else goes to
    r2_score.  A test holds the two equal bit for bit, so a scikit-learn that
    computes it otherwise is noticed.  A pandas Series of a NumPy dtype counts as
    its values.
    """
    given, y_true = y_true, _series_values(y_true)
    if type(y_true) is np.ndarray and type(y_pred) is np.ndarray \
            and y_true.dtype in (np.float64, np.float32) and y_pred.dtype == y_true.dtype \
            and y_true.shape == y_pred.shape and y_true.ndim in (1, 2) \
            and y_true.shape[0] >= 2 and 0 not in y_true.shape \
            and bool(np.isfinite(y_true.sum())) and bool(np.isfinite(y_pred.sum())) \
            and _plain_weights(sample_weight, y_true.shape[0], (y_true.dtype,)):
        yt, yp = y_true.reshape(y_true.shape[0], -1), y_pred.reshape(y_true.shape[0], -1)
        weight = 1.0 if sample_weight is None else sample_weight[:, None]
        numerator = np.sum(weight * (yt - yp) ** 2, axis=0)
        denominator = np.sum(
            weight * (yt - np.average(yt, axis=0, weights=sample_weight)) ** 2, axis=0)
        nonzero_numerator, nonzero_denominator = numerator != 0, denominator != 0
        scores = np.ones(yt.shape[1], dtype=numerator.dtype)
        valid = nonzero_denominator & nonzero_numerator
        scores[valid] = 1 - numerator[valid] / denominator[valid]
        scores[nonzero_numerator & ~nonzero_denominator] = 0.0
        return float(np.average(scores))
    from sklearn.metrics import r2_score

    return r2_score(given, y_pred, sample_weight=sample_weight)


def plain_training_data(est, X, y, y_kinds, dtype=None, reset=False):
    """``(X, y)`` as ``validate_data(est, X, y, reset=reset, multi_output=True)``
    would hand them back with nothing to say, where its checks can be skipped; else
    None, and the caller goes to scikit-learn's own checks, which say what is wrong
    their way.  Skipped for:

    * ``X`` a C-contiguous 2-D float64 or float32 NumPy array of one column or more
      (of ``n_features_in_`` columns, from an estimator fitted without feature
      names, unless ``reset``), or a pandas DataFrame of such columns, all of one of
      those dtypes, named as the estimator's ``feature_names_in_`` (each name a
      str; any, with ``reset``): its values, C-contiguous; of ``dtype`` when one is
      asked for;
    * ``y`` a 1-D or 2-D NumPy array (or a pandas Series of a NumPy dtype: its
      values) of as many rows, at least one, whose dtype's kind is one of
      ``y_kinds``; where strings are among them ("U"), also 1-D strs in an object
      array or in a Series of pandas's strings, handed back as a NumPy string array
      (see _str_labels);

    both finite.  Their checks were most of a small ``partial_fit``'s time, and a
    third of a small fit's.  With ``reset`` (a first fit) it also does what
    validate_data's reset does: ``n_features_in_`` set to the width, and
    ``feature_names_in_`` to a frame's names or dropped for an array."""
    names = None
    if type(X) is not np.ndarray:
        frame = _frame(est, X, (np.float64, np.float32) if dtype is None else (dtype,), reset)
        if frame is None:
            return None
        X, names = frame
    y = _series_values(y)
    if "U" in y_kinds and type(y) is np.ndarray and y.dtype.kind == "O":
        y = _str_labels(y)
    if X.ndim != 2 or not X.flags.c_contiguous \
            or X.dtype not in (np.float64, np.float32) or 0 in X.shape \
            or (dtype is not None and X.dtype != dtype) \
            or (not reset and names is None and ("feature_names_in_" in est.__dict__
                                                 or est.__dict__.get("n_features_in_")
                                                 != X.shape[1])) \
            or type(y) is not np.ndarray or y.ndim not in (1, 2) or y.shape[0] != X.shape[0] \
            or 0 in y.shape or y.dtype.kind not in y_kinds:
        return None
    # (a sum of finite numbers that overflows sends a finite X the slow way: still right)
    if not (bool(np.isfinite(X.sum())) and (y.dtype.kind != "f" or bool(np.isfinite(y.sum())))):
        return None
    if reset:
        est.n_features_in_ = X.shape[1]
        if names is None:
            est.__dict__.pop("feature_names_in_", None)
        else:
            est.feature_names_in_ = names
    return X, y


def _frame(est, X, dtypes, reset):
    """For a pandas DataFrame of a row and a column or more, all of one of
    ``dtypes``, whose columns are named by strs (the estimator's
    ``feature_names_in_``, in that order, unless ``reset``): its values,
    C-contiguous, and its names, as validate_data takes them.  Else None."""
    pd = sys.modules.get("pandas")  # (a DataFrame's module is loaded before it is made)
    if pd is None or type(X) is not pd.DataFrame or 0 in X.shape:
        return None
    fitted = None if reset else est.__dict__.get("feature_names_in_")
    if (fitted is None and not reset) or (fitted is not None and X.shape[1] != fitted.shape[0]):
        return None
    kinds = set(X.dtypes.values.tolist())
    if len(kinds) != 1 or kinds.pop() not in dtypes:
        return None
    names = np.asarray(X.columns, dtype=object)
    # (scikit-learn takes the names only if every one is a str, no subclass)
    if (fitted is not None and not bool((names == fitted).all())) \
            or not all(type(name) is str for name in names):
        return None
    return np.ascontiguousarray(X.to_numpy()), names


def fit_label_binarizer(y):
    """``LabelBinarizer().fit(y)``.  For a 1-D NumPy array of integers, bools or
    strings, the state its fit comes to (``classes_`` as unique_labels makes them,
    ``y_type_`` binary up to two of them, else multiclass) without type_of_target's
    checks, 0.8 ms of a small fit; anything else goes to its fit.  A test holds the
    two equal, attribute by attribute, so a scikit-learn that fits otherwise is
    noticed."""
    from sklearn.preprocessing import LabelBinarizer

    lb = LabelBinarizer()
    if type(y) is not np.ndarray or y.ndim != 1 or y.shape[0] == 0 \
            or y.dtype.kind not in "iubU":
        return lb.fit(y)
    # (unique_labels makes an array of the labels' NumPy scalars, sorted: their own
    # dtype, but a string's width the longest label's, not y's)
    classes = np.asarray(list(np.unique(y)))
    lb.y_type_ = "binary" if classes.shape[0] <= 2 else "multiclass"
    lb.sparse_input_ = False
    lb.classes_ = classes
    return lb


def predict_well_formed(net, X):
    """The network's outputs for X if it is a C-contiguous 2-D NumPy array of the
    network's dtype and inputs, of at least one row, all finite; else None (the
    caller then validates as scikit-learn does, and says what is wrong its way).  A
    few rows take predict's lean path (one row at a time, as a service asks), more
    its kernels, which check them finite as they read them."""
    out = net.predict_lean(X)  # (first: its checks are what a one-row call can afford)
    if out is not None:
        return out
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype != net.dtype \
            or not X.flags.c_contiguous or X.shape[0] == 0 or X.shape[1] != net.sizes[0]:
        return None
    try:
        return net.predict(X)
    except ValueError:  # (a NaN or an infinity, found by the kernels as they read X)
        return None


def predict_plain(est, net, X):
    """The network's outputs for X where scikit-learn's validation would pass it
    without a word: a well-formed array (see predict_well_formed) for an estimator
    fitted without feature names; for one fitted with them, a DataFrame of those
    names, all of the network's dtype, taken as its values (see _frame: the checks of
    the names and the frame were 0.4-0.5 ms of a one-row predict, 20-70 times the
    prediction).  Else None: the caller validates as scikit-learn does, and says what
    is wrong its way."""
    if "feature_names_in_" not in est.__dict__:
        return predict_well_formed(net, X)
    frame = _frame(est, X, (net.dtype,), reset=False)
    return None if frame is None else predict_well_formed(net, frame[0])


def train_network(network, X, Y, sample_weight, optimizer, *, epochs, batch_size,
                  shuffle=True, order=None, callbacks=(), validation=None,
                  on_divergence="raise", stop_nonfinite=True, batch_mean_loss=False,
                  verbose=0, assume_finite=False):
    """Train ``network`` in place: the one loop (Trainer) over the arrays in this
    process (LocalData, X dense or sparse).  assume_finite: the caller's checks
    found X and Y finite (see Network.check_data).  Returns the network."""
    from .callbacks import PrintProgress, ProgressBar

    X, Y = network.check_data(X, Y, assume_finite=assume_finite)
    data = LocalData(network, X, Y, sample_weight, batch_size=batch_size, shuffle=shuffle,
                     order=order, stop_nonfinite=stop_nonfinite,
                     batch_mean_loss=batch_mean_loss)
    progress = [ProgressBar()] if verbose == 1 else [PrintProgress()] if verbose else []
    trainer = Trainer(network, data, optimizer, epochs=epochs,
                      callbacks=[*callbacks, *progress], validation=validation,
                      on_divergence=on_divergence)
    network.optimizer = optimizer
    return trainer.run()

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
    from sklearn.base import BaseEstimator
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nncore.sklearn needs scikit-learn >= 1.7 (pip install 'nncore[sklearn]'); "
        f"importing it failed: {exc}"
    ) from exc

import numpy as np

from .training import LocalData, Trainer

__all__ = ["BaseEstimator", "plain_training_data", "predict_well_formed", "refuse_dates",
           "train_network"]


def refuse_dates(X):
    """scikit-learn's check_array turns datetime64/timedelta64 into float
    (nanoseconds since 1970); a network fed that is almost surely a mistake."""
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind in ("M", "m"):
        raise TypeError(f"X has dtype {X.dtype} (datetime); nncore needs real numbers: "
                        "turn dates into numeric features first")


def plain_training_data(est, X, y, y_kinds, dtype=None):
    """Whether ``validate_data(est, X, y, reset=False, multi_output=True)`` would hand
    back ``X`` and ``y`` themselves, unchecked by anything else, with nothing to say:
    a C-contiguous 2-D float64 or float32 NumPy array of ``n_features_in_`` columns and
    at least one row, an estimator fitted without feature names, and a 1-D or 2-D
    NumPy ``y`` of as many rows whose dtype's kind is one of ``y_kinds``; both finite.  Its checks
    were most of a small ``partial_fit``'s time.  False sends the caller to
    scikit-learn's own checks, which say what is wrong their way."""
    if type(X) is not np.ndarray or X.ndim != 2 or not X.flags.c_contiguous \
            or X.dtype not in (np.float64, np.float32) or X.shape[0] == 0 \
            or (dtype is not None and X.dtype != dtype) \
            or "feature_names_in_" in est.__dict__ \
            or est.__dict__.get("n_features_in_") != X.shape[1] \
            or type(y) is not np.ndarray or y.ndim not in (1, 2) or y.shape[0] != X.shape[0] \
            or 0 in y.shape or y.dtype.kind not in y_kinds:
        return False
    # (a sum of finite numbers that overflows sends a finite X the slow way: still right)
    return bool(np.isfinite(X.sum())) and (y.dtype.kind != "f" or bool(np.isfinite(y.sum())))


def predict_well_formed(net, X):
    """The network's outputs for X if it is a C-contiguous 2-D NumPy array of the
    network's dtype and inputs, of at least one row, all finite; else None (the
    caller then validates as scikit-learn does, and says what is wrong its way)."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype != net.dtype \
            or not X.flags.c_contiguous or X.shape[0] == 0 or X.shape[1] != net.sizes[0]:
        return None
    try:
        return net.predict(X)
    except ValueError:  # (a NaN or an infinity, found by the kernels as they read X)
        return None


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

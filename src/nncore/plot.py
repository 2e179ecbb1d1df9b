"""Plots of training and of what a network has learned (needs matplotlib).

``pip install "nncore[plot]"``.  matplotlib is imported when a function is
called, never by ``import nncore``.  Every function draws on the Axes it is given
(or on a new figure) and returns what it drew on, so plots compose and can be
saved with ``ax.figure.savefig(...)`` without a screen.

>>> import nncore, nncore.plot
>>> from nncore.datasets import digits_split, one_hot
>>> X_train, X_test, y_train, y_test = digits_split()
>>> net = nncore.Network([64, 30, 10], seed=0)
>>> net = net.fit(X_train, one_hot(y_train, 10), epochs=5,
...               validation_data=(X_test, one_hot(y_test, 10)))
>>> ax = nncore.plot.loss_curve(net.history)
>>> fig = nncore.plot.weights(net, layer=0, image_shape=(8, 8))
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["loss_curve", "decision_boundary", "weights"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("nncore.plot needs matplotlib: pip install 'nncore[plot]'") from exc
    return plt


def _new_axes(ax):
    if ax is not None:
        return ax
    return _pyplot().subplots()[1]


def _network(model):
    """A :class:`nncore.Network` from a network or a fitted nncore.sklearn estimator."""
    if hasattr(model, "network_"):
        return model.network_
    if hasattr(model, "params") and hasattr(model, "sizes"):
        return model
    steps = getattr(model, "steps", None)  # a Pipeline ending in an nncore estimator
    if steps and hasattr(steps[-1][1], "network_"):
        return steps[-1][1].network_
    raise TypeError(f"expected an nncore Network or a fitted nncore.sklearn estimator, "
                    f"got {type(model).__name__}")


def loss_curve(history, ax=None, *, metric="loss", log=None):
    """The training and validation loss (or accuracy) per epoch.

    Parameters
    ----------
    history : dict, Network or fitted estimator
        ``net.history`` (``{"loss": [...], "val_loss": [...], ...}``), or
        anything that has one (a Network, an ``NNClassifier``/``NNRegressor``).
    ax : matplotlib Axes, optional
        Where to draw; a new figure when omitted.
    metric : {"loss", "accuracy"}
        Which curve: ``metric`` and, when recorded, ``"val_" + metric``.
    log : bool, optional
        Logarithmic y axis; by default on for losses spanning more than two
        orders of magnitude.

    Returns
    -------
    matplotlib Axes

    Notes
    -----
    An epoch's training loss is the mean over its minibatches, each measured
    before its update; the validation loss is measured after the epoch.  Early
    in training the first therefore lies above the second.
    """
    if hasattr(history, "network_"):
        history = history.network_.history
    elif hasattr(history, "history") and not isinstance(history, dict):
        history = history.history
    if not isinstance(history, dict):
        raise TypeError(f"history must be a dict of per-epoch lists, got "
                        f"{type(history).__name__}")
    train = list(history.get(metric, []))
    val = list(history.get(f"val_{metric}", []))
    if not train and not val:
        raise ValueError(f"the history has no {metric!r} values (it has: "
                         f"{', '.join(history) or 'nothing'}); train the network first")
    ax = _new_axes(ax)
    if train:
        ax.plot(np.arange(1, len(train) + 1), train, marker="o", markersize=3,
                label=f"training {metric}")
    if val:
        ax.plot(np.arange(1, len(val) + 1), val, marker="o", markersize=3,
                label=f"validation {metric}")
    values = np.array([v for v in train + val if np.isfinite(v) and v > 0])
    if log is None:
        log = metric == "loss" and values.size > 0 and values.max() > 100 * values.min()
    if log:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per epoch")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def decision_boundary(net, X, y, ax=None, *, resolution=200, margin=0.1, cmap="coolwarm"):
    """The classes a network assigns over the plane of two features, with the data.

    Parameters
    ----------
    net : Network or fitted NNClassifier (or Pipeline ending in one)
        A Network's class is the argmax of its outputs (one output: above 0.5);
        an estimator's is its ``predict``.
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
        Class labels (or one-hot rows) of ``X``, drawn as the points' colours.
    ax : matplotlib Axes, optional
    resolution : int
        Grid points per axis.
    margin : float
        Extra space around the data, as a fraction of its range.

    Returns
    -------
    matplotlib Axes
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary needs two features, X has shape {X.shape}")
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    labels, codes = np.unique(y, return_inverse=True)
    if hasattr(net, "predict") and not (hasattr(net, "params") and hasattr(net, "sizes")):
        pred = np.asarray(net.predict(grid))
        # map the estimator's labels onto the colours of y's labels
        pred = np.searchsorted(labels, pred) if np.isin(pred, labels).all() else pred
    else:
        out = net.predict(grid)
        pred = out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(int)
    pred = np.asarray(pred, dtype=np.float64).reshape(gx.shape)
    n_colours = max(len(labels), int(pred.max()) + 1)
    ax = _new_axes(ax)
    levels = np.arange(n_colours + 1) - 0.5
    ax.contourf(gx, gy, pred, levels=levels, cmap=cmap, alpha=0.3)
    ax.contour(gx, gy, pred, levels=levels, colors="k", linewidths=0.5)
    scatter = ax.scatter(X[:, 0], X[:, 1], c=codes, cmap=cmap, vmin=-0.5,
                         vmax=n_colours - 0.5, edgecolors="k", linewidths=0.5, s=20)
    handles, _ = scatter.legend_elements()
    if len(handles) == len(labels):
        ax.legend(handles, [str(v) for v in labels], title="class", loc="best")
    ax.set_xlim(gx.min(), gx.max())
    ax.set_ylim(gy.min(), gy.max())
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    ax.set_title("decision regions")
    return ax


def weights(net, layer=0, image_shape=(8, 8), *, ncols=None, cmap="RdBu_r", fig=None):
    """Each neuron's incoming weights as an image: what the neuron looks for.

    Neuron ``j`` of layer ``layer`` computes ``act(b_j + sum_i w_ji a_i)``; for
    the first layer of an image network, ``w_j`` reshaped to the image is the
    pattern of pixels that excites it (red) or inhibits it (blue).

    Parameters
    ----------
    net : Network or fitted nncore.sklearn estimator (or Pipeline ending in one)
    layer : int
        Which weight layer (0: inputs to the first hidden layer).
    image_shape : tuple of int
        Shape of the layer's inputs as an image; ``(8, 8)`` for the digits,
        ``(28, 28)`` for MNIST.  Its product must equal the layer's fan-in.
    ncols : int, optional
        Images per row (default: about a square grid).
    fig : matplotlib Figure, optional
        Where to draw; a new figure when omitted.

    Returns
    -------
    matplotlib Figure
    """
    net = _network(net)
    n_layers = len(net.weights)
    if not -n_layers <= layer < n_layers:
        raise ValueError(f"layer {layer} does not exist: the network has {n_layers} weight "
                         f"layers (0..{n_layers - 1})")
    W = np.asarray(net.weights[layer], dtype=np.float64)
    n_out, n_in = W.shape
    if int(np.prod(image_shape)) != n_in:
        raise ValueError(f"image_shape {tuple(image_shape)} holds {int(np.prod(image_shape))} "
                         f"values but layer {layer} has {n_in} inputs per neuron")
    ncols = ncols or math.ceil(math.sqrt(n_out))
    nrows = math.ceil(n_out / ncols)
    if fig is None:
        fig = _pyplot().figure(figsize=(1.3 * ncols + 0.8, 1.3 * nrows + 0.4))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    limit = float(np.abs(W).max()) or 1.0
    image = None
    for j, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if j >= n_out:
            ax.set_visible(False)
            continue
        image = ax.imshow(W[j].reshape(image_shape), cmap=cmap, vmin=-limit, vmax=limit,
                          interpolation="nearest")
        ax.set_title(str(j), fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=list(axes[:n_out]), shrink=0.6, label="weight")
    fig.suptitle(f"incoming weights of the {n_out} neurons of layer {layer + 1}")
    return fig

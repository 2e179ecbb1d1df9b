"""The always-present baseline: a clean, vectorised NumPy minibatch MLP trainer.

This is what a competent NumPy user writes for the lecture's network: sigmoid hidden layers, a
sigmoid output layer, the lecture's MSE (per sample ``sum_k (y~_k - y_k)^2``, derivative
``2 (y~_k - y_k)``, no 1/2 and no division by the number of outputs), plain SGD with the gradient
averaged over the minibatch, one reshuffle per epoch. Every minibatch goes through BLAS (``@``) as a
whole; the per-minibatch Python loop and its temporaries are the honest cost of the approach.

Parameters are kept as separate arrays per layer, ``W[l]`` of shape ``(n_l, n_{l+1})`` (so the
forward pass is ``A @ W`` without a transpose) and ``b[l]`` of shape ``(n_{l+1},)``. The dtype
(float32 or float64) is kept throughout: with NumPy >= 2 Python scalars do not promote float32.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NumpyMLP", "sigmoid_", "train_flops_per_sample", "predict_flops_per_sample"]


def train_flops_per_sample(sizes):
    """Floating-point operations to train one sample (DESIGN.md's performance model).

    Forward ``2 n_in n_out``, weight gradient ``2 n_in n_out`` and delta to the layer below
    ``2 n_in n_out`` per dense layer; the first layer needs no delta. 784-30-10 gives 95,880.
    """
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    return sum(6 * a * b for a, b in pairs) - 2 * pairs[0][0] * pairs[0][1]


def predict_flops_per_sample(sizes):
    """Floating-point operations of one forward pass: ``2 n_in n_out`` per dense layer."""
    return sum(2 * a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def sigmoid_(Z):
    """Z := 1 / (1 + exp(-Z)), in place, returned.

    Written as ``(1 + tanh(Z / 2)) / 2`` (an identity) so no ``exp`` of a large positive number is
    ever evaluated: no overflow warnings, no branches, one transcendental ufunc.
    """
    Z *= 0.5
    np.tanh(Z, out=Z)
    Z += 1.0
    Z *= 0.5
    return Z


class NumpyMLP:
    """Fully connected sigmoid network trained by minibatch SGD on the lecture's MSE.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n_0, n_1, ..., n_L]``.
    dtype : {"float64", "float32"}
    seed : int
        Seeds the initialisation (weights ``N(0, 1/n_in)``, biases 0) and the shuffling.
    """

    def __init__(self, sizes, *, dtype="float64", seed=0):
        self.sizes = [int(n) for n in sizes]
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.W = [
            (self.rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(self.dtype)
            for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)
        ]
        self.b = [np.zeros(n_out, dtype=self.dtype) for n_out in self.sizes[1:]]

    # -- forward ---------------------------------------------------------------------------------
    def _forward(self, X):
        """Activations ``[X, a_1, ..., a_L]`` with ``a_{l+1} = sigma(a_l @ W_l + b_l)``."""
        activations = [X]
        for W, b in zip(self.W, self.b, strict=True):
            Z = activations[-1] @ W
            Z += b
            activations.append(sigmoid_(Z))
        return activations

    def predict(self, X, *, chunk_size=4096):
        """Output activations ``(n_samples, n_outputs)``, computed ``chunk_size`` rows at a time."""
        X = np.asarray(X, dtype=self.dtype)
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        for start in range(0, X.shape[0], chunk_size):
            stop = start + chunk_size
            out[start:stop] = self._forward(X[start:stop])[-1]
        return out

    def loss(self, X, Y):
        """C = mean over samples of sum_k (y~_k - y_k)^2."""
        D = self.predict(X) - Y
        return float(np.einsum("ij,ij->", D, D, dtype=np.float64)) / X.shape[0]

    # -- backward --------------------------------------------------------------------------------
    def _backprop(self, X, Y, scale):
        """Gradients ``(dW, db)`` of ``scale * sum over the rows of X of the per-sample cost``."""
        activations = self._forward(X)
        A = activations[-1]
        # delta_L = dC/dz_L = 2 (a_L - y) * sigma'(z_L), sigma'(z) = a (1 - a)
        delta = A - Y
        delta *= 2.0 * scale
        delta *= A
        delta *= 1.0 - A
        dW = [None] * len(self.W)
        db = [None] * len(self.W)
        for layer in range(len(self.W) - 1, -1, -1):
            A_in = activations[layer]
            dW[layer] = A_in.T @ delta
            db[layer] = delta.sum(axis=0)
            if layer > 0:  # the input layer needs no delta
                delta = delta @ self.W[layer].T
                delta *= A_in
                delta *= 1.0 - A_in
        return dW, db

    def gradient(self, X, Y, *, chunk_size=4096):
        """grad C averaged over all rows of X (the lecture's full-batch gradient), in chunks.

        Returns ``(dW, db)``, lists shaped like ``W`` and ``b``.
        """
        X = np.asarray(X, dtype=self.dtype)
        Y = np.asarray(Y, dtype=self.dtype)
        n = X.shape[0]
        dW = [np.zeros_like(W) for W in self.W]
        db = [np.zeros_like(b) for b in self.b]
        for start in range(0, n, chunk_size):
            stop = start + chunk_size
            cW, cb = self._backprop(X[start:stop], Y[start:stop], 1.0 / n)
            for acc, part in zip(dW + db, cW + cb, strict=True):
                acc += part
        return dW, db

    # -- training --------------------------------------------------------------------------------
    def train_batch(self, X, Y, learning_rate):
        """One SGD step on one minibatch: p := p - eta * (grad C averaged over the minibatch)."""
        dW, db = self._backprop(X, Y, 1.0 / X.shape[0])
        for W, g in zip(self.W, dW, strict=True):
            W -= learning_rate * g
        for b, g in zip(self.b, db, strict=True):
            b -= learning_rate * g

    def fit(self, X, Y, *, epochs=1, batch_size=10, learning_rate=0.1, shuffle=True):
        """Minibatch SGD; the last, short minibatch is used, not dropped. Returns self."""
        n = X.shape[0]
        for _ in range(epochs):
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                self.train_batch(X[idx], Y[idx], learning_rate)
        return self

"""The pure-Python twin of nncore: the same network, read like the lecture.

Everything here is plain Python floats, lists and loops, with ``math`` for
``exp`` and ``log`` — no NumPy — so that each step of a forward pass,
backpropagation and gradient descent can be read beside the lecture and
checked by hand.  It is also the oracle the tests hold the compiled kernels
to: :class:`Network` has the same constructor, the same parameter layout and
the same methods as :class:`nncore.Network`, starts from the same initial
parameters for the same seed, and shuffles its minibatches in the same order.

The lecture's pieces, one function each:

* a neuron:          ``a = sigma(w0 + x0 w1 + x1 w2 + ...)``        :func:`neuron`
* a layer:           ``a_n = sigma(b_n + W_n a_{n-1})``               :func:`layer_forward`
* the cost:          ``C_i = sum_k (y~_k - y_k)^2``                   :func:`mse`
* its derivative:    ``dC_i/dy~_k = 2 (y~_k - y_k)``                  :func:`mse_grad`
* sigma's:           ``sigma' = sigma (1 - sigma)``                   :func:`sigmoid_prime`
* backpropagation:   the chain rule, from the output backwards       :func:`backprop`
* the average:       ``grad C = 1/N sum_i grad C_i``                 :func:`gradient`
* gradient descent:  ``W = W_old - r grad C(W_old)``                 :func:`sgd_step`

The parameters of a network are ONE list: for each layer, for each neuron of
that layer, its bias followed by its incoming weights.  For the 2-3-1 network
that is the 13-D vector ``[b_0, w_00, w_01,  b_1, w_10, w_11,  b_2, w_20, w_21,
b_3, w_30, w_31, w_32]`` (three hidden neurons of 1 + 2 numbers, one output
neuron of 1 + 3).
"""

from __future__ import annotations

import math
import secrets

__all__ = [
    "Network", "sigmoid", "sigmoid_prime", "activate", "activation_prime", "neuron",
    "layer_forward", "mse", "mse_grad", "cross_entropy", "output_delta", "backprop",
    "gradient", "sgd_step", "momentum_step", "adam_step", "SGD", "Adam", "SklearnSGD",
    "SklearnAdam", "xlogy", "half_squared_error", "log_loss", "poisson", "splitmix64",
    "uniform", "shuffled", "n_params", "layer_offsets", "init_params",
]

LEAKY_SLOPE = 0.01
_MASK64 = (1 << 64) - 1


# ------------------------------------------------------------ activations

def sigmoid(z: float) -> float:
    """sigma(z) = 1 / (1 + e^-z).  For z < 0 it is written e^z / (1 + e^z), which
    is the same number but never asks for e to a large positive power."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def sigmoid_prime(a: float) -> float:
    """sigma'(z) = sigma(z) (1 - sigma(z)), written through a = sigma(z)."""
    return a * (1.0 - a)


def activate(name: str, z: list[float]) -> list[float]:
    """a = act(z) for one layer's pre-activations z (softmax needs them all)."""
    if name == "sigmoid":
        return [sigmoid(v) for v in z]
    if name == "tanh":
        return [math.tanh(v) for v in z]
    if name == "relu":
        return [v if v > 0 else 0.0 for v in z]
    if name == "leaky_relu":
        return [v if v > 0 else LEAKY_SLOPE * v for v in z]
    if name == "identity":
        return list(z)
    if name == "softmax":
        m = max(z)  # e^(z - max) <= 1: no overflow
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        return [v / s for v in e]
    if name == "exp":  # the log link: a large z gives inf, as in floating point
        return [math.exp(v) if v < 709.8 else math.inf for v in z]
    raise ValueError(f"unknown activation {name!r}")


def activation_prime(name: str, a: float) -> float:
    """act'(z) written through a = act(z) (elementwise activations)."""
    if name == "sigmoid":
        return sigmoid_prime(a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return 1.0 if a > 0 else 0.0
    if name == "leaky_relu":
        return 1.0 if a > 0 else LEAKY_SLOPE
    if name == "identity":
        return 1.0
    if name == "exp":
        return a
    raise ValueError(f"{name!r} has no elementwise derivative")


# ------------------------------------------------------------ forward

def neuron(w: list[float], x: list[float], act: str = "sigmoid") -> tuple[float, float]:
    """One neuron: z = w0 + x0 w1 + x1 w2 + ...; returns (z, act(z)).

    ``w`` is the neuron's bias followed by its weights, as in the parameter vector.
    """
    z = w[0]
    for i, xi in enumerate(x):
        z += xi * w[i + 1]
    return z, activate(act, [z])[0]


def layer_forward(block: list[list[float]], a_prev: list[float], act: str):
    """a_n = act(b_n + W_n a_{n-1}): every neuron of the layer; returns (z, a)."""
    z = [neuron(w, a_prev, "identity")[0] for w in block]
    return z, activate(act, z)


# ------------------------------------------------------------ cost

def mse(y_pred: list[float], y: list[float]) -> float:
    """The lecture's per-sample cost C_i = sum_k (y~_k - y_k)^2 (summed, not halved)."""
    return sum((p - t) ** 2 for p, t in zip(y_pred, y))


def mse_grad(y_pred: list[float], y: list[float]) -> list[float]:
    """dC_i/dy~_k = 2 (y~_k - y_k)."""
    return [2.0 * (p - t) for p, t in zip(y_pred, y)]


def _softplus(z: float) -> float:
    """log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), never overflowing."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def cross_entropy(z: list[float], y: list[float], output: str) -> float:
    """Cross-entropy from the output pre-activations z (stable: no log of 0).

    ::

        softmax: C_i = -sum_k y_k log softmax(z)_k = sum_k y_k (logsumexp(z) - z_k)
        sigmoid: C_i = -sum_k [y_k log sigma(z_k) + (1 - y_k) log(1 - sigma(z_k))]
                     = sum_k softplus(z_k) - y_k z_k
    """
    if output == "softmax":
        m = max(z)
        lse = m + math.log(sum(math.exp(v - m) for v in z))
        return sum(t * (lse - v) for v, t in zip(z, y))
    return sum(_softplus(v) - t * v for v, t in zip(z, y))


def xlogy(x: float, y: float) -> float:
    """x log y, taken as 0 where x = 0 (as scipy.special.xlogy)."""
    if x == 0 and not math.isnan(y):
        return 0.0
    return x * math.log(y) if y > 0 else (-math.inf if y == 0 else math.nan)


def half_squared_error(y_pred: list[float], y: list[float]) -> float:
    """scikit-learn's squared error of one sample: 1/(2K) sum_k (y~_k - y_k)^2."""
    return sum((p - t) ** 2 for p, t in zip(y_pred, y)) / (2 * len(y))


def log_loss(y_pred: list[float], y: list[float], output: str,
             eps: float = 2.220446049250313e-16) -> float:
    """scikit-learn's log-loss of one sample, the probabilities clipped to [eps, 1 - eps]:
    softmax -sum_k y_k log p_k; sigmoid -sum_k y_k log p_k + (1 - y_k) log(1 - p_k)."""
    total = 0.0
    for p, t in zip(y_pred, y):
        p = min(max(p, eps), 1.0 - eps)
        total -= xlogy(t, p)
        if output != "softmax":
            total -= xlogy(1.0 - t, 1.0 - p)
    return total


def poisson(y_pred: list[float], y: list[float]) -> float:
    """Half the Poisson deviance of one sample: sum_k y_k log(y_k / y~_k) - y_k + y~_k."""
    return sum(xlogy(t, t / p) - t + p for p, t in zip(y_pred, y))


def output_delta(loss: str, output: str, z: list[float], a: list[float], y: list[float],
                 eps: float = 2.220446049250313e-16):
    """delta_L = dC_i/dz_L for one sample, and the cost C_i.

    ::

        mse:           delta_k = 2 (a_k - y_k) act'(z_k)   (softmax: through its Jacobian,
                       delta_k = a_k (g_k - sum_j g_j a_j) with g = 2 (a - y))
        cross_entropy: delta_k = a_k - y_k  (softmax, targets summing to s: a_k s - y_k)
        half_squared_error: delta_k = (a_k - y_k) act'(z_k)  (the gradient of half the
                       *sum* of squares, whatever the value's 1/K)
        log_loss, poisson: delta_k = a_k - y_k  (their canonical outputs)

    ``eps`` is the clipping bound of log_loss (the dtype's machine epsilon).
    """
    if loss in ("mse", "half_squared_error"):
        g = mse_grad(a, y) if loss == "mse" else [p - t for p, t in zip(a, y)]
        if output == "softmax":
            dot = sum(gj * aj for gj, aj in zip(g, a))
            delta = [ak * (gk - dot) for gk, ak in zip(g, a)]
        else:
            delta = [gk * activation_prime(output, ak) for gk, ak in zip(g, a)]
        return delta, mse(a, y) if loss == "mse" else half_squared_error(a, y)
    if loss == "log_loss":
        return [ak - yk for ak, yk in zip(a, y)], log_loss(a, y, output, eps)
    if loss == "poisson":
        return [ak - yk for ak, yk in zip(a, y)], poisson(a, y)
    if output == "softmax":
        s = sum(y)
        return [ak * s - yk for ak, yk in zip(a, y)], cross_entropy(z, y, output)
    return [ak - yk for ak, yk in zip(a, y)], cross_entropy(z, y, output)


# ------------------------------------------------------------ parameters

def n_params(sizes: list[int]) -> int:
    """One bias and n_in weights per neuron: sum_l n_{l+1} (n_l + 1)."""
    return sum(n_out * (n_in + 1) for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def layer_offsets(sizes: list[int]) -> list[int]:
    """Where each layer's block starts in the parameter vector."""
    offsets, pos = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        offsets.append(pos)
        pos += n_out * (n_in + 1)
    return offsets


def blocks(params: list[float], sizes: list[int]) -> list[list[list[float]]]:
    """The vector cut into layers and neurons: blocks[l][j] = [b_j, w_j0, w_j1, ...]."""
    out = []
    for off, n_in, n_out in zip(layer_offsets(sizes), sizes[:-1], sizes[1:]):
        out.append([params[off + j * (n_in + 1): off + (j + 1) * (n_in + 1)]
                    for j in range(n_out)])
    return out


# ------------------------------------------------------------ random numbers

def splitmix64(state: list[int]) -> int:
    """SplitMix64: the next 64-bit number of the stream whose state is state[0].

    nncore's compiled kernels use the same generator, so both shuffle alike."""
    state[0] = (state[0] + 0x9E3779B97F4A7C15) & _MASK64
    z = state[0]
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def uniform(state: list[int]) -> float:
    """A uniform number in [0, 1): the top 53 bits of the next draw."""
    return (splitmix64(state) >> 11) * 2.0 ** -53


def shuffled(n: int, state: list[int]) -> list[int]:
    """0..n-1 in a random order (Fisher-Yates, drawing from state)."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = splitmix64(state) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def init_limit(act: str, fan_in: int, fan_out: int) -> float:
    """Glorot sqrt(6 / (fan_in + fan_out)); He sqrt(6 / fan_in) for rectifiers."""
    if act in ("relu", "leaky_relu"):
        return math.sqrt(6.0 / fan_in)
    return math.sqrt(6.0 / (fan_in + fan_out))


def init_params(sizes: list[int], acts: list[str], seed: int) -> list[float]:
    """Biases 0; weights uniform on [-limit, limit], drawn layer by layer,
    neuron by neuron, from SplitMix64 started at the seed."""
    state = [seed & _MASK64]
    params = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts):
        lim = init_limit(act, n_in, n_out)
        draws = [[lim * (2.0 * uniform(state) - 1.0) for _ in range(n_in)] for _ in range(n_out)]
        for j in range(n_out):
            params.append(0.0)
            params.extend(draws[j])
    return params


# ------------------------------------------------------------ backpropagation

def forward(params, sizes, acts, x):
    """All layers for one sample: returns (zs, activations), activations[0] = x."""
    activations_, zs = [list(x)], []
    for block, act in zip(blocks(params, sizes), acts):
        z, a = layer_forward(block, activations_[-1], act)
        zs.append(z)
        activations_.append(a)
    return zs, activations_


def backprop(params, sizes, acts, loss, x, y):
    """grad C_i for one sample, by the chain rule applied backwards.

    delta_L = dC_i/dz_L (output_delta); for each layer, from the top::

        dC_i/db_j    = delta_j
        dC_i/dw_jk   = delta_j a_k          (a = the layer's inputs)
        delta_below_k = act'(a_k) sum_j w_jk delta_j

    The sum is where several gradients flow into one node: they add.
    Returns (gradient list in the layout of params, C_i).
    """
    zs, a = forward(params, sizes, acts, x)
    delta, cost = output_delta(loss, acts[-1], zs[-1], a[-1], y)
    grad = [0.0] * len(params)
    bl = blocks(params, sizes)
    offsets = layer_offsets(sizes)
    for l in range(len(bl) - 1, -1, -1):
        a_in = a[l]
        n_in = len(a_in)
        for j, dj in enumerate(delta):
            base = offsets[l] + j * (n_in + 1)
            grad[base] = dj
            for k in range(n_in):
                grad[base + 1 + k] = dj * a_in[k]
        if l > 0:
            below = []
            for k in range(n_in):
                s = 0.0
                for j, dj in enumerate(delta):
                    s += bl[l][j][k + 1] * dj
                below.append(s * activation_prime(acts[l - 1], a_in[k]))
            delta = below
    return grad, cost


def gradient(params, sizes, acts, loss, X, Y, sample_weight=None):
    """grad C = the per-sample gradients averaged (weighted by sample_weight):
    "the gradient of every weight is computed for every training example and
    averaged".  Returns (gradient, C)."""
    total = [0.0] * len(params)
    cost, wsum = 0.0, 0.0
    for i, (x, y) in enumerate(zip(X, Y)):
        w = 1.0 if sample_weight is None else float(sample_weight[i])
        g, c = backprop(params, sizes, acts, loss, x, y)
        for p in range(len(total)):
            total[p] += w * g[p]
        cost += w * c
        wsum += w
    return [t / wsum for t in total], cost / wsum


# ------------------------------------------------------------ optimisers

def _decayed(params, grad, sizes, weight_decay):
    """g + weight_decay * W for the weights; biases are not decayed."""
    if not weight_decay:
        return list(grad)
    g = list(grad)
    for off, n_in, n_out in zip(layer_offsets(sizes), sizes[:-1], sizes[1:]):
        for j in range(n_out):
            for k in range(n_in):
                p = off + j * (n_in + 1) + 1 + k
                g[p] += weight_decay * params[p]
    return g


def sgd_step(params, grad, r):
    """W = W_old - r grad C(W_old)."""
    return [w - r * g for w, g in zip(params, grad)]


def momentum_step(params, grad, v, r, mu, nesterov=False):
    """v = mu v + g;  W = W - r v   (Nesterov: W = W - r (g + mu v)).  Returns (W, v)."""
    v = [mu * vi + g for vi, g in zip(v, grad)]
    step = [g + mu * vi for g, vi in zip(grad, v)] if nesterov else v
    return [w - r * s for w, s in zip(params, step)], v


def adam_step(params, grad, m, v, t, r, b1, b2, eps):
    """Adam (Kingma & Ba): moving averages of g and g^2 with bias correction.
    Returns (W, m, v)."""
    m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grad)]
    v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grad)]
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    new = [w - r * (mi / c1) / (math.sqrt(vi / c2) + eps) for w, mi, vi in zip(params, m, v)]
    return new, m, v


class SGD:
    """The twin of :class:`nncore.optimizers.SGD`: ``W = W - r g``, or with
    momentum ``v = mu v + g; W = W - r v`` (Nesterov: ``W = W - r (g + mu v)``),
    after adding ``weight_decay * W`` to the weights' gradient."""

    def __init__(self, learning_rate=None, *, momentum=0.0, nesterov=False, weight_decay=0.0,
                 schedule=None):
        if learning_rate is None:
            learning_rate = 3.0 if momentum == 0 else 0.3
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.schedule = schedule
        self.velocity = None
        self.step_count = 0

    def rate(self, epoch):
        """The learning rate of (0-based) ``epoch``."""
        if self.schedule is None:
            return self.learning_rate
        return float(self.schedule(epoch, self.learning_rate))

    def step(self, params, grad, sizes, epoch=0):
        """One update; returns the new parameters."""
        self.step_count += 1
        g = _decayed(params, grad, sizes, self.weight_decay)
        r = self.rate(epoch)
        if self.momentum == 0:
            return sgd_step(params, g, r)
        if self.velocity is None:
            self.velocity = [0.0] * len(params)
        new, self.velocity = momentum_step(params, g, self.velocity, r, self.momentum,
                                           self.nesterov)
        return new


class Adam:
    """The twin of :class:`nncore.optimizers.Adam` (see :func:`adam_step`)."""

    def __init__(self, learning_rate=1e-3, *, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 weight_decay=0.0, schedule=None):
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.weight_decay = float(weight_decay)
        self.schedule = schedule
        self.m = self.v = None
        self.step_count = 0

    rate = SGD.rate

    def step(self, params, grad, sizes, epoch=0):
        """One update; returns the new parameters."""
        self.step_count += 1
        g = _decayed(params, grad, sizes, self.weight_decay)
        if self.m is None:
            self.m, self.v = [0.0] * len(params), [0.0] * len(params)
        new, self.m, self.v = adam_step(params, g, self.m, self.v, self.step_count,
                                        self.rate(epoch), self.beta1, self.beta2, self.epsilon)
        return new


def _weights_sq(params, sizes):
    """sum of the squared weights (not the biases)."""
    total = 0.0
    for off, n_in, n_out in zip(layer_offsets(sizes), sizes[:-1], sizes[1:]):
        for j in range(n_out):
            total += sum(w * w for w in params[off + j * (n_in + 1) + 1:off + (j + 1) * (n_in + 1)])
    return total


class SklearnSGD:
    """The twin of :class:`nncore.optimizers.SklearnSGD`: scikit-learn's MLP update
    ``v = mu v - r g; W = W + v`` (Nesterov: ``W = W + mu v - r g``), the gradient
    of the weights first increased by ``alpha W / (the minibatch's weight)``."""

    def __init__(self, learning_rate_init=0.1, lr_schedule="constant", momentum=0.9,
                 nesterov=True, power_t=0.5, *, alpha=0.0):
        self.learning_rate = float(learning_rate_init)
        self.momentum, self.nesterov, self.alpha = float(momentum), bool(nesterov), float(alpha)
        self.velocity = None
        self.step_count = 0

    def rate(self, epoch):
        """The learning rate: ``learning_rate_init`` (the schedules live outside)."""
        return self.learning_rate

    def step(self, params, grad, sizes, epoch=0, batch_weight=1.0):
        """One update of a minibatch of total weight ``batch_weight``; returns the
        new parameters."""
        self.step_count += 1
        g = _decayed(params, grad, sizes, self.alpha / batch_weight)
        r, mu = self.learning_rate, self.momentum
        if self.velocity is None:
            self.velocity = [0.0] * len(params)
        self.velocity = [mu * v - r * gi for v, gi in zip(self.velocity, g)]
        if self.nesterov:
            return [w + mu * v - r * gi for w, v, gi in zip(params, self.velocity, g)]
        return [w + v for w, v in zip(params, self.velocity)]


class SklearnAdam:
    """The twin of :class:`nncore.optimizers.SklearnAdam`: scikit-learn's MLP Adam,
    ``W = W - r sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)`` (eps outside the
    bias correction), with ``alpha`` as in :class:`SklearnSGD`."""

    def __init__(self, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, *,
                 alpha=0.0):
        self.learning_rate_init = float(learning_rate_init)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.alpha = float(alpha)
        self.m = self.v = None
        self.step_count = 0

    def rate(self, epoch):
        """The learning rate: ``learning_rate_init``."""
        return self.learning_rate_init

    def step(self, params, grad, sizes, epoch=0, batch_weight=1.0):
        """One update of a minibatch of total weight ``batch_weight``; returns the
        new parameters."""
        self.step_count += 1
        t = self.step_count
        g = _decayed(params, grad, sizes, self.alpha / batch_weight)
        if self.m is None:
            self.m, self.v = [0.0] * len(params), [0.0] * len(params)
        b1, b2 = self.beta_1, self.beta_2
        self.m = [b1 * m + (1 - b1) * gi for m, gi in zip(self.m, g)]
        self.v = [b2 * v + (1 - b2) * gi * gi for v, gi in zip(self.v, g)]
        rt = self.learning_rate_init * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return [w - rt * m / (math.sqrt(v) + self.epsilon)
                for w, m, v in zip(params, self.m, self.v)]


# ------------------------------------------------------------ the network

class Network:
    """The reference twin of :class:`nncore.Network` (same constructor and layout).

    ``params`` is a plain list of floats; ``weights``/``biases`` read it as
    nested lists (lists cannot be views, so write through :meth:`set_layer`).
    ``dtype`` is accepted for symmetry; the arithmetic is Python's float (double).
    """

    def __init__(self, sizes, *, activation="sigmoid", output="sigmoid", loss="mse",
                 dtype="float64", seed=None):
        self.sizes = [int(s) for s in sizes]
        n_hidden = len(self.sizes) - 2
        hidden = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        self.activations = hidden + [output]
        self.loss_name = loss
        self.dtype = dtype
        self.seed = secrets.randbits(63) if seed is None else int(seed)
        self.params = init_params(self.sizes, self.activations, self.seed)
        # the shuffling stream starts where nncore.Network's does
        self._shuffle_state = [(self.seed * 6364136223846793005 + 1442695040888963407)
                               & _MASK64]
        self._opt = None  # (short form, optimiser) of the last fit
        self.epochs_done = 0
        self.history = {"loss": []}

    @property
    def n_params(self):
        """The length of ``params``: ``sum_l n_{l+1} (n_l + 1)``."""
        return len(self.params)

    @property
    def weights(self):
        """``weights[l][j]``: neuron j's incoming weights in layer l (a copy)."""
        return [[row[1:] for row in layer] for layer in blocks(self.params, self.sizes)]

    @property
    def biases(self):
        """``biases[l][j]``: neuron j's bias in layer l (a copy)."""
        return [[row[0] for row in layer] for layer in blocks(self.params, self.sizes)]

    def set_layer(self, l, weights=None, biases=None):
        """Write layer l's weight rows and/or biases into the parameter vector."""
        off, n_in = layer_offsets(self.sizes)[l], self.sizes[l]
        for j in range(self.sizes[l + 1]):
            base = off + j * (n_in + 1)
            if biases is not None:
                self.params[base] = float(biases[j])
            if weights is not None:
                for k in range(n_in):
                    self.params[base + 1 + k] = float(weights[j][k])

    def predict(self, X):
        """The output activations ``a_L`` for every sample of ``X``."""
        return [forward(self.params, self.sizes, self.activations, x)[1][-1] for x in X]

    def _cost(self, z, a, y):
        return output_delta(self.loss_name, self.activations[-1], z, a, y)[1]

    def loss(self, X, Y, sample_weight=None):
        """The cost ``C = 1/N sum_i C_i`` (weighted mean with ``sample_weight``)."""
        Y = [y if isinstance(y, (list, tuple)) else [y] for y in Y]
        total = wsum = 0.0
        for i, (x, y) in enumerate(zip(X, Y)):
            w = 1.0 if sample_weight is None else float(sample_weight[i])
            zs, a = forward(self.params, self.sizes, self.activations, x)
            total += w * self._cost(zs[-1], a[-1], y)
            wsum += w
        return total / wsum

    def gradient(self, X, Y, sample_weight=None):
        """``grad C``, the mean of the samples' gradients, in the layout of ``params``."""
        Y = [y if isinstance(y, (list, tuple)) else [y] for y in Y]
        return gradient(self.params, self.sizes, self.activations, self.loss_name, X, Y,
                        sample_weight)[0]

    def per_sample_gradients(self, X, Y):
        """One gradient ``grad C_i`` per sample (by :func:`backprop`)."""
        Y = [y if isinstance(y, (list, tuple)) else [y] for y in Y]
        return [backprop(self.params, self.sizes, self.activations, self.loss_name, x, y)[0]
                for x, y in zip(X, Y)]

    def _resolve(self, optimizer, learning_rate, momentum=0.9, nesterov=False, beta1=0.9,
                 beta2=0.999, epsilon=1e-8, weight_decay=0.0, schedule=None):
        """An optimiser object for fit's short form; the same short form again
        continues the state of the last one."""
        if not isinstance(optimizer, str):
            return optimizer
        if learning_rate is None:
            learning_rate = {"sgd": 3.0, "momentum": 0.3, "adam": 1e-3}[optimizer]
        if optimizer == "adam":
            opt = Adam(learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon,
                       weight_decay=weight_decay, schedule=schedule)
        elif optimizer == "momentum":
            opt = SGD(learning_rate, momentum=momentum, nesterov=nesterov,
                      weight_decay=weight_decay, schedule=schedule)
        elif optimizer == "sgd":
            opt = SGD(learning_rate, weight_decay=weight_decay, schedule=schedule)
        else:
            raise ValueError(f"unknown optimizer {optimizer!r}")
        key = (optimizer, bool(nesterov) and optimizer == "momentum")
        if self._opt is not None and self._opt[0] == key:
            old = self._opt[1]
            opt.step_count = old.step_count
            for name in ("velocity", "m", "v"):
                if hasattr(old, name):
                    setattr(opt, name, getattr(old, name))
        self._opt = (key, opt)
        return opt

    def step(self, grad, *, optimizer="sgd", learning_rate=None, **options):
        """Apply one optimiser update with the gradient ``grad``: ``optimizer`` is a
        :class:`SGD` or :class:`Adam`, or a short form as in :meth:`fit`."""
        opt = self._resolve(optimizer, learning_rate, **options)
        self.params = opt.step(self.params, grad, self.sizes, self.epochs_done)

    def fit(self, X, Y, *, epochs=30, batch_size=10, learning_rate=None, shuffle=True,
            optimizer="sgd", sample_weight=None, order=None, **options):
        """Minibatch gradient descent, minibatches drawn in nncore.Network's order
        (or, with ``order``, in ``order[epoch]`` for each epoch, counted over every
        fit); ``optimizer`` as in :meth:`nncore.Network.fit` (an object of this
        module, or a short form with its options).  ``history["batch_loss"]`` is
        scikit-learn's account of each epoch's loss (each minibatch's mean loss plus
        ``0.5 alpha |W|^2`` over its weight, weighted by its rows)."""
        opt = self._resolve(optimizer, learning_rate, **options)
        Y = [y if isinstance(y, (list, tuple)) else [y] for y in Y]
        n = len(X)
        for _ in range(epochs):
            if order is not None:
                epoch_order = list(order[self.epochs_done])
            elif shuffle:
                epoch_order = shuffled(n, self._shuffle_state)
            else:
                epoch_order = list(range(n))
            total = wsum = batch_total = 0.0
            for start in range(0, n, batch_size):
                idx = epoch_order[start:start + batch_size]
                sw = None if sample_weight is None else [sample_weight[i] for i in idx]
                g, c = gradient(self.params, self.sizes, self.activations, self.loss_name,
                                [X[i] for i in idx], [Y[i] for i in idx], sw)
                bw = len(idx) if sw is None else sum(sw)
                total += c * bw
                wsum += bw
                # scikit-learn's account: each minibatch's mean loss and penalty, by its rows
                alpha = getattr(opt, "alpha", 0.0)
                batch_total += len(idx) * (c * bw + 0.5 * alpha * _weights_sq(
                    self.params, self.sizes)) / bw
                if isinstance(opt, (SklearnSGD, SklearnAdam)):
                    self.params = opt.step(self.params, g, self.sizes, self.epochs_done, bw)
                else:
                    self.params = opt.step(self.params, g, self.sizes, self.epochs_done)
            self.history["loss"].append(total / wsum)
            self.history.setdefault("batch_loss", []).append(batch_total / n)
            self.epochs_done += 1
        return self

"""Backpropagation made visible: the chain rule, traces, gradient tables, gradient checks.

The lecture's steps, one function each:

* :func:`chain` — the chain rule on a composition of elementary functions,
  stage by stage: each value, each local derivative and the running products,
  beside the "small nudge" finite-difference estimate.
* :func:`trace` — one sample through a :class:`nncore.Network`: every
  neuron's ``z``, activation and ``delta = dC/dz``, and every parameter's
  gradient, layer by layer; :meth:`Trace.to_dot` draws the computational
  graph (values forwards, gradients backwards) as Graphviz source.
* :func:`gradient_table` — the "backpropagation in the computer" slide: one
  row per parameter ``w_0, w_1, ...``, one column per training example and
  the average column, which is ``grad C``.
* :func:`gradcheck` — the largest relative error between backpropagation
  and central finite differences, to compare with :data:`GRADCHECK_THRESHOLD`.

Every number shown for a network comes from the compiled kernels that train
it (:meth:`nncore.Network.per_sample_gradients` for the gradients, the
``forward``/``activate``/``activation_prime``/``output_delta`` kernels for the
values); the tests hold them to :mod:`nncore.reference`.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _kernels, _layout, activations

__all__ = [
    "GRADCHECK_THRESHOLD", "STAGES", "Stage", "ChainRow", "Chain", "chain",
    "LayerTrace", "Trace", "trace", "GradientTable", "gradient_table", "gradcheck",
    "can_render",
]

#: :func:`gradcheck` errors below this mean backpropagation and central
#: differences agree.  In float64 with ``eps = 1e-6`` the differences are
#: accurate to about ``1e-16 |C| / eps = 1e-10 |C|`` (rounding) plus
#: ``eps^2 |C'''| / 6`` (truncation), far below 1e-6 of the gradient's scale; a
#: wrong derivative shows up orders of magnitude above it (one of the largest
#: components off by 1% already gives 1e-2).
GRADCHECK_THRESHOLD = 1e-6

# ------------------------------------------------------------ formatting

def _num(v, digits: int = 4) -> str:
    """A number in ``digits`` significant digits, without a negative zero."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    s = format(v, f".{digits}g")
    return "0" if s in ("-0", "0") else s


def _vec(values, digits: int = 4) -> str:
    return "[" + ", ".join(_num(v, digits) for v in np.ravel(values)) + "]"


def _table(headers: list[str], rows: list[list[str]], left: int = 1, indent: str = "") -> str:
    """Columns right-aligned except the first ``left``; a row of one "..."
    cell is an elision mark."""
    cells = [headers] + [r for r in rows if len(r) == len(headers)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        if len(r) != len(headers):
            return indent + r[0]
        return indent + "  ".join(c.ljust(w) if i < left else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return "\n".join(line(r) for r in [headers] + rows)


def _elide(n: int, limit: int | None) -> list[int | None]:
    """Indices 0..n-1, or the first and last limit/2 with None between."""
    if limit is None or n <= limit:
        return list(range(n))
    head = (limit + 1) // 2
    tail = limit - head
    return list(range(head)) + [None] + list(range(n - tail, n))


# ------------------------------------------------------------ the chain rule

@dataclass(frozen=True)
class Stage:
    """One elementary function of a chain: ``name(z) = formula``, its
    function ``f`` and its derivative ``df``."""

    name: str
    formula: str
    f: Callable[[float], float]
    df: Callable[[float], float]


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


#: Built-in stages by name: (formula, f, f').
STAGES: dict[str, tuple[str, Callable, Callable]] = {
    "neg": ("-z", lambda z: -z, lambda z: -1.0),
    "add1": ("z + 1", lambda z: z + 1.0, lambda z: 1.0),
    "inv": ("1/z", lambda z: 1.0 / z, lambda z: -1.0 / (z * z)),
    "exp": ("exp(z)", math.exp, math.exp),
    "log": ("log(z)", math.log, lambda z: 1.0 / z),
    "square": ("z^2", lambda z: z * z, lambda z: 2.0 * z),
    "sqrt": ("sqrt(z)", math.sqrt, lambda z: 0.5 / math.sqrt(z)),
    "sin": ("sin(z)", math.sin, math.cos),
    "cos": ("cos(z)", math.cos, lambda z: -math.sin(z)),
    "sigmoid": ("1/(1 + exp(-z))", _sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "tanh": ("tanh(z)", math.tanh, lambda z: 1.0 - math.tanh(z) ** 2),
    "relu": ("max(z, 0)", lambda z: z if z > 0 else 0.0, lambda z: 1.0 if z > 0 else 0.0),
}


def _stage(spec) -> Stage:
    if isinstance(spec, Stage):
        return spec
    if isinstance(spec, str):
        label, builtin = spec, spec
    elif isinstance(spec, tuple) and len(spec) == 2:
        label, builtin = spec
    elif isinstance(spec, tuple) and len(spec) == 3:
        label, f, df = spec
        return Stage(str(label), "", f, df)
    elif isinstance(spec, tuple) and len(spec) == 4:
        return Stage(str(spec[0]), str(spec[1]), spec[2], spec[3])
    else:
        raise TypeError(f"a stage is a built-in name, (name, builtin), (name, f, df) or "
                        f"(name, formula, f, df); got {spec!r}")
    if builtin not in STAGES:
        raise ValueError(f"unknown stage {builtin!r}; built-in stages: {', '.join(STAGES)}")
    return Stage(str(label), *STAGES[builtin])


@dataclass(frozen=True)
class ChainRow:
    """One stage of a chain evaluated at a point.

    ``local`` is d(stage)/d(its input); ``forward`` the running product from
    the input side, d(stage)/dx; ``backward`` the running product from the
    output side, df/d(its input) — the number backpropagation carries.
    """

    name: str
    formula: str
    input_name: str
    input: float
    value: float
    local: float
    forward: float
    backward: float


class Chain:
    """The chain rule tabulated; ``print()`` it.  See :func:`chain`."""

    def __init__(self, rows: list[ChainRow], x: float, nudge: float | None,
                 nudged_value: float | None):
        self.rows = rows
        self.x = x
        self.value = rows[-1].value
        self.derivative = rows[0].backward
        self.nudge = nudge
        self.nudged_value = nudged_value
        self.nudge_estimate = (None if nudge is None
                               else (nudged_value - self.value) / nudge)

    def __repr__(self):
        return f"<Chain of {len(self.rows)} stages at x={self.x!r}: derivative={self.derivative!r}>"

    def __str__(self):
        return self.format()

    def format(self, digits: int = 4) -> str:
        """The table with ``digits`` significant digits (the derivative and
        the nudge estimate always get 10)."""
        n = lambda v: _num(v, digits)  # noqa: E731
        out = self.rows[-1].name
        composed = "x"
        for r in self.rows:
            composed = f"{r.name}({composed})"
        lines = [f"{out}(x) = {composed} at x = {_num(self.x, 10)}", ""]
        headers = ["stage", "input", "value", "local derivative",
                   "running product (backward)", "running product (forward)"]
        rows = []
        for r in self.rows:
            rows.append([
                f"{r.name}(z) = {r.formula}" if r.formula else r.name,
                f"{r.input_name} = {n(r.input)}",
                f"{r.name} = {n(r.value)}",
                f"d{r.name}/d{r.input_name} = {n(r.local)}",
                f"d{out}/d{r.input_name} = {n(r.backward)}",
                f"d{r.name}/dx = {n(r.forward)}",
            ])
        lines.append(_table(headers, rows, left=len(headers)))
        lines += ["", f"chain rule:   d{out}/dx = {_num(self.derivative, 10)}"]
        if self.nudge is not None:
            x1 = self.x + self.nudge
            lines += [
                f"small nudge:  x = {_num(self.x, 10)} -> {_num(x1, 10)} moves {out} from "
                f"{_num(self.value, 10)} to {_num(self.nudged_value, 10)}",
                f"              ({out}({_num(x1, 10)}) - {out}({_num(self.x, 10)})) / "
                f"{_num(self.nudge, 10)} = {_num(self.nudge_estimate, 10)}",
            ]
        return "\n".join(lines)


def _run_chain(stages: list[Stage], x: float) -> list[tuple[float, float, float]]:
    """(input, value, local derivative) of every stage."""
    out, v = [], x
    for s in stages:
        value = float(s.f(v))
        out.append((v, value, float(s.df(v))))
        v = value
    return out


def chain(stages, x: float, nudge: float | None = None) -> Chain:
    """The chain rule for ``f(x) = s_n(...s_2(s_1(x)))``, stage by stage.

    Parameters
    ----------
    stages : list
        The functions in the order they are applied to ``x``.  Each is a
        built-in name from :data:`STAGES` (``"neg"``, ``"exp"``, ``"add1"``,
        ``"inv"``, ``"log"``, ``"square"``, ``"sqrt"``, ``"sin"``, ``"cos"``,
        ``"sigmoid"``, ``"tanh"``, ``"relu"``), a pair ``(name, builtin)`` that
        gives it the lecture's letter, a triple ``(name, f, df)`` of a function
        and its derivative, a quadruple ``(name, formula, f, df)`` or a
        :class:`Stage`.
    x : float
        The point.
    nudge : float, optional
        Also estimate the derivative as ``(f(x + nudge) - f(x)) / nudge``.

    Returns
    -------
    Chain
        ``rows`` (one :class:`ChainRow` per stage: input, value, local
        derivative and the running products), ``value`` = f(x),
        ``derivative`` = df/dx by the chain rule, ``nudge_estimate``;
        ``print()`` shows the table.

    Examples
    --------
    The lecture's ``f(h(g(m(x))))`` with m(z) = -z, g = exp, h(z) = z + 1,
    f(z) = 1/z, at x = 1:

    >>> c = chain([("m", "neg"), ("g", "exp"), ("h", "add1"), ("f", "inv")],
    ...           x=1.0, nudge=0.1)
    >>> round(c.derivative, 10), round(c.nudge_estimate, 10)
    (0.1966119332, 0.1920152697)
    """
    stages = [_stage(s) for s in stages]
    if not stages:
        raise ValueError("a chain needs at least one stage")
    x = float(x)
    steps = _run_chain(stages, x)
    forward, prod = [], 1.0
    for _, _, local in steps:
        prod *= local
        forward.append(prod)
    backward, prod = [0.0] * len(steps), 1.0
    for i in range(len(steps) - 1, -1, -1):
        prod *= steps[i][2]
        backward[i] = prod
    names = ["x"] + [s.name for s in stages]
    rows = [ChainRow(s.name, s.formula, names[i], inp, val, loc, forward[i], backward[i])
            for i, (s, (inp, val, loc)) in enumerate(zip(stages, steps, strict=True))]
    nudged = None
    if nudge is not None:
        nudge = float(nudge)
        if nudge == 0 or not math.isfinite(nudge):
            raise ValueError(f"nudge must be a finite non-zero number, got {nudge!r}")
        nudged = _run_chain(stages, x + nudge)[-1][1]
    return Chain(rows, x, nudge, nudged)


# ------------------------------------------------------------ one sample traced

@dataclass
class LayerTrace:
    """Layer ``index`` (1 = the first weight layer) for one sample.

    Forward: ``z = b + W a_prev``, ``a = act(z)``.  Backward: ``dC_da``
    (for hidden layers ``W_next^T delta_next``: the gradients flowing into a
    node add up), ``act_prime`` = act'(z) (None for softmax, whose derivative
    is a Jacobian), ``delta`` = dC/dz, ``bias_grad`` = delta and
    ``weight_grad`` = outer(delta, a_prev).  ``offset`` is where the layer's
    block starts in the parameter vector.
    """

    index: int
    activation: str
    offset: int
    a_prev: np.ndarray
    biases: np.ndarray
    weights: np.ndarray
    z: np.ndarray
    a: np.ndarray
    act_prime: np.ndarray | None
    dC_da: np.ndarray
    delta: np.ndarray
    bias_grad: np.ndarray
    weight_grad: np.ndarray

    @property
    def n_in(self) -> int:
        """The layer's number of inputs."""
        return self.weights.shape[1]

    @property
    def n_out(self) -> int:
        """The layer's number of neurons."""
        return self.weights.shape[0]

    def param_index(self, neuron: int, k: int | None = None) -> int:
        """Position in ``params`` of the neuron's bias (k None) or weight k."""
        return self.offset + neuron * (self.n_in + 1) + (0 if k is None else k + 1)


_LOSS_TEXT = {"mse": "sum_k (y~_k - y_k)^2",
              "cross_entropy": "-sum_k y_k log y~_k"}


class Trace:
    """Forward values and backward gradients of one sample, node by node.

    Attributes
    ----------
    x, y : ndarray
        The sample and its target.
    layers : list of LayerTrace
    output : ndarray
        ``y~ = a_L``.
    cost : float
        ``C`` of this sample.
    gradient : ndarray
        ``dC/dW`` in the layout of ``params`` (one row of
        :meth:`nncore.Network.per_sample_gradients`).
    params : ndarray
        A copy of the parameters traced.
    """

    def __init__(self, net, x, y, layers, cost, gradient):
        self.network = repr(net)
        self.sizes = tuple(net.sizes)
        self.loss = net.loss_name
        self.x = x
        self.y = y
        self.layers = layers
        self.output = layers[-1].a
        self.cost = cost
        self.gradient = gradient
        self.params = np.array(net.params)

    def __repr__(self):
        return f"<Trace of {self.network}: cost={self.cost!r}>"

    def __str__(self):
        return self.format()

    def format(self, digits: int = 4, max_rows: int | None = 40) -> str:
        """The trace as text; tables longer than ``max_rows`` show their first
        and last rows around a "..." line."""
        n = lambda v: _num(v, digits)  # noqa: E731
        L = len(self.layers)
        out = [f"trace of {self.network}",
               f"x = a_0 = {_vec(self.x, digits)}", f"y = {_vec(self.y, digits)}", "",
               "forward pass: z_l = b_l + W_l a_(l-1), a_l = act(z_l)"]
        for lt in self.layers:
            out.append(f"  layer {lt.index} ({lt.n_in} -> {lt.n_out}, {lt.activation})")
            rows = [["..."] if j is None else [str(j), n(lt.z[j]), n(lt.a[j])]
                    for j in _elide(lt.n_out, max_rows)]
            out.append(_table(["neuron", "z", f"a = {lt.activation}(z)"], rows, indent="    "))
        out += [f"  output y~ = a_{L} = {_vec(self.output, digits)}",
                f"  cost C = {_LOSS_TEXT[self.loss]} = {n(self.cost)}  ({self.loss})", "",
                "backward pass: dC/dz = dC/da * act'(z), from the cost down"]
        for lt in reversed(self.layers):
            if lt.index == L:
                how = f"dC/da from the cost ({self.loss})"
            else:
                how = f"dC/da_{lt.index} = W_{lt.index + 1}^T dC/dz_{lt.index + 1}"
            if lt.act_prime is None:
                how += "; dC/dz through the softmax Jacobian"
            out.append(f"  layer {lt.index}: {how}")
            rows = []
            for j in _elide(lt.n_out, max_rows):
                if j is None:
                    rows.append(["..."])
                    continue
                ap = "-" if lt.act_prime is None else n(lt.act_prime[j])
                rows.append([str(j), n(lt.dC_da[j]), ap, n(lt.delta[j])])
            out.append(_table(["neuron", "dC/da", f"{lt.activation}'(z)", "dC/dz = delta"],
                              rows, indent="    "))
        out += ["", "parameter gradients: dC/db_j = delta_j, dC/dw_jk = delta_j * a_k"]
        for lt in self.layers:
            out.append(f"  layer {lt.index}")
            rows = []
            entries = [(j, k) for j in range(lt.n_out) for k in [None, *range(lt.n_in)]]
            for e in _elide(len(entries), max_rows):
                if e is None:
                    rows.append(["..."])
                    continue
                j, k = entries[e]
                p = lt.param_index(j, k)
                if k is None:
                    rows.append([f"w_{p}", f"b[{j}]", n(lt.biases[j]), "1",
                                 n(lt.bias_grad[j])])
                else:
                    rows.append([f"w_{p}", f"W[{j},{k}]", n(lt.weights[j, k]),
                                 n(lt.a_prev[k]), n(lt.weight_grad[j, k])])
            out.append(_table(["param", "role", "value", "input a_k", "dC/dparam"], rows,
                              left=2, indent="    "))
        return "\n".join(out)

    def to_dot(self, digits: int = 4, max_edges: int = 2000) -> str:
        """Graphviz source of the computation: black edges carry values
        forwards (each labelled with its weight), red dashed edges carry
        gradients backwards (labelled dC/dw and, into the cost, dC/dy~)."""
        n = lambda v: _num(v, digits)  # noqa: E731
        n_edges = sum(lt.n_in * lt.n_out for lt in self.layers) + self.sizes[-1]
        if n_edges > max_edges:
            raise ValueError(f"the graph would have {n_edges} edges (max_edges={max_edges}); "
                             f"draw a smaller network")
        q = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # noqa: E731
        lines = ["digraph backprop {", "  rankdir=LR;",
                 '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
                 '  edge [fontname="Helvetica", fontsize=9];',
                 "  subgraph cluster_0 {", f"    label={q('inputs a_0 = x')};"]
        for k, v in enumerate(self.x):
            lines.append(f"    a0_{k} [label={q(f'x_{k} = {n(v)}')}];")
        lines.append("  }")
        for lt in self.layers:
            li = lt.index
            lines += [f"  subgraph cluster_{li} {{",
                      f"    label={q(f'layer {li} ({lt.activation})')};"]
            for j in range(lt.n_out):
                text = (f"neuron {li}.{j}\\nb = {n(lt.biases[j])}\\nz = {n(lt.z[j])}\\n"
                        f"a = {n(lt.a[j])}\\ndC/dz = {n(lt.delta[j])}\\n"
                        f"dC/db = {n(lt.bias_grad[j])}")
                lines.append(f"    a{li}_{j} [label=\"{text}\"];")
            lines.append("  }")
        lines.append(f"  C [shape=ellipse, label={q(f'C = {n(self.cost)} ({self.loss})')}];")
        for lt in self.layers:
            li = lt.index
            for j in range(lt.n_out):
                for k in range(lt.n_in):
                    p = lt.param_index(j, k)
                    lines.append(f"  a{li - 1}_{k} -> a{li}_{j} "
                                 f"[label={q(f'w_{p} = {n(lt.weights[j, k])}')}];")
                    lines.append(f"  a{li}_{j} -> a{li - 1}_{k} [label="
                                 f"{q(f'dC/dw_{p} = {n(lt.weight_grad[j, k])}')}, "
                                 f"color=red, fontcolor=red, style=dashed, constraint=false];")
        top = self.layers[-1]
        for j in range(top.n_out):
            lines.append(f"  a{top.index}_{j} -> C [label={q(f'y~_{j} = {n(top.a[j])}')}];")
            lines.append(f"  C -> a{top.index}_{j} [label={q(f'dC/dy~_{j} = {n(top.dC_da[j])}')}"
                         f", color=red, fontcolor=red, style=dashed, constraint=false];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def render(self, path, format: str | None = None) -> Path:
        """Draw :meth:`to_dot` to ``path`` (format from its suffix, default png).

        Needs the ``graphviz`` Python package and Graphviz's ``dot`` program;
        see :func:`can_render`.
        """
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError("Trace.render needs the graphviz Python package "
                              "(pip install graphviz) and Graphviz's dot program; "
                              "Trace.to_dot() works without them") from exc
        if shutil.which("dot") is None:
            raise RuntimeError("Trace.render needs Graphviz's dot program on PATH "
                               "(e.g. apt-get install graphviz); Trace.to_dot() works "
                               "without it")
        path = Path(path)
        fmt = format or path.suffix.lstrip(".") or "png"
        path.write_bytes(graphviz.Source(self.to_dot()).pipe(format=fmt))
        return path


def can_render() -> bool:
    """Whether :meth:`Trace.render` can work here (graphviz package and dot)."""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _dC_da_output(loss: str, act: str, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dy~ for one sample (shape (1, n_out))."""
    if loss == "mse":
        out = np.empty_like(a)
        _kernels.mse_grad(a, y, out)
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        if act == "softmax":
            return -y / a
        return (a - y) / (a * (1 - a))


def trace(net, x, y) -> Trace:
    """One sample through ``net``, forwards and backwards, node by node.

    Parameters
    ----------
    net : nncore.Network
    x : array-like, shape (n_features,) or (1, n_features)
    y : array-like or float, shape (n_outputs,) (a number with one output)

    Returns
    -------
    Trace
        ``print()`` it for the tables, :meth:`Trace.to_dot` for the graph.

    Notes
    -----
    The values come from the network's compiled kernels: each layer's ``z``
    and ``a`` from :meth:`nncore.Network.forward_trace`, ``act'(z)`` from
    ``_kernels.activation_prime``, the cost from ``_kernels.output_delta``, and
    every gradient from :meth:`nncore.Network.per_sample_gradients`.  ``delta = dC/dz`` of each
    neuron is its bias gradient (``dC/db = dC/dz * dz/db`` and ``dz/db = 1``).
    Only ``dC/da`` of hidden layers, ``W^T delta``, is a NumPy product.
    """
    X = np.asarray(x)
    X = net.check_data(X.reshape(1, -1) if X.ndim <= 1 else X)
    if X.shape[0] != 1:
        raise ValueError(f"trace follows one sample; x has {X.shape[0]} rows")
    Y = np.asarray(y)
    _, Y = net.check_data(X, Y.reshape(1, -1) if Y.ndim <= 1 else Y)
    grad = net.per_sample_gradients(X, Y)[0]
    layers, a_prev = [], X[0]
    for li, (values, offset, W, g) in enumerate(zip(
            net.forward_trace(X), _layout.offsets(net.sizes), _layout.blocks(net.params, net.sizes),
            _layout.blocks(grad, net.sizes), strict=True), start=1):
        act, a = values.activation, values.a
        ap = None
        if act != "softmax":
            ap = np.empty_like(a)
            _kernels.activation_prime(a, ap, activations.ACTIVATIONS[act].id)
        layers.append(LayerTrace(
            index=li, activation=act, offset=offset, a_prev=a_prev.copy(),
            biases=W[:, 0].copy(), weights=W[:, 1:].copy(), z=values.z[0], a=a[0],
            act_prime=None if ap is None else ap[0], dC_da=None, delta=g[:, 0].copy(),
            bias_grad=g[:, 0].copy(), weight_grad=g[:, 1:].copy()))
        a_prev = a[0]
    top = layers[-1]
    D = np.empty((1, net.sizes[-1]), dtype=net.dtype)
    cost = _kernels.output_delta(top.z.reshape(1, -1), Y, D, net.spec.loss,
                                 activations.ACTIVATIONS[top.activation].id)
    top.dC_da = _dC_da_output(net.loss_name, top.activation, top.a.reshape(1, -1), Y)[0]
    for lower, upper in zip(layers[-2::-1], layers[:0:-1], strict=True):
        lower.dC_da = upper.weights.T @ upper.delta
    return Trace(net, X[0], Y[0], layers, float(cost), grad)


# ------------------------------------------------------------ per-example gradients

def _labels(Y: np.ndarray) -> list[str]:
    """Argmax of one-hot rows, the value of one-output rows, else the row number."""
    if Y.shape[1] == 1:
        return [_num(v) for v in Y[:, 0]]
    if np.isin(Y, (0, 1)).all() and (Y.sum(axis=1) == 1).all():
        return [str(int(i)) for i in Y.argmax(axis=1)]
    return [f"#{i}" for i in range(Y.shape[0])]


class GradientTable:
    """Per-example gradients, one column per example, and their average.

    Attributes
    ----------
    per_example : ndarray, shape (n_examples, n_params)
        ``dC_i/dW`` of the examples shown (rows of
        :meth:`nncore.Network.per_sample_gradients`).
    average : ndarray, shape (n_params,)
        The mean over *all* samples given, which is ``grad C``.
    labels : list of str
        Column headings of the examples.
    n_samples : int
        How many samples the average is over.
    """

    def __init__(self, per_example, average, labels, n_samples, rows, digits):
        self.per_example = per_example
        self.average = average
        self.labels = labels
        self.n_samples = n_samples
        self.rows = rows
        self.digits = digits

    def __repr__(self):
        return (f"<GradientTable: {self.average.shape[0]} parameters x "
                f"{len(self.labels)} examples, average over {self.n_samples}>")

    def __str__(self):
        P, k = self.average.shape[0], len(self.labels)
        more = self.n_samples > k
        headers = ["", *self.labels] + (["..."] if more else []) + ["average"]
        rows = []
        if self.rows is None or isinstance(self.rows, int):
            shown = _elide(P, self.rows)
        else:  # chosen parameters, with "..." where they skip some
            shown = []
            for i, p in enumerate(self.rows):
                if (i and p != self.rows[i - 1] + 1) or (i == 0 and p != 0):
                    shown.append(None)
                shown.append(p)
            if shown[-1] != P - 1:
                shown.append(None)
        for p in shown:
            if p is None:
                rows.append(["..."])
                continue
            rows.append([f"w_{p}", *(_num(self.per_example[i, p], self.digits)
                                     for i in range(k))]
                        + (["..."] if more else []) + [_num(self.average[p], self.digits)])
        title = (f"per-example gradients dC_i/dw: {P} parameters (rows) x {k} of "
                 f"{self.n_samples} examples (columns, headed by their label)")
        note = (f"average = the mean over all {self.n_samples} examples = grad C, "
                f"the step of gradient descent")
        return "\n".join([title, _table(headers, rows), note])


def gradient_table(net, X, Y, examples: int | None = 6, *, rows: int | None = 20,
                   labels=None, digits: int = 4) -> GradientTable:
    """The lecture's "backpropagation in the computer" slide.

    Parameters
    ----------
    net : nncore.Network
    X, Y : array-like
        The training examples and their targets.
    examples : int or None
        How many examples (the first ones) get a column; None for all.
    rows : int, sequence of int or None
        Parameters shown: all of them when there are at most ``rows``, else
        the first and last ``rows/2`` around a "..." line; or the parameters
        with these indices (a "..." line marks each gap); None shows all.
    labels : list of str, optional
        Column headings; by default each example's label: the argmax of a
        one-hot target, the value of a single target, else its row number.
    digits : int
        Significant digits printed.

    Returns
    -------
    GradientTable
        ``print()`` it.  Every number comes from
        :meth:`nncore.Network.per_sample_gradients` (compiled, in batches); the
        average is taken over all samples, in chunks that keep memory small.
    """
    X, Y = net.check_data(X, Y)
    n, P = X.shape[0], net.n_params
    k = n if examples is None else min(int(examples), n)
    if k < 1:
        raise ValueError(f"examples must be >= 1, got {examples!r}")
    if rows is None:
        pass
    elif isinstance(rows, (int, np.integer)):
        rows = int(rows)
        if rows < 1:
            raise ValueError(f"rows must be >= 1 or None, got {rows!r}")
    else:
        rows = [int(p) for p in rows]
        if not rows or min(rows) < 0 or max(rows) >= P:
            raise ValueError(f"rows must be parameter indices in [0, {P}), got {rows!r}")
    per_example = net.per_sample_gradients(X[:k], Y[:k])
    chunk = max(1, 2_000_000 // P)
    total = np.zeros(P, dtype=np.float64)
    for start in range(0, n, chunk):
        total += net.per_sample_gradients(X[start:start + chunk],
                                          Y[start:start + chunk]).sum(axis=0, dtype=np.float64)
    if labels is None:
        labels = _labels(Y[:k])
    else:
        labels = [str(s) for s in labels]
        if len(labels) != k:
            raise ValueError(f"{len(labels)} labels for {k} examples")
    return GradientTable(per_example, total / n, labels, n, rows, digits)


# ------------------------------------------------------------ gradient checking

def gradcheck(net, X, Y, eps: float = 1e-6, *, indices=None) -> float:
    """The largest relative error between backpropagation and central differences.

    Both are computed in float64 on a copy of ``net`` (a float32 network is
    copied to float64), so the check is about the maths, not the precision.

    ``error = max_i |g_i - n_i| / max_i max(|g_i|, |n_i|)`` where ``g`` is
    :meth:`nncore.Network.gradient` and ``n_i = (C(w_i + eps) - C(w_i - eps)) /
    (2 eps)``: each difference is measured against the size of the gradient
    vector, so components that are zero or nearly so (whose finite
    differences are pure rounding noise) cannot blow the ratio up.  Compare
    with :data:`GRADCHECK_THRESHOLD`.

    Parameters
    ----------
    net : nncore.Network
    X, Y : array-like
        A few samples; the check costs two loss evaluations per parameter.
    eps : float
        The step of the central differences.
    indices : array-like of int, optional
        Check only these parameters (for large networks).

    Returns
    -------
    float

    Notes
    -----
    Finite differences are exact only where the cost is smooth: with relu or
    leaky_relu, a pre-activation within ``eps`` of 0 puts a kink between
    ``w - eps`` and ``w + eps``.  Near a minimum, where the gradient is tiny
    compared with the cost, the differences lose digits; check at a random
    initialisation.
    """
    eps = float(eps)
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    net64 = net.astype("float64")
    X, Y = net64.check_data(X, Y)
    g = net64.gradient(X, Y)
    idx = np.arange(net64.n_params) if indices is None else np.asarray(indices, dtype=np.intp)
    p = net64.params
    num = np.empty(idx.shape[0])
    for i, w in enumerate(idx):
        w0 = p[w]
        p[w] = w0 + eps
        up = net64.loss(X, Y)
        p[w] = w0 - eps
        down = net64.loss(X, Y)
        p[w] = w0
        num[i] = (up - down) / (2 * eps)
    g = g[idx]
    scale = max(float(np.abs(g).max(initial=0.0)), float(np.abs(num).max(initial=0.0)))
    diff = float(np.abs(g - num).max(initial=0.0))
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 else math.inf

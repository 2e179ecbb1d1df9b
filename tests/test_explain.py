"""nncore.explain: the chain rule, traces, gradient tables and gradient checks."""

import math
import re
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import RTOL, assert_close

import nncore
from nncore import explain, reference
from nncore.datasets import one_hot
from nncore.explain import GRADCHECK_THRESHOLD, chain, gradcheck, gradient_table, trace

LECTURE_CHAIN = [("m", "neg"), ("g", "exp"), ("h", "add1"), ("f", "inv")]

# The lecture's neuron: b = -2, W = [-1, 0.5, 10], x = [4, -2, 1], y = 1.
X1, Y1 = [4.0, -2.0, 1.0], 1.0
DB = -0.0042850851
DW = [-0.0171403403, 0.0085701701, -0.0042850851]


def lecture_neuron(dtype=np.float64):
    net = nncore.Network([3, 1], dtype=dtype, seed=0)
    net.params = [-2.0, -1.0, 0.5, 10.0]
    return net


# ------------------------------------------------------------ chain

def test_chain_reproduces_the_lecture():
    c = chain(LECTURE_CHAIN, x=1.0, nudge=0.1)
    m, g, h, f = c.rows
    assert [r.name for r in c.rows] == ["m", "g", "h", "f"]
    assert [r.input_name for r in c.rows] == ["x", "m", "g", "h"]
    assert m.value == -1.0 and g.value == math.exp(-1)
    assert round(h.value, 2) == 1.37
    assert round(f.local, 2) == -0.53  # df/dh
    assert round(f.backward, 2) == -0.53  # df/dh
    assert round(g.backward, 2) == -0.20  # df/dm
    assert round(m.backward, 2) == 0.20  # df/dx
    exact = math.exp(-1) / (1 + math.exp(-1)) ** 2
    assert c.derivative == pytest.approx(exact, rel=1e-15)
    assert round(c.derivative, 10) == 0.1966119332
    assert round(c.nudge_estimate, 10) == 0.1920152697
    assert c.value == pytest.approx(1 / (1 + math.exp(-1)))
    # the running product from the input side ends at the same derivative
    assert f.forward == pytest.approx(c.derivative, rel=1e-15)
    assert [r.local for r in c.rows] == pytest.approx([-1, math.exp(-1), 1, -1 / h.value**2])


def test_chain_prints_the_table():
    text = str(chain(LECTURE_CHAIN, x=1.0, nudge=0.1))
    for piece in ["h = 1.368", "df/dh = -0.5344", "df/dm = -0.1966", "df/dx = 0.1966",
                  "df/dx = 0.1966119332", "= 0.1920152697", "x = 1 -> 1.1",
                  "f(x) = f(h(g(m(x))))", "m(z) = -z", "g(z) = exp(z)"]:
        assert piece in text, piece
    assert "nudge" not in str(chain(LECTURE_CHAIN, x=1.0))
    short = chain(LECTURE_CHAIN, x=1.0, nudge=0.1).format(digits=2)
    for piece in ["h = 1.4", "df/dh = -0.53", "df/dm = -0.2", "df/dx = 0.1966119332"]:
        assert piece in short, piece


def test_chain_accepts_functions_and_builtins():
    c = chain(["square", ("s", "sin"), ("t", lambda z: 3 * z, lambda z: 3.0)], x=0.5)
    # d/dx 3 sin(x^2) = 6 x cos(x^2)
    assert c.derivative == pytest.approx(6 * 0.5 * math.cos(0.25), rel=1e-14)
    assert c.value == pytest.approx(3 * math.sin(0.25))
    assert c.nudge_estimate is None
    for name, (_, f, df) in explain.STAGES.items():
        x = 0.7
        h = 1e-6
        assert df(x) == pytest.approx((f(x + h) - f(x - h)) / (2 * h), rel=1e-6, abs=1e-9), name
    quad = explain.Stage("q", "z^3", lambda z: z**3, lambda z: 3 * z * z)
    assert chain([quad, ("p", "cube", lambda z: z**3, lambda z: 3 * z * z)],
                 x=2.0).derivative == pytest.approx(9 * 2.0**8)


@pytest.mark.parametrize("stages, x, nudge, err", [
    ([], 1.0, None, ValueError),
    (["nope"], 1.0, None, ValueError),
    ([42], 1.0, None, TypeError),
    (["exp"], 1.0, 0.0, ValueError),
    (["exp"], 1.0, math.nan, ValueError),
])
def test_chain_rejects_bad_input(stages, x, nudge, err):
    with pytest.raises(err):
        chain(stages, x=x, nudge=nudge)


# ------------------------------------------------------------ trace

def test_trace_of_the_lecture_neuron(dtype):
    t = trace(lecture_neuron(dtype), X1, Y1)
    tol = 1e-10 if dtype == np.float64 else 1e-6
    (layer,) = t.layers
    assert layer.z[0] == pytest.approx(3.0, abs=tol)
    assert round(float(t.output[0]), 4) == 0.9526
    assert round(float(layer.dC_da[0]), 4) == -0.0949
    assert round(float(layer.delta[0]), 5) == -0.00429
    assert layer.act_prime[0] == pytest.approx(t.output[0] * (1 - t.output[0]), abs=tol)
    assert layer.bias_grad[0] == pytest.approx(DB, abs=tol)
    np.testing.assert_allclose(layer.weight_grad[0], DW, atol=tol)
    np.testing.assert_allclose(t.gradient, [DB, *DW], atol=tol)
    assert t.cost == pytest.approx(0.0022492134, abs=tol)
    assert t.gradient.dtype == dtype
    text = str(t)
    for piece in ["0.9526", "-0.09485", "-0.004285", "-0.01714", "0.00857", "w_3",
                  "W[0,2]", "b[0]", "0.002249"]:
        assert piece in text, piece


def test_trace_accepts_2d_sample_and_rejects_several():
    net = lecture_neuron()
    a = trace(net, [X1], [[Y1]])
    b = trace(net, np.array(X1), np.array([Y1]))
    np.testing.assert_array_equal(a.gradient, b.gradient)
    with pytest.raises(ValueError, match="one sample"):
        trace(net, [X1, X1], [Y1, Y1])
    with pytest.raises(ValueError):
        trace(net, [1.0, 2.0], Y1)


TRACE_CONFIGS = [
    ("sigmoid", "sigmoid", "mse"),
    ("tanh", "identity", "mse"),
    ("relu", "softmax", "cross_entropy"),
    ("leaky_relu", "sigmoid", "cross_entropy"),
    ("identity", "softmax", "mse"),
]


@pytest.mark.parametrize("act, out, loss", TRACE_CONFIGS)
def test_trace_matches_the_reference(act, out, loss, dtype):
    rng = np.random.default_rng(7)
    net = nncore.Network([2, 3, 2], activation=act, output=out, loss=loss, dtype=dtype, seed=3)
    net.params = rng.normal(0, 0.8, net.n_params)
    params64 = [float(p) for p in net.params]
    x = rng.normal(size=2)
    y = [0.0, 1.0] if out == "softmax" else list(rng.uniform(size=2))
    t = trace(net, x.astype(dtype), y)
    x = [float(v) for v in x.astype(dtype)]
    zs, acts = reference.forward(params64, net.sizes, net.activations, x)
    grad, cost = reference.backprop(params64, net.sizes, net.activations, loss, x, y)
    rtol = RTOL[np.dtype(dtype).type]
    assert t.cost == pytest.approx(cost, rel=rtol)
    assert_close(t.gradient, grad, dtype)
    offsets = reference.layer_offsets(list(net.sizes))
    for i, lt in enumerate(t.layers):
        assert_close(lt.z, zs[i], dtype)
        assert_close(lt.a, acts[i + 1], dtype)
        assert_close(lt.a_prev, acts[i], dtype)
        n_in = net.sizes[i]
        bias_idx = [offsets[i] + j * (n_in + 1) for j in range(net.sizes[i + 1])]
        assert_close(lt.delta, [grad[i] for i in bias_idx], dtype)
        assert lt.param_index(1, None) == bias_idx[1]
        if lt.act_prime is not None:
            expect = [reference.activation_prime(lt.activation, a) for a in acts[i + 1]]
            assert_close(lt.act_prime, expect, dtype)
            # the chain rule, node by node: dC/dz = dC/da * act'(z)
            assert_close(lt.delta, lt.dC_da * lt.act_prime, dtype)
    # hidden dC/da: the gradients flowing back from every neuron above add up
    W2 = reference.Network([2, 3, 2], seed=0)
    W2.params = params64
    top = t.layers[1]
    expect = [sum(W2.weights[1][j][k] * grad[offsets[1] + j * 4] for j in range(2))
              for k in range(3)]
    assert_close(t.layers[0].dC_da, expect, dtype)
    np.testing.assert_allclose(t.output, net.predict([x])[0], rtol=rtol)
    assert top.a is t.output


def test_trace_does_not_change_the_network():
    net = nncore.Network([2, 3, 2], seed=1)
    before = net.params.copy()
    t = trace(net, [0.1, 0.2], [0.0, 1.0])
    np.testing.assert_array_equal(net.params, before)
    np.testing.assert_array_equal(t.params, before)
    t.params[0] = 99.0
    assert net.params[0] == before[0]


def test_trace_elides_long_tables():
    net = nncore.Network([30, 50, 2], seed=0)
    t = trace(net, np.linspace(0, 1, 30), [1.0, 0.0])
    text = t.format(max_rows=10)
    assert "\n    ...\n" in text
    assert "w_0 " in text and f"w_{net.n_params - 1}" in text
    assert len(t.format(max_rows=None).splitlines()) > len(text.splitlines())


# ------------------------------------------------------------ to_dot / render

def test_to_dot_draws_the_lecture_neuron():
    dot = trace(lecture_neuron(), X1, Y1).to_dot()
    assert dot.startswith("digraph backprop {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    assert dot.count('"') % 2 == 0
    # one forward and one backward edge per weight, and per output to the cost
    assert dot.count("->") == 2 * 3 + 2
    assert dot.count(", color=red") == 3 + 1
    for piece in ["x_0 = 4", "z = 3", "a = 0.9526", "dC/dz = -0.004285", "w_1 = -1",
                  "dC/dw_1 = -0.01714", "dC/dy~_0 = -0.09485", "C = 0.002249"]:
        assert piece in dot, piece
    # every node referenced by an edge is declared
    declared = set(re.findall(r"^\s+(\w+) \[", dot, flags=re.M))
    for a, b in re.findall(r"(\w+) -> (\w+)", dot):
        assert a in declared and b in declared


def test_to_dot_of_a_bigger_network_and_its_limit():
    net = nncore.Network([2, 3, 2], seed=0)
    dot = trace(net, [0.5, -0.5], [1.0, 0.0]).to_dot()
    assert dot.count("->") == 2 * (2 * 3 + 3 * 2 + 2)
    assert "subgraph cluster_2" in dot
    big = nncore.Network([100, 30, 10], seed=0)
    with pytest.raises(ValueError, match="edges"):
        trace(big, np.zeros(100), np.zeros(10)).to_dot()


def test_graphviz_is_imported_lazily():
    code = ("import sys, nncore; from nncore import explain; "
            "explain.trace(nncore.Network([2, 1], seed=0), [0.0, 1.0], 1.0).to_dot(); "
            "assert 'graphviz' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_render_without_graphviz_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz -> ImportError
    assert not explain.can_render()
    with pytest.raises(ImportError, match="pip install graphviz"):
        trace(lecture_neuron(), X1, Y1).render(tmp_path / "neuron.png")


def test_render_hands_the_dot_source_to_graphviz(monkeypatch, tmp_path):
    calls = []

    class Source:
        def __init__(self, text):
            calls.append(text)

        def pipe(self, format):
            calls.append(format)
            return b"picture"

    monkeypatch.setitem(sys.modules, "graphviz", types.SimpleNamespace(Source=Source))
    monkeypatch.setattr(explain.shutil, "which", lambda name: "/usr/bin/" + name)
    t = trace(lecture_neuron(), X1, Y1)
    out = t.render(tmp_path / "neuron.svg")
    assert out.read_bytes() == b"picture"
    assert calls == [t.to_dot(), "svg"]
    t.render(tmp_path / "neuron")
    assert calls[-1] == "png"
    monkeypatch.setattr(explain.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="dot"):
        t.render(tmp_path / "x.png")


@pytest.mark.skipif(not explain.can_render(), reason="graphviz package or dot not installed")
def test_render_png(tmp_path):
    out = trace(lecture_neuron(), X1, Y1).render(tmp_path / "neuron.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------ per-example gradients

@pytest.mark.parametrize("act, out, loss", TRACE_CONFIGS)
def test_per_sample_gradients_average_to_the_gradient(act, out, loss):
    rng = np.random.default_rng(11)
    net = nncore.Network([4, 5, 3], activation=act, output=out, loss=loss, seed=2)
    X = rng.normal(size=(700, 4))  # more rows than one kernel chunk
    Y = one_hot(rng.integers(0, 3, 700), 3) if out == "softmax" \
        else rng.uniform(size=(700, 3))
    G = net.per_sample_gradients(X, Y)
    assert G.shape == (700, net.n_params)
    g = net.gradient(X, Y)
    assert np.abs(G.mean(axis=0) - g).max() <= 1e-12 * np.abs(g).max()
    ref = reference.Network([4, 5, 3], activation=act, output=out, loss=loss, seed=2)
    ref.params = net.params.tolist()
    assert_close(G[:5], ref.per_sample_gradients(X[:5].tolist(), Y[:5].tolist()), np.float64)


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def test_gradient_table_of_the_231_network():
    net = nncore.Network([2, 3, 1], seed=0)
    table = gradient_table(net, XOR_X, XOR_Y)
    assert table.labels == ["0", "1", "1", "0"]
    assert table.per_example.shape == (4, 13)
    np.testing.assert_allclose(table.per_example, net.per_sample_gradients(XOR_X, XOR_Y))
    np.testing.assert_allclose(table.average, net.gradient(XOR_X, XOR_Y), rtol=1e-12,
                               atol=1e-17)
    lines = str(table).splitlines()
    header = lines[1].split()
    assert header == ["0", "1", "1", "0", "average"]
    rows = [ln.split() for ln in lines[2:-1]]
    assert [r[0] for r in rows] == [f"w_{i}" for i in range(13)]
    for i, r in enumerate(rows):
        assert float(r[-1]) == pytest.approx(table.average[i], rel=1e-3, abs=1e-12)
        assert [float(v) for v in r[1:-1]] == pytest.approx(table.per_example[:, i], rel=1e-3,
                                                            abs=1e-12)


def test_gradient_table_columns_rows_and_labels():
    rng = np.random.default_rng(0)
    net = nncore.Network([5, 4, 3], output="softmax", loss="cross_entropy", seed=0)
    y = rng.integers(0, 3, 20)
    X = rng.normal(size=(20, 5))
    Y = one_hot(y, 3)
    table = gradient_table(net, X, Y, examples=6, rows=6)
    assert table.labels == [str(v) for v in y[:6]]
    text = str(table)
    header = text.splitlines()[1].split()
    assert header == [str(v) for v in y[:6]] + ["...", "average"]
    names = [ln.split()[0] for ln in text.splitlines()[2:-1]]
    assert names == ["w_0", "w_1", "w_2", "...", "w_36", "w_37", "w_38"]
    np.testing.assert_allclose(table.average, net.gradient(X, Y), rtol=1e-12, atol=1e-17)
    picked = str(gradient_table(net, X, Y, examples=2, rows=[3, 4, 10]))
    names = [ln.split()[0] for ln in picked.splitlines()[2:-1]]
    assert names == ["...", "w_3", "w_4", "...", "w_10", "..."]
    every = str(gradient_table(net, X, Y, examples=None, rows=None, labels=list("abcdefghij")
                               + list("klmnopqrst")))
    assert every.splitlines()[1].split() == list("abcdefghijklmnopqrst") + ["average"]
    assert len(every.splitlines()) == 1 + 1 + net.n_params + 1
    # targets that are not one-hot: the row number heads the column
    assert gradient_table(net, X, Y * 0.5, examples=2).labels == ["#0", "#1"]
    assert gradient_table(net, X, Y, examples=50).per_example.shape == (20, net.n_params)
    for bad in [dict(examples=0), dict(rows=0), dict(rows=[99]), dict(labels=["a"])]:
        with pytest.raises(ValueError):
            gradient_table(net, X, Y, **bad)


def test_gradient_table_averages_in_chunks(monkeypatch):
    """The average runs over all samples, also when they take several chunks."""
    net = nncore.Network([784, 16, 16, 10], seed=0)
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(400, 784))
    Y = one_hot(rng.integers(0, 10, 400), 10)
    table = gradient_table(net, X, Y, rows=4)
    assert net.n_params == 13002
    g = net.gradient(X, Y)
    assert np.abs(table.average - g).max() <= 1e-12 * np.abs(g).max()
    assert "w_13001" in str(table)


# ------------------------------------------------------------ gradcheck

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
OUTPUT_LOSS = [("sigmoid", "mse"), ("identity", "mse"), ("softmax", "mse"),
               ("sigmoid", "cross_entropy"), ("softmax", "cross_entropy")]


def _away_from_kinks(net, X, margin=1e-3):
    """Smallest |z| of the hidden layers over the samples (relu's kink is at 0)."""
    params = net.params.tolist()
    return min(abs(z) for x in X.tolist()
               for zl in reference.forward(params, net.sizes, net.activations, x)[0][:-1]
               for z in zl)


@pytest.mark.parametrize("output, loss", OUTPUT_LOSS, ids=lambda v: v)
@pytest.mark.parametrize("act", HIDDEN)
def test_gradcheck_passes_for_every_combination(act, output, loss):
    rng = np.random.default_rng(HIDDEN.index(act) * 10 + OUTPUT_LOSS.index((output, loss)))
    net = nncore.Network([3, 4, 3, 2], activation=act, output=output, loss=loss, seed=5)
    net.params = rng.normal(0, 0.7, net.n_params)
    X = rng.normal(size=(5, 3))
    if output == "softmax":
        Y = one_hot(rng.integers(0, 2, 5), 2)
    elif output == "sigmoid":
        Y = rng.uniform(size=(5, 2))
    else:
        Y = rng.normal(size=(5, 2))
    if act in ("relu", "leaky_relu"):
        assert _away_from_kinks(net, X) > 1e-3
    err = gradcheck(net, X, Y)
    assert 0 <= err < GRADCHECK_THRESHOLD


def test_gradcheck_of_a_float32_network_runs_in_float64():
    net = nncore.Network([3, 4, 2], dtype="float32", seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    Y = np.random.default_rng(1).uniform(size=(4, 2))
    before = net.params.copy()
    assert gradcheck(net, X, Y) < GRADCHECK_THRESHOLD
    np.testing.assert_array_equal(net.params, before)
    assert net.dtype == np.float32


def test_gradcheck_finds_a_wrong_gradient(monkeypatch):
    net = nncore.Network([3, 4, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(4, 3))
    Y = np.random.default_rng(1).uniform(size=(4, 2))
    right = nncore.Network.gradient

    def wrong(self, X, Y, sample_weight=None):
        g = right(self, X, Y, sample_weight)
        g[7] *= 1.01
        return g

    monkeypatch.setattr(nncore.Network, "gradient", wrong)
    assert gradcheck(net, X, Y) > 1e-4
    assert gradcheck(net, X, Y, indices=[0, 1, 2]) < GRADCHECK_THRESHOLD
    assert gradcheck(net, X, Y, indices=[7]) > 1e-4
    with pytest.raises(ValueError):
        gradcheck(net, X, Y, eps=0.0)


def test_gradcheck_of_the_lecture_neuron():
    assert gradcheck(lecture_neuron(), [X1], [Y1]) < GRADCHECK_THRESHOLD
    assert GRADCHECK_THRESHOLD == 1e-6

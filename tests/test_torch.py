"""nncore.torch: to_torch computes predict, from_torch reads modules back bit for bit.

Tolerance: conftest's ``assert_close`` (relative to the scale of the expected
array; float64 1e-12, float32 1e-5).  PyTorch runs the same float operations
as the compiled kernels through its own GEMM and exp/tanh, in another order,
so the outputs differ by a few ulps per layer, far below these bounds.
Parameters moved between the two must agree exactly.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import assert_close, run_python  # noqa: E402
from torch import nn  # noqa: E402

import nncore  # noqa: E402
import nncore.torch  # noqa: E402
from nncore.activations import HIDDEN, LEAKY_SLOPE  # noqa: E402
from nncore.torch import from_torch, to_torch  # noqa: E402

OUTPUT_LOSSES = [("sigmoid", "mse"), ("sigmoid", "cross_entropy"), ("identity", "mse"),
                 ("softmax", "mse"), ("softmax", "cross_entropy")]
MODULE_OF = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
             "leaky_relu": nn.LeakyReLU, "identity": nn.Identity, "softmax": nn.Softmax}


def random_network(sizes, rng, dtype, **kwargs):
    """A network whose weights leave every unit unsaturated on N(0, 1) inputs."""
    net = nncore.Network(sizes, dtype=dtype, seed=0, **kwargs)
    for W, b in zip(net.weights, net.biases):
        W[...] = rng.normal(size=W.shape) * 1.5 / np.sqrt(W.shape[1])
        b[...] = rng.normal(size=b.shape) * 0.5
    return net


def forward(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- to_torch


@pytest.mark.parametrize("output, loss", OUTPUT_LOSSES)
@pytest.mark.parametrize("activation", HIDDEN)
def test_to_torch_computes_predict(activation, output, loss, dtype, rng):
    net = random_network([5, 8, 7, 4], rng, dtype, activation=activation, output=output,
                         loss=loss)
    module = to_torch(net)
    assert [type(m) for m in module] == [
        nn.Linear, MODULE_OF[activation], nn.Linear, MODULE_OF[activation], nn.Linear,
        MODULE_OF[output]]
    assert {p.dtype for p in module.parameters()} == {
        torch.float64 if dtype == np.float64 else torch.float32}
    X = rng.normal(size=(64, 5)).astype(dtype)
    got = forward(module, X)
    assert got.dtype == dtype
    assert_close(got, net.predict(X), dtype)


def test_module_settings_match_nncore(rng):
    net = random_network([3, 4, 2], rng, np.float64, activation="leaky_relu",
                         output="softmax")
    module = to_torch(net)
    assert module[1].negative_slope == LEAKY_SLOPE == 0.01
    assert module[3].dim == -1


def test_leaky_relu_on_both_sides_of_zero(dtype):
    net = nncore.Network([1, 1, 1], activation="leaky_relu", output="identity", dtype=dtype)
    net.params = [0.0, 1.0, 0.0, 1.0]
    X = np.array([[-3.0], [-1e-3], [0.0], [2.0]], dtype=dtype)
    assert_close(forward(to_torch(net), X), net.predict(X), dtype)


def test_module_holds_copies(rng):
    net = random_network([3, 4, 2], rng, np.float64)
    before = net.params.copy()
    module = to_torch(net)
    assert same_bits(module[0].weight.detach().numpy(), net.weights[0])
    assert same_bits(module[2].bias.detach().numpy(), net.biases[1])
    with torch.no_grad():
        module[0].weight.add_(1.0)
    assert same_bits(net.params, before)
    net.params += 1.0
    assert not np.array_equal(module[2].bias.detach().numpy(), net.biases[1])


def test_autograd_gradient_equals_nncore_gradient(dtype, rng):
    # the module's parameters are the network's: the lecture's MSE (summed over
    # outputs, averaged over samples) has the same gradient in both
    net = random_network([4, 6, 3], rng, dtype, activation="tanh")
    X = rng.normal(size=(20, 4)).astype(dtype)
    Y = rng.uniform(size=(20, 3)).astype(dtype)
    module = to_torch(net)
    loss = ((module(torch.from_numpy(X)) - torch.from_numpy(Y)) ** 2).sum(dim=1).mean()
    loss.backward()
    grads = [torch.cat([lin.bias.grad[:, None], lin.weight.grad], dim=1).reshape(-1)
             for lin in (module[0], module[2])]
    assert_close(torch.cat(grads).numpy(), net.gradient(X, Y), dtype)


def test_to_torch_refuses_other_objects():
    with pytest.raises(TypeError, match="to_torch converts an nncore.Network"):
        to_torch(nn.Linear(2, 1))

    class Fitted:
        network_ = None

    with pytest.raises(TypeError, match="network_"):
        to_torch(Fitted())


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("output, loss", OUTPUT_LOSSES)
@pytest.mark.parametrize("activation", [list(HIDDEN), ["relu", "identity", "leaky_relu"]],
                         ids=["each-hidden", "mixed"])
def test_round_trip_keeps_every_bit(activation, output, loss, dtype, rng):
    sizes = [6, *range(5 + len(activation), 5, -1), 2]  # one hidden layer per name
    net = random_network(sizes, rng, dtype, activation=activation, output=output, loss=loss)
    back = from_torch(to_torch(net), loss=loss)
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.loss_function == loss and back.dtype == net.dtype
    assert same_bits(back.params, net.params)


def test_round_trip_without_hidden_layers(dtype, rng):
    net = random_network([3, 2], rng, dtype, output="softmax")
    assert same_bits(from_torch(to_torch(net)).params, net.params)


def test_seed_is_passed_on():
    net = from_torch(nn.Sequential(nn.Linear(2, 1)), seed=7)
    assert net.seed == 7


# ---------------------------------------------------------------- from_torch


@pytest.mark.parametrize("dtype_torch", [torch.float64, torch.float32])
def test_from_torch_reads_a_hand_written_module(dtype_torch):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 6), nn.Tanh(),
                           nn.Linear(6, 3), nn.Softmax(dim=1)).to(dtype_torch)
    net = from_torch(module, loss="cross_entropy")
    assert list(net.sizes) == [4, 8, 6, 3]
    assert net.activations == ["relu", "tanh", "softmax"]
    assert net.loss_function == "cross_entropy"
    dtype = np.float64 if dtype_torch == torch.float64 else np.float32
    assert net.dtype == dtype
    for l, lin in enumerate(module[::2]):
        assert same_bits(net.weights[l], lin.weight.detach().numpy())
        assert same_bits(net.biases[l], lin.bias.detach().numpy())
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(dtype)
    assert_close(net.predict(X), forward(module, X), dtype)


def test_missing_last_activation_is_identity():
    net = from_torch(nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2)))
    assert net.activations == ["sigmoid", "identity"] and net.loss_function == "mse"


def test_loss_must_suit_the_output():
    with pytest.raises(ValueError, match="cross_entropy"):
        from_torch(nn.Sequential(nn.Linear(3, 2)), loss="cross_entropy")


def unsupported_cases():
    mixed = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    mixed[2].double()
    return {
        "dropout": (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 1)),
                    r"module 2 \(Dropout"),
        "conv": (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), r"module 0 \(Conv2d"),
        "no-bias": (nn.Sequential(nn.Linear(3, 4, bias=False), nn.Sigmoid()),
                    "without bias"),
        "consecutive-linear": (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1)),
                               r"module 1 \(Linear.*two Linear layers in a row"),
        "mixed-dtypes": (mixed, "one dtype for every parameter.*float32.*float64"),
        "float16": (nn.Sequential(nn.Linear(3, 1)).half(), "float32 or float64"),
        "other-slope": (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1)),
                        r"LeakyReLU\(negative_slope=0.2\)"),
        "softmax-dim-0": (nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=0)), "dim=0"),
        "tanh-output": (nn.Sequential(nn.Linear(3, 2), nn.Tanh()),
                        "tanh cannot be the activation of the output"),
        "softmax-hidden": (nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=-1), nn.Linear(4, 1)),
                           "softmax cannot be the activation of a hidden layer"),
        "activation-first": (nn.Sequential(nn.ReLU(), nn.Linear(3, 1)),
                             "before the first Linear"),
        "two-activations": (nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Identity()),
                            r"module 2 \(Identity.*two activations in a row"),
        "shapes": (nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)),
                   "in_features=5 but the layer before has out_features=4"),
        "nested": (nn.Sequential(nn.Sequential(nn.Linear(3, 1))), r"module 0 \(Sequential"),
        "empty": (nn.Sequential(), "at least one Linear"),
    }


@pytest.mark.parametrize("case", list(unsupported_cases()))
def test_unsupported_modules_are_named(case):
    module, message = unsupported_cases()[case]
    with pytest.raises(ValueError, match=message):
        from_torch(module)


def test_from_torch_needs_a_sequential():
    with pytest.raises(TypeError, match="torch.nn.Sequential, not Linear"):
        from_torch(nn.Linear(3, 1))


# ---------------------------------------------------------------- imports


def test_the_module_imports_pytorch_itself():
    # nncore/torch.py is named like the package it wraps: its own `import torch`
    # and the user's must both reach PyTorch
    out = run_python("import nncore.torch, torch\n"
                 "assert nncore.torch.torch is torch and torch.nn.Linear\n"
                 "assert nncore.torch.__name__ == 'nncore.torch'\n"
                 "print(torch.__file__)\n")
    assert "nncore" not in out
    assert nncore.torch.torch is torch and nncore.torch.nn is nn


def test_without_pytorch_the_module_says_what_to_install():
    out = run_python("try:\n"
                 "    import nncore.torch\n"
                 "except ModuleNotFoundError as exc:\n"
                 "    print(exc.name, '|', exc)\n", absent=["torch"])
    assert out.startswith("torch |") and 'pip install "nncore[torch]"' in out


def test_docstring_examples():
    import doctest

    result = doctest.testmod(nncore.torch)
    assert result.attempted >= 3 and result.failed == 0


def test_exp_outputs_have_no_module():
    net = nncore.Network([3, 2], output="exp", loss="poisson", seed=0)
    with pytest.raises(ValueError, match="no module for 'exp'"):
        to_torch(net)

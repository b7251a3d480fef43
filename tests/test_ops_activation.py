"""nn.functional activations and softmax / log_softmax against PyTorch, including large inputs."""
import numpy as np
import pytest

from oracle import check, rand


def F(lib):
    return lib.nn.functional


ACTIVATIONS = {
    "sigmoid": lambda lib, x: F(lib).sigmoid(x),
    "tanh": lambda lib, x: F(lib).tanh(x),
    "relu": lambda lib, x: F(lib).relu(x),
    "leaky_relu": lambda lib, x: F(lib).leaky_relu(x),
    "leaky_relu_slope": lambda lib, x: F(lib).leaky_relu(x, 0.2),
    "gelu": lambda lib, x: F(lib).gelu(x),
    "gelu_tanh": lambda lib, x: F(lib).gelu(x, approximate="tanh"),
    "softplus": lambda lib, x: F(lib).softplus(x),
    "softplus_beta": lambda lib, x: F(lib).softplus(x, beta=2.0, threshold=3.0),
    "silu": lambda lib, x: F(lib).silu(x),
    "elu": lambda lib, x: F(lib).elu(x),
    "hardtanh": lambda lib, x: F(lib).hardtanh(x),
    "relu6": lambda lib, x: F(lib).relu6(x * 4),
    "mish": lambda lib, x: F(lib).mish(x),
    "logsigmoid": lambda lib, x: F(lib).logsigmoid(x),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(name):
    x = rand(3, 5, seed=9, low=-4.0, high=4.0, away_from=0.0)
    x[np.abs(np.abs(x) - 1.0) < 0.05] = 0.5   # away from hardtanh's kinks
    check(ACTIVATIONS[name], [x])


def test_activations_on_extreme_inputs():
    x = np.array([-1000.0, -50.0, -20.0, 0.5, 20.0, 50.0, 1000.0])
    for name in ("sigmoid", "tanh", "softplus", "silu", "gelu", "logsigmoid"):
        check(ACTIVATIONS[name], [x.copy()])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax(fn, dim):
    check(lambda lib, x: getattr(F(lib), fn)(x, dim=dim), [(3, 4)])
    check(lambda lib, x: getattr(x, fn)(dim), [(2, 3, 4)])
    check(lambda lib, x: getattr(lib, fn)(x, dim), [(2, 3, 4)])


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_softmax_stable_for_large_inputs(fn):
    x = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0], [-1000.0, -1000.0, -999.0]])
    cr, th = check(lambda lib, a: getattr(F(lib), fn)(a, dim=1), [x])
    assert np.isfinite(cr.detach().numpy()).all()


def test_softmax_float32():
    check(lambda lib, x: F(lib).softmax(x.float() * 100, dim=-1), [(4, 6)], rtol=1e-5, atol=1e-6)
    check(lambda lib, x: F(lib).log_softmax(x.float(), dim=0), [(4, 6)], rtol=1e-5, atol=1e-6)

"""nn.init and the layers' default initialisation, checked statistically against PyTorch's formulas
(the random streams differ, so the distributions are compared, not the numbers)."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from chainrule.nn import init  # noqa: E402


def uniform_check(values, bound):
    """All samples inside [-bound, bound], mean ≈ 0 and std ≈ bound/√3 (the uniform distribution's)."""
    values = np.asarray(values).ravel()
    assert np.all(np.abs(values) <= bound)
    n = values.size
    assert abs(values.mean()) < 4 * bound / math.sqrt(3 * n)
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert values.max() > 0.95 * bound and values.min() < -0.95 * bound   # the whole range is used


def normal_check(values, std):
    values = np.asarray(values).ravel()
    assert abs(values.mean()) < 4 * std / math.sqrt(values.size)
    assert abs(values.std() - std) < 0.03 * std


@pytest.mark.parametrize("fan_in,fan_out", [(64, 200), (300, 40), (10, 1000)])
def test_linear_default_init_has_torch_bounds(fan_in, fan_out):
    cr.manual_seed(0)
    lin = cr.nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    uniform_check(lin.weight.detach().numpy(), bound)
    assert np.all(np.abs(lin.bias.detach().numpy()) <= bound)
    # The same bound as PyTorch's own Linear:
    th = torch.nn.Linear(fan_in, fan_out)
    assert th.weight.abs().max().item() <= bound and th.weight.abs().max().item() > 0.95 * bound


def test_fans_and_gain_match_torch():
    for shape in [(3, 4), (8, 3, 5), (6, 2, 3, 3)]:
        assert init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                        ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(cr.empty(5))


def test_fan_based_inits():
    cr.manual_seed(1)
    w = cr.empty(200, 300)
    init.xavier_uniform_(w, gain=2.0)
    uniform_check(w.numpy(), 2.0 * math.sqrt(6 / 500))
    init.xavier_normal_(w)
    normal_check(w.numpy(), math.sqrt(2 / 500))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    uniform_check(w.numpy(), math.sqrt(2) * math.sqrt(3 / 200))
    init.kaiming_normal_(w, a=0.1)
    normal_check(w.numpy(), math.sqrt(2 / (1 + 0.01)) / math.sqrt(300))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(w, mode="fan_avg")


def test_simple_inits_and_no_grad():
    w = cr.nn.Parameter(cr.empty(100, 100))
    assert init.uniform_(w, -0.5, 2.0) is w and w.requires_grad and w.grad_fn is None
    assert w.detach().numpy().min() >= -0.5 and w.detach().numpy().max() < 2.0
    normal_check(init.normal_(w, 1.0, 0.5).detach().numpy() - 1.0, 0.5)
    assert np.all(init.constant_(w, 0.3).detach().numpy() == np.float32(0.3))
    assert np.all(init.ones_(w).detach().numpy() == 1) and np.all(init.zeros_(w).detach().numpy() == 0)
    np.testing.assert_array_equal(init.eye_(cr.empty(2, 3)).numpy(), np.eye(2, 3))
    t = init.trunc_normal_(cr.empty(10000), mean=0.5, std=1.0, a=-0.5, b=1.0).numpy()
    assert t.min() >= -0.5 and t.max() <= 1.0 and t.std() > 0.3
    q = init.orthogonal_(cr.empty(4, 6), gain=2.0).numpy().astype(np.float64)
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(4), atol=1e-5)
    d = init.dirac_(cr.empty(2, 2, 3)).numpy()
    np.testing.assert_array_equal(d, torch.nn.init.dirac_(torch.empty(2, 2, 3)).numpy())


def test_init_uses_global_generator():
    cr.manual_seed(5)
    a = cr.nn.Linear(3, 3).weight.detach().numpy().copy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(a, cr.nn.Linear(3, 3).weight.detach().numpy())

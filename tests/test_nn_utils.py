"""nn.utils against PyTorch: gradient clipping (norms of every type) and parameter/vector conversion."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from oracle import assert_same  # noqa: E402


def params_with_grads(lib, scale=1.0):
    rng = np.random.default_rng(0)
    ps = []
    for shape in [(3, 4), (4,), (2, 2, 2)]:
        p = lib.tensor(rng.standard_normal(shape), requires_grad=True)
        p.grad = lib.tensor(rng.standard_normal(shape) * scale)
        ps.append(p)
    nograd = lib.tensor(rng.standard_normal(3), requires_grad=True)   # no .grad: skipped
    return ps + [nograd]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    mine, th = params_with_grads(cr), params_with_grads(torch)
    total_c = cr.nn.utils.clip_grad_norm_(mine, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(th, max_norm, norm_type)
    assert_same(total_c, total_t, "total norm")
    for c, t in zip(mine[:3], th[:3]):
        assert_same(c.grad, t.grad, "clipped grad")


def test_clip_grad_norm_single_tensor_and_nonfinite():
    p = cr.tensor([3.0, 4.0], requires_grad=True)
    p.grad = cr.tensor([3.0, 4.0])
    assert cr.nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    p.grad = cr.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        cr.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert cr.nn.utils.clip_grad_norm_([cr.zeros(2, requires_grad=True)], 1.0).item() == 0.0


def test_clip_grad_value_matches_torch():
    mine, th = params_with_grads(cr), params_with_grads(torch)
    cr.nn.utils.clip_grad_value_(mine, 0.7)
    torch.nn.utils.clip_grad_value_(th, 0.7)
    for c, t in zip(mine[:3], th[:3]):
        assert_same(c.grad, t.grad)


def test_parameters_to_vector_and_back():
    mine = cr.nn.Linear(3, 2).double()
    th = torch.nn.Linear(3, 2).double()
    mine.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in th.state_dict().items()})
    v_c = cr.nn.utils.parameters_to_vector(mine.parameters())
    v_t = torch.nn.utils.parameters_to_vector(th.parameters())
    assert_same(v_c, v_t)
    (v_c ** 2).sum().backward()
    assert_same(mine.weight.grad, 2 * th.weight.detach())
    new = np.arange(8, dtype=np.float64)
    cr.nn.utils.vector_to_parameters(cr.tensor(new), mine.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), th.parameters())
    assert_same(mine.weight, th.weight)
    assert_same(mine.bias, th.bias)
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        cr.nn.utils.vector_to_parameters([1.0], mine.parameters())
    with pytest.raises(RuntimeError, match="8 elements"):
        cr.nn.utils.vector_to_parameters(cr.zeros(5), mine.parameters())

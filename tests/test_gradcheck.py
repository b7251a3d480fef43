"""Finite differences as the oracle: gradcheck and gradgradcheck over the op set (float64, small
shapes, inputs away from kinks), and gradcheck catching a deliberately wrong backward."""
import numpy as np
import pytest

import chainrule
from chainrule.autograd import GradcheckError, gradcheck, gradgradcheck


def leaf(*shape, low=-1.5, high=1.5, seed=0, away_from=None):
    a = np.random.default_rng(seed).uniform(low, high, size=shape)
    if away_from is not None:
        a[np.abs(a - away_from) < 0.2] = away_from + 0.5
    return chainrule.tensor(a, requires_grad=True)


F = chainrule.nn.functional
IDX = chainrule.tensor([[0, 2, 2], [1, 0, 1]])

# name -> (function, inputs). Every op's backward rule, and that rule's own derivative.
OPS = {
    "add_bcast": (lambda a, b: a + b, lambda: (leaf(3, 1), leaf(1, 4, seed=1))),
    "sub_bcast": (lambda a, b: a - b, lambda: (leaf(4), leaf(2, 3, 4, seed=1))),
    "mul_bcast": (lambda a, b: a * b, lambda: (leaf(3, 1), leaf(1, 4, seed=1))),
    "div": (lambda a, b: a / b, lambda: (leaf(3, 4), leaf(4, low=0.5, high=2.0, seed=1))),
    "pow_scalar": (lambda a: a ** 3, lambda: (leaf(5),)),
    "pow_tensor": (lambda a, b: a ** b, lambda: (leaf(3, low=0.5, high=2.0), leaf(3, seed=1))),
    "neg_abs": (lambda a: (-a).abs(), lambda: (leaf(5, away_from=0.0),)),
    "exp_log": (lambda a: a.exp() + (a * a + 1).log(), lambda: (leaf(4),)),
    "sqrt": (lambda a: a.sqrt(), lambda: (leaf(4, low=0.3, high=2.0),)),
    "sin_cos_tanh": (lambda a: a.sin() * a.cos() + a.tanh(), lambda: (leaf(5),)),
    "sigmoid_relu": (lambda a: a.sigmoid() + a.relu(), lambda: (leaf(5, away_from=0.0),)),
    "max_min_elementwise": (lambda a, b: chainrule.maximum(a, b) * chainrule.minimum(a, b),
                            lambda: (leaf(4), leaf(4, seed=3))),
    "clamp": (lambda a: a.clamp(-0.5, 0.5) * a, lambda: (leaf(6, seed=2),)),
    "where": (lambda a, b: chainrule.where(a > 0, a * b, b.exp()), lambda: (leaf(5, away_from=0.0), leaf(5, seed=1))),
    "sum_mean": (lambda a: a.sum(0) * a.mean((0, 1), keepdim=True), lambda: (leaf(2, 3),)),
    "var_std": (lambda a: a.var(1).sum() + a.std(0), lambda: (leaf(3, 4),)),
    "amax_amin": (lambda a: a.amax(1) - a.amin(0).sum(), lambda: (leaf(3, 4),)),
    "max_dim": (lambda a: a.max(1).values * a.min(0, keepdim=True).values.sum(), lambda: (leaf(3, 4),)),
    "prod": (lambda a: a.prod(1), lambda: (leaf(3, 4, low=0.5, high=1.5),)),
    "logsumexp": (lambda a: a.logsumexp(1), lambda: (leaf(3, 4),)),
    "matmul_batched": (lambda a, b: a @ b, lambda: (leaf(2, 1, 2, 3), leaf(3, 3, 2, seed=1))),
    "matmul_vec": (lambda a, b: a @ b, lambda: (leaf(3), leaf(2, 3, 2, seed=1))),
    "shape_ops": (lambda a: a.transpose(0, 1).reshape(6).unsqueeze(0).expand(2, 6).flip(1) ** 2,
                  lambda: (leaf(2, 3),)),
    "repeat_permute": (lambda a: a.repeat(2, 1, 2).permute(2, 0, 1) ** 2, lambda: (leaf(2, 3),)),
    "cat_stack_split": (lambda a, b: chainrule.stack(chainrule.cat([a, b], 1).split(2, 1), 0) ** 2,
                        lambda: (leaf(2, 3), leaf(2, 1, seed=1))),
    "chunk": (lambda a: a.chunk(2, 1)[1] ** 2, lambda: (leaf(2, 4),)),
    "index": (lambda a: a[[0, 1, 1], 1:] ** 2 + a[..., None, 0].sum(), lambda: (leaf(2, 3),)),
    "mask_index": (lambda a: a[a > 0] ** 2, lambda: (leaf(3, 3, away_from=0.0),)),
    "gather": (lambda a: a.gather(1, IDX) ** 2, lambda: (leaf(2, 3),)),
    "index_select": (lambda a: a.index_select(1, chainrule.tensor([2, 2, 0])) ** 2, lambda: (leaf(2, 3),)),
    "masked_fill": (lambda a: a.masked_fill(a > 0, 0.5) ** 2, lambda: (leaf(2, 3, away_from=0.0),)),
    "softmax": (lambda a: F.softmax(a, dim=1), lambda: (leaf(2, 4),)),
    "log_softmax": (lambda a: F.log_softmax(a, dim=0), lambda: (leaf(3, 2),)),
    "gelu_silu_softplus": (lambda a: F.gelu(a) + F.silu(a) + F.softplus(a) + F.gelu(a, approximate="tanh"),
                           lambda: (leaf(5),)),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.1) ** 2, lambda: (leaf(5, away_from=0.0),)),
}


@pytest.mark.parametrize("name", OPS)
def test_gradcheck(name):
    fn, make = OPS[name]
    assert gradcheck(fn, make())


@pytest.mark.parametrize("name", OPS)
def test_gradgradcheck(name):
    fn, make = OPS[name]
    assert gradgradcheck(fn, make())


class WrongMSE(chainrule.autograd.Function):
    """MSE loss 0.5·sum((p - y)²) whose backward uses the cross-entropy-with-softmax gradient by
    mistake (softmax(p) - y instead of p - y): the essay's slip."""

    @staticmethod
    def forward(ctx, p, y):
        ctx.save_for_backward(p, y)
        return ((p - y) ** 2).sum() * 0.5

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved_tensors
        return g * (p.softmax(-1) - y), None


class RightMSE(WrongMSE):
    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved_tensors
        return g * (p - y), None


def test_gradcheck_catches_wrong_backward():
    p, y = leaf(4), chainrule.tensor([0.0, 1.0, 0.0, 0.0], dtype=chainrule.float64)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(WrongMSE.apply, (p, y))
    assert gradcheck(WrongMSE.apply, (p, y), raise_exception=False) is False
    assert gradcheck(RightMSE.apply, (p, y))


def test_gradcheck_requires_a_differentiable_input():
    with pytest.raises(ValueError):
        gradcheck(lambda a: a * 2, (chainrule.ones(2, dtype=chainrule.float64),))


@pytest.mark.parametrize("values", [[[1.5, 0.0, 2.0], [3.0, -1.0, 0.5]], [[0.0, 0.0, 2.0], [3.0, -1.0, 0.5]]],
                         ids=["one_zero", "two_zeros"])
@pytest.mark.parametrize("fn", [lambda a: a.prod(1), lambda a: a.prod(), lambda a: a.prod(0, keepdim=True)],
                         ids=["dim1", "all", "dim0_keepdim"])
def test_gradgradcheck_prod_with_zeros(fn, values):
    assert gradgradcheck(fn, (chainrule.tensor(values, dtype=chainrule.float64, requires_grad=True),))


class CubeDetached(chainrule.autograd.Function):
    """x³ with a backward that is right to first order but detaches x: its own gradient is wrong."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x.detach() ** 2


class Cube(CubeDetached):
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


def test_gradgradcheck_catches_non_differentiable_backward():
    x = leaf(3)
    assert gradcheck(CubeDetached.apply, (x,))          # first order is right
    assert gradgradcheck(CubeDetached.apply, (x,), raise_exception=False) is False
    with pytest.raises(GradcheckError):
        gradgradcheck(CubeDetached.apply, (x,))
    assert gradgradcheck(Cube.apply, (x,))

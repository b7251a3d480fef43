"""Reductions against PyTorch: full, along an int dim, along a tuple of dims, with keepdim; ties."""
import numpy as np
import pytest

from oracle import check, nograd, rand

DIMS = [None, 0, -1, (0, 2), (1,), (-1, 0)]


def _call(method, dim, keepdim, **kw):
    def fn(lib, x):
        if dim is None:
            return getattr(x, method)(**kw)
        return getattr(x, method)(dim, keepdim=keepdim, **kw)
    return fn


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("method", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp", "prod"])
def test_reduction(method, dim, keepdim):
    if method == "logsumexp" and dim is None:
        fn = lambda lib, x: x.logsumexp((0, 1, 2))   # noqa: E731  (dim is required)
    elif method in ("amax", "amin") and dim is None:
        fn = lambda lib, x: getattr(x, method)()   # noqa: E731
    else:
        fn = _call(method, dim, keepdim)
    torch_fn = None
    if method == "prod" and isinstance(dim, tuple):
        # torch.prod takes one dim only: reduce the dims one at a time (highest first).
        def torch_fn(lib, x):
            for d in sorted((d % 3 for d in dim), reverse=True):
                x = x.prod(d, keepdim=keepdim)
            return x
    check(fn, torch_fn=torch_fn, inputs= [rand(2, 3, 4, seed=7, low=0.5, high=1.5) if method == "prod" else rand(2, 3, 4, seed=7)])


def test_sum_mean_of_1d_and_0d():
    check(lambda lib, x: x.sum(), [()])
    check(lambda lib, x: x.mean(), [(5,)])
    check(lambda lib, x: lib.sum(x, 0), [(5,)])
    check(lambda lib, x: lib.mean(x, dim=(0, 1), keepdim=True), [(2, 3)])


def test_var_std_unbiased_and_correction():
    x = rand(3, 5, seed=2)
    check(lambda lib, a: a.var(1, unbiased=False), [x])
    check(lambda lib, a: a.std(0, unbiased=True, keepdim=True), [x])
    check(lambda lib, a: lib.var(a, dim=1, correction=0), [x])
    check(lambda lib, a: a.var(False), [x])


def test_sum_of_int_tensor_is_int64():
    check(lambda lib, a: a.sum(), [nograd(np.array([[1, 2], [3, 4]], dtype=np.int32))], grad=False)
    check(lambda lib, a: a.sum(1), [nograd(np.array([[True, False], [True, True]]))], grad=False)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("method", ["max", "min"])
def test_max_min_along_dim_values_and_indices(method, dim, keepdim):
    out, _ = check(lambda lib, x: getattr(x, method)(dim, keepdim=keepdim), [rand(3, 4, seed=11)])
    assert out._fields == ("values", "indices")
    check(lambda lib, x: getattr(x, method)(dim=dim, keepdim=keepdim).values * 2, [rand(3, 4, seed=11)])


@pytest.mark.parametrize("method", ["max", "min"])
def test_full_max_min(method):
    check(lambda lib, x: getattr(x, method)(), [(3, 4)])
    check(lambda lib, x: getattr(lib, method)(x), [(5,)])


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 5.0, 0.0, 5.0]])


@pytest.mark.parametrize("fn", [
    lambda lib, x: x.amax(),
    lambda lib, x: x.amin(),
    lambda lib, x: x.amax(1),
    lambda lib, x: x.amin(0, keepdim=True),
    lambda lib, x: x.amax((0, 1)),
    lambda lib, x: x.max(),       # full max: ties share the gradient evenly
    lambda lib, x: x.min(),
    lambda lib, x: lib.max(x, 1).values,
    lambda lib, x: lib.min(x, 0).indices,
    lambda lib, x: x.argmax(),
    lambda lib, x: x.argmin(1),
    lambda lib, x: x.argmax(0, keepdim=True),
    lambda lib, x: x.argmin(),
], ids=lambda f: "")
def test_extremes_with_ties(fn):
    check(fn, [TIES.copy()])


def test_argmax_argmin():
    x = rand(3, 4, 5, seed=4)
    for fn in (lambda lib, a: a.argmax(), lambda lib, a: a.argmin(2), lambda lib, a: lib.argmax(a, dim=1, keepdim=True),
               lambda lib, a: a.argmax(dim=-1)):
        check(fn, [x], grad=False)


@pytest.mark.parametrize("x", [
    np.array([[1.5, 0.0, 2.0], [3.0, -1.0, 0.5]]),          # one zero in a row
    np.array([[0.0, 0.0, 2.0], [3.0, -1.0, 0.5]]),          # two zeros in a row
    np.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.5]]),
], ids=["one_zero", "two_zeros", "all_zeros"])
def test_prod_with_zeros(x):
    check(lambda lib, a: a.prod(), [x])
    check(lambda lib, a: a.prod(1), [x])
    check(lambda lib, a: a.prod(0, keepdim=True), [x])


def test_logsumexp_large_values_stable():
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, 0.0, 1.0]])
    check(lambda lib, a: a.logsumexp(1), [x])
    check(lambda lib, a: lib.logsumexp(a, dim=(0, 1), keepdim=True), [x])


def test_norm_and_cumsum():
    check(lambda lib, a: a.norm(), [(3, 4)])
    check(lambda lib, a: a.norm(dim=1), [(3, 4)])
    check(lambda lib, a: a.cumsum(1), [(3, 4)])
    check(lambda lib, a: lib.cumsum(a, dim=0), [(3, 4)])


def test_empty_dim_tuple_reduces_everything():
    # PyTorch reads dim=() (an empty list of dims) as "all dims".
    check(lambda lib, x: x.sum(()), [(2, 3)])
    check(lambda lib, x: x.mean(dim=[]), [(2, 3)])
    check(lambda lib, x: x.amax(()), [(2, 3)])


def test_prod_with_zeros_double_backward_against_torch():
    import chainrule
    import torch
    x = np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 0.5], [1.0, 2.0, 3.0]])
    v = np.arange(9.0).reshape(3, 3)
    out = []
    for lib in (chainrule, torch):
        t = lib.tensor(x.copy(), requires_grad=True)
        (g,) = lib.autograd.grad(t.prod(1).sum(), t, create_graph=True)
        (h,) = lib.autograd.grad((g * lib.tensor(v)).sum(), t)
        out.append((g, h))
    np.testing.assert_allclose(out[0][0].detach().numpy(), out[1][0].detach().numpy())
    np.testing.assert_allclose(out[0][1].numpy(), out[1][1].numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_against_pytorch(dim):
    check(lambda lib, a: a.cumprod(dim), [(3, 4)])
    check(lambda lib, a: lib.cumprod(a, dim=dim, dtype=lib.float64), [(3, 4)])


def test_cumprod_gradient_with_zeros():
    # one zero, two zeros, a zero first and last: PyTorch's gradient is finite and exact at and after them
    x = np.array([[1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0], [2.0, -1.0, 0.5, 0.0], [0.0, 0.0, 1.0, 2.0]])
    check(lambda lib, a: a.cumprod(1), [x])
    check(lambda lib, a: a.cumprod(0), [x])


def test_cumprod_second_derivative_with_zeros():
    import chainrule
    from chainrule.autograd import gradcheck, gradgradcheck
    for values in ([1.5, -0.5, 2.0, 3.0], [1.5, 0.0, 2.0, -3.0], [0.0, 2.0, 0.0, 4.0],
                   [[0.5, 0.0, 0.0, 2.0, 0.0], [1.0, 2.0, -1.0, 0.0, 3.0]]):
        x = chainrule.tensor(values, dtype=chainrule.float64, requires_grad=True)
        assert gradcheck(lambda t: t.cumprod(-1), (x,))
        assert gradgradcheck(lambda t: t.cumprod(-1), (x,))


def test_cumprod_of_integers_and_0d():
    check(lambda lib, a: a.cumprod(0), [nograd(np.array([3, -2, 4]))], grad=False)
    check(lambda lib, a: a.cumprod(0), [np.array(2.5)])

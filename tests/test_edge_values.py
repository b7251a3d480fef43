"""Edge values that once gave silent wrong answers: NaN, inf, -0, zeros at kinks, huge and tiny
numbers. Every case runs on PyTorch and chainrule and the two must agree (values, NaN positions,
gradients, dtypes), or both must raise."""
import math
import warnings

import pytest
import torch

import chainrule
from oracle import assert_same_outcome

inf, nan = math.inf, math.nan


def grads(f, *values, upstream=None):
    """A case: ``f(lib, *inputs)`` on float64 inputs that require grad; returns the output and each
    input's gradient after backward with ``upstream`` (default: ones)."""
    def run(lib):
        xs = [lib.tensor(v, dtype=lib.float64, requires_grad=True) for v in values]
        y = f(lib, *xs)
        g = lib.ones_like(y) if upstream is None else lib.full_like(y, upstream)
        y.backward(g)
        return [y] + [x.grad for x in xs]
    return run


F = lambda lib: lib.nn.functional   # noqa: E731

CASES = {
    # inf gradients through ops that cut positions off: selected zeros there, not inf·0 = NaN
    "relu_inf_grad": grads(lambda lib, x: x.relu(), [-1.0, 0.0, 1.0], upstream=inf),
    "floor_inf_grad": grads(lambda lib, x: x.floor(), [-1.5, 1.0], upstream=inf),
    "ceil_round_trunc_sign_inf_grad": grads(
        lambda lib, x: x.ceil() + x.round() + x.trunc() + x.sign(), [-1.5, 0.2], upstream=inf),
    "triu_inf_grad": grads(lambda lib, x: x.triu(), [[1.0, 2.0], [3.0, 4.0]], upstream=inf),
    "tril_inf_grad": grads(lambda lib, x: x.tril(-1), [[1.0, 2.0], [3.0, 4.0]], upstream=inf),
    "clamp_inf_grad": grads(lambda lib, x: x.clamp(0.0, 1.0), [-1.0, 0.5, 2.0], upstream=inf),
    "pow_zero_exponent_inf_grad": grads(lambda lib, x: x ** 0, [0.0, 2.0], upstream=inf),
    "setitem_inf_grad": grads(lambda lib, x: _setitem(x * 1, 0, 5.0), [1.0, 2.0], upstream=inf),
    "where_inf_grad": grads(lambda lib, x: lib.where(x > 0, x, 0.0), [-1.0, 1.0], upstream=inf),
    "scatter_inf_grad": grads(lambda lib, x: x.scatter(0, lib.tensor([0]), 7.0), [1.0, 2.0], upstream=inf),
    # x ** x at 0: d/dx = x^x (log x + 1), PyTorch's rule gives 0 (each side taken as 0 there)
    "x_pow_x_at_zero": grads(lambda lib, x: x ** x, [0.0, 1.0, 2.0]),
    "pow_tensor_exponent_zero_base": grads(lambda lib, a, b: a ** b, [0.0, 0.0, 2.0], [0.0, 2.0, -1.0]),
    # NaN operands of maximum/minimum get the gradient (no comparison holds), as in PyTorch
    "maximum_nan": grads(lambda lib, a, b: lib.maximum(a, b), [nan, 1.0, 2.0, 3.0], [1.0, nan, 2.0, 1.0]),
    "minimum_nan": grads(lambda lib, a, b: lib.minimum(a, b), [nan, 1.0, 2.0, 3.0], [1.0, nan, 2.0, 1.0]),
    "max_other_nan": grads(lambda lib, a, b: lib.max(a, b), [nan, 1.0], [1.0, nan]),
    # clamp: NaN input has no gradient; NaN bounds give NaN; tensor bounds follow PyTorch's rule
    "clamp_nan_input": grads(lambda lib, x: x.clamp(0.0, 1.0), [nan, 0.5, 2.0, 0.0, 1.0]),
    "clamp_nan_scalar_bound": lambda lib: lib.tensor([0.5, 2.0]).clamp(min=nan),
    "clamp_nan_scalar_max": lambda lib: lib.tensor([0.5, 2.0]).clamp(max=nan),
    "clamp_tensor_bounds_nan": grads(lambda lib, x, lo: x.clamp(lo, None), [nan, 0.5, 2.0], [0.0, nan, 1.0]),
    "clamp_tensor_both": grads(lambda lib, x, lo, hi: x.clamp(lo, hi),
                               [-1.0, 0.5, 2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 1.0, 2.0], [1.0, 1.0, 1.0, 0.0, 1.0]),
    "clamp_tensor_max_only": grads(lambda lib, x, hi: x.clamp(max=hi), [1.0, 3.0, nan], [2.0, 2.0, 2.0]),
    # sign(nan) is 0 in PyTorch
    "sign_nan": lambda lib: lib.tensor([nan, -0.0, 0.0, -2.0, inf]).sign(),
    "abs_grad_at_nan_and_zero": grads(lambda lib, x: x.abs(), [nan, 0.0, -1.0]),
    # median: NaN wins; ties share the gradient without dim, go to one index with dim
    "median_nan": grads(lambda lib, x: x.median(), [1.0, nan, 3.0]),
    "median_two_nans": grads(lambda lib, x: x.median(), [nan, 1.0, nan]),
    "median_tie": grads(lambda lib, x: x.median(), [1.0, 1.0, 1.0]),
    "median_even_count": grads(lambda lib, x: x.median(), [4.0, 1.0, 3.0, 2.0]),
    "median_dim_nan": lambda lib: lib.tensor([[1.0, nan], [2.0, 2.0], [3.0, 1.0]]).median(0),
    "max_all_nan": grads(lambda lib, x: x.max(), [1.0, nan, nan]),
    "max_all_tie_inf_grad": grads(lambda lib, x: x.min(), [1.0, 1.0, 2.0], upstream=inf),
    "amax_nan": grads(lambda lib, x: x.amax(), [1.0, nan, 3.0]),
    "max_dim_nan": lambda lib: lib.tensor([[nan, 1.0, nan]]).max(1),
    # activations at edge values
    "elu_tiny_negative": lambda lib: F(lib).elu(lib.tensor([-1e-20, -1e-300, 0.0], dtype=lib.float64)),
    "elu_grad_at_zero": grads(lambda lib, x: F(lib).elu(x, 0.5), [0.0, -1.0, 1.0]),
    "relu6_kinks": grads(lambda lib, x: F(lib).relu6(x), [0.0, 6.0, 3.0, -1.0, 7.0]),
    "hardtanh_kinks": grads(lambda lib, x: F(lib).hardtanh(x), [-1.0, 1.0, 0.0, 2.0]),
    # At NaN PyTorch's gradient depends on its kernel: vectorised blocks (8 float64 elements) give what
    # chainrule gives everywhere (0 for hardtanh/relu6, NaN for hardswish/elu); here NaN leads a block.
    "hardtanh_nan_in_a_vector_block": grads(lambda lib, x: F(lib).hardtanh(x), [nan] + [0.5] * 15),
    "relu6_nan_in_a_vector_block": grads(lambda lib, x: F(lib).relu6(x), [nan] + [0.5] * 15),
    "hardswish_nan_in_a_vector_block": grads(lambda lib, x: F(lib).hardswish(x), [nan] + [0.5] * 15),
    "elu_nan_in_a_vector_block": grads(lambda lib, x: F(lib).elu(x), [nan] + [0.5] * 15),
    "relu_nan": grads(lambda lib, x: x.relu(), [nan, -1.0, 1.0]),
    "hardswish_edges": grads(lambda lib, x: F(lib).hardswish(x), [-3.0, 3.0, -1.0, 1.0, 0.0, 6.0, inf, -inf]),
    "hardtanh_range": grads(lambda lib, x: F(lib).hardtanh(x, -2.0, 0.5), [-2.0, 0.5, -3.0, 1.0]),
    "relu6_module_inplace": grads(lambda lib, x: lib.nn.ReLU6(inplace=True)(x * 1), [0.0, 6.0, 3.0]),
    "hardsigmoid_kinks": grads(lambda lib, x: F(lib).hardsigmoid(x), [-3.0, 3.0, 0.0]),
    "hardswish_kinks": grads(lambda lib, x: F(lib).hardswish(x), [-3.0, 3.0, 0.0]),
    "softmax_0d_nan": lambda lib: lib.softmax(lib.tensor(nan), 0),
    "softmax_0d_inf": lambda lib: lib.softmax(lib.tensor(inf), 0),
    "softmax_0d": lambda lib: lib.softmax(lib.tensor(3.0), 0),
    "log_softmax_0d_inf": lambda lib: lib.log_softmax(lib.tensor(-inf), 0),
    "softmax_row_of_inf": lambda lib: lib.softmax(lib.tensor([[inf, 1.0], [-inf, -inf]]), 1),
    # fmod: exact, like C's fmod (not a - trunc(a / b)·b)
    "fmod_large_quotient": lambda lib: lib.fmod(lib.tensor([1e12 + 0.1, 1e300, -7.5], dtype=lib.float64), 1.3),
    "fmod_by_inf": lambda lib: lib.fmod(lib.tensor([1.5, -2.0], dtype=lib.float64), inf),
    "fmod_grads": grads(lambda lib, a, b: lib.fmod(a, b), [5.5, -5.5, 1e12 + 0.1], [2.0, 2.0, 1.3]),
    "remainder_grads": grads(lambda lib, a, b: lib.remainder(a, b), [5.5, -5.5], [2.0, 2.0]),
    "fmod_integer": lambda lib: lib.fmod(lib.tensor([7, -7]), 3),
    # copy_ and fill_ overwrite, whatever was there (inf, NaN)
    "copy_into_inf": lambda lib: _copy_into(lib, -inf),
    "copy_into_nan": lambda lib: _copy_into(lib, nan),
    "fill_tensor_into_inf": lambda lib: _fill_into(lib, inf),
    # tensor(python float, dtype=float64) keeps every digit
    "tensor_float64_from_python_float": lambda lib: lib.tensor([0.1, 1e300, 1e12 + 0.1], dtype=lib.float64),
}


def _setitem(x, i, v):
    x[i] = v
    return x


def _copy_into(lib, start):
    buf = lib.full((3,), start, dtype=lib.float64)
    w = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    buf.copy_(w * 2)
    buf.sum().backward()
    return [buf, w.grad]


def _fill_into(lib, start):
    buf = lib.full((3,), start, dtype=lib.float64)
    v = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
    buf.fill_(v)
    (buf * buf).sum().backward()
    return [buf, v.grad]


@pytest.mark.parametrize("name", CASES)
def test_edge_value_matches_torch(name):
    assert_same_outcome(CASES[name])


def test_grad_of_a_non_leaf_warns_naming_retain_grad_like_torch():
    for lib in (torch, chainrule):
        x = lib.ones(2, requires_grad=True)
        z = x * 2
        z.sum().backward()
        with pytest.warns(UserWarning, match=r"not a leaf Tensor.*use \.retain_grad\(\)"):
            assert z.grad is None
    # No warning where .grad is meaningful: a leaf, or a non-leaf that retains its gradient.
    import warnings
    x = chainrule.ones(2, requires_grad=True)
    z = x * 2
    z.retain_grad()
    z.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None and z.grad is not None
        assert chainrule.ones(2).grad is None


@pytest.mark.parametrize("op", ["log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal"])
def test_values_outside_the_domain_give_inf_or_nan_silently_as_in_torch(op):
    # A causal mask written as torch.log(torch.tril(ones)) takes log(0) = -inf: PyTorch says nothing.
    values = [-1.0, 0.0, -0.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = getattr(chainrule, op)(chainrule.tensor(values))
    theirs = getattr(torch, op)(torch.tensor(values))
    assert ours.tolist() == pytest.approx(theirs.tolist(), nan_ok=True)

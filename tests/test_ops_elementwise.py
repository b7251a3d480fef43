"""Elementwise ops against PyTorch: values, dtypes and every input's gradient, with broadcasting."""
import numpy as np
import pytest

from oracle import check, nograd, rand

# Shape pairs that broadcast in every way PyTorch allows: same shape, (3,1)x(1,4), (4,)x(2,3,4),
# a 0-d tensor with a matrix, and a leading-dims mismatch.
BROADCAST = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (2, 3)), ((2, 1, 3), (4, 1))]

BINARY = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "add_fn_alpha": lambda lib, a, b: lib.add(a, b, alpha=2.5),
    "sub_fn_alpha": lambda lib, a, b: lib.sub(a, b, alpha=-0.5),
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
}


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_broadcast(name, shapes):
    a = rand(*shapes[0], seed=1)
    b = rand(*shapes[1], seed=2, away_from=0.0, margin=0.2)   # no division by ~0
    check(BINARY[name], [a, b])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_binary_with_python_scalar_both_sides(name):
    op = BINARY[name]
    check(lambda lib, a: op(lib, a, 2.5), [(3, 4)])
    check(lambda lib, a: op(lib, -1.5, a), [rand(3, 4, away_from=0.0, margin=0.2)])
    check(lambda lib, a: op(lib, a, 3), [(2, 3)])


def test_pow_scalar_exponents():
    x = rand(3, 4, low=0.2, high=2.0)
    for e in (2, 3, 0.5, -1.5, 0, 1, -2):
        check(lambda lib, a: a ** e, [x])
    check(lambda lib, a: lib.pow(a, 2.0), [(3,)])
    check(lambda lib, a: a.square(), [(2, 3)])


def test_pow_tensor_exponent_broadcast():
    base = rand(3, 1, low=0.3, high=2.0)
    exponent = rand(1, 4, low=-2.0, high=2.0)
    check(lambda lib, a, b: a ** b, [base, exponent])
    check(lambda lib, a, b: lib.pow(a, b), [base, exponent])


def test_pow_scalar_base_tensor_exponent():
    check(lambda lib, b: 2.0 ** b, [(3, 4)])
    check(lambda lib, b: lib.pow(3.0, b), [(2, 3)])


def test_pow_zero_base_with_tensor_exponent():
    base = np.array([0.0, 0.0, 1.5, 2.0])
    exponent = np.array([2.0, 0.5, 3.0, 1.0])
    check(lambda lib, a, b: a ** b, [base, exponent])


UNARY = {
    "neg": (lambda lib, x: -x, {}),
    "abs": (lambda lib, x: x.abs(), {"away_from": 0.0}),
    "abs_fn": (lambda lib, x: lib.abs(x), {"away_from": 0.0}),
    "sign": (lambda lib, x: x.sign(), {"away_from": 0.0}),
    "exp": (lambda lib, x: x.exp(), {}),
    "log": (lambda lib, x: x.log(), {"low": 0.1, "high": 3.0}),
    "sqrt": (lambda lib, x: x.sqrt(), {"low": 0.1, "high": 3.0}),
    "sin": (lambda lib, x: x.sin(), {}),
    "cos": (lambda lib, x: lib.cos(x), {}),
    "tanh": (lambda lib, x: x.tanh(), {}),
    "sigmoid": (lambda lib, x: x.sigmoid(), {}),
    "relu": (lambda lib, x: x.relu(), {"away_from": 0.0}),
    "relu_fn": (lambda lib, x: lib.relu(x), {"away_from": 0.0}),
    "reciprocal": (lambda lib, x: x.reciprocal(), {"away_from": 0.0, "margin": 0.3}),
    "rsqrt": (lambda lib, x: x.rsqrt(), {"low": 0.2, "high": 3.0}),
    "log1p": (lambda lib, x: x.log1p(), {"low": -0.5, "high": 3.0}),
    "expm1": (lambda lib, x: x.expm1(), {}),
    "log2": (lambda lib, x: x.log2(), {"low": 0.1, "high": 3.0}),
    "tan": (lambda lib, x: x.tan(), {"low": -1.0, "high": 1.0}),
    "erf": (lambda lib, x: x.erf(), {}),
    "floor": (lambda lib, x: x.floor(), {}),
    "clone": (lambda lib, x: x.clone(), {}),
}


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary(name, shape):
    fn, domain = UNARY[name]
    check(fn, [rand(*shape, seed=3, **domain)])


def test_maximum_minimum_ties_split_gradient():
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 0.5, 3.0, 4.0])
    check(lambda lib, x, y: lib.maximum(x, y), [a, b])
    check(lambda lib, x, y: lib.minimum(x, y), [a, b])
    check(lambda lib, x, y: lib.maximum(x, y), [np.array([[2.0], [1.0]]), np.array([[2.0, 1.0, 0.0]])])


def test_clamp():
    x = rand(4, 5, seed=5)
    x[np.abs(np.abs(x) - 1.0) < 0.05] = 0.3   # away from the bounds
    check(lambda lib, a: a.clamp(-1.0, 1.0), [x])
    check(lambda lib, a: a.clamp(min=0.0), [x])
    check(lambda lib, a: lib.clamp(a, max=0.5), [x])
    check(lambda lib, a: a.clamp_min(0.2), [x])
    check(lambda lib, a: a.clamp_max(0.2), [x])
    check(lambda lib, a: a.clip(-0.5, 0.5), [x])


def test_clamp_at_the_bound_passes_gradient():
    # PyTorch passes the gradient where x equals a bound exactly.
    check(lambda lib, a: a.clamp(-1.0, 1.0), [np.array([-1.0, 1.0, 0.0, 2.0, -2.0])])


def test_clamp_tensor_bounds():
    check(lambda lib, a, lo, hi: lib.clamp(a, lo, hi),
          [rand(3, 4, seed=1), rand(1, 4, seed=2, low=-1.5, high=-0.2), rand(3, 1, seed=3, low=0.2, high=1.5)])


def test_where_broadcast_and_scalars():
    cond = nograd(np.array([[True, False, True, False]]))
    check(lambda lib, c, a, b: lib.where(c, a, b), [cond, (3, 1), (4,)])
    check(lambda lib, c, a: lib.where(c, a, 0.0), [cond, (2, 4)])
    check(lambda lib, c, b: lib.where(c, 1.5, b), [cond, (3, 4)])
    check(lambda lib, a: lib.where(a > 0, a, a * 0.1), [(3, 4)])


def test_comparisons_return_bool():
    a, b = rand(3, 4, seed=1), rand(3, 4, seed=2)
    for op in (lambda x, y: x < y, lambda x, y: x >= y, lambda x, y: x == y, lambda x, y: x != 0.5):
        check(lambda lib, x, y: op(x, y), [nograd(a), nograd(b)], grad=False)


def test_float32_gradients():
    check(lambda lib, a, b: (a.float() * b.float()).sin(), [(3, 4), (4,)], rtol=1e-5, atol=1e-6)

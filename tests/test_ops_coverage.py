"""Every public op function is checked against PyTorch by name.

The cases below are the op functions no other test named (an audit listed chainrule's public op functions
and searched the tests for each): each runs through the oracle, forward and backward where the op has a
gradient. The last test repeats the audit, so that an op added later without a test is caught.
"""
import glob
import importlib
import inspect
import os
import pkgutil
import re

import numpy as np
import pytest

import chainrule
from oracle import check, nograd, rand

INTS_A = np.array([[5, -3, 12], [0, 7, -8]])
INTS_B = np.array([[3, 6, -4], [1, -7, 2]])
BOOLS_A = np.array([[True, False, True], [False, False, True]])
BOOLS_B = np.array([[True, True, False], [False, True, True]])
SPECIAL = np.array([1.5, np.inf, -np.inf, np.nan, -0.0, 3e38])
MASK = np.array([[True, False, True], [False, True, False]])

# name -> (fn(lib, *inputs), inputs, options for check)
CASES = {
    # In-place ops, on a non-leaf (x * 1) so that the gradient flows through them to x.
    "abs_": (lambda lib, x: (x * 1).abs_(), [rand(2, 3, away_from=0.0, seed=1)], {}),
    "clamp_max_": (lambda lib, x: (x * 1).clamp_max_(0.5), [rand(2, 3, away_from=0.5, seed=2)], {}),
    "clamp_min_": (lambda lib, x: (x * 1).clamp_min_(-0.5), [rand(2, 3, away_from=-0.5, seed=3)], {}),
    "log_": (lambda lib, x: (x * 1).log_(), [rand(2, 3, low=0.2, high=3.0, seed=4)], {}),
    "neg_": (lambda lib, x: (x * 1).neg_(), [(2, 3)], {}),
    "relu_": (lambda lib, x: (x * 1).relu_(), [rand(2, 3, away_from=0.0, seed=5)], {}),
    "sigmoid_": (lambda lib, x: (x * 1).sigmoid_(), [(2, 3)], {}),
    "sqrt_": (lambda lib, x: (x * 1).sqrt_(), [rand(2, 3, low=0.2, high=3.0, seed=6)], {}),
    "tanh_": (lambda lib, x: (x * 1).tanh_(), [(2, 3)], {}),
    "masked_fill_": (lambda lib, x, m: (x * 1).masked_fill_(m, -2.5), [(2, 3), nograd(MASK)], {}),
    "addcmul_": (lambda lib, x, a, b: (x * 1).addcmul_(a, b, value=0.5), [(2, 3), (2, 3), (1, 3)], {}),
    "addcdiv_": (lambda lib, x, a, b: (x * 1).addcdiv_(a, b, value=-1.5),
                 [(2, 3), (2, 3), rand(2, 1, away_from=0.0, margin=0.3, seed=7)], {}),
    "lerp_": (lambda lib, x, e: (x * 1).lerp_(e, 0.3), [(2, 3), (2, 3)], {}),
    # Arithmetic and elementwise functions.
    "addcmul": (lambda lib, x, a, b: lib.addcmul(x, a, b, value=2.0), [(2, 3), (2, 1), (3,)], {}),
    "addcdiv": (lambda lib, x, a, b: lib.addcdiv(x, a, b, value=0.5),
                [(2, 3), (2, 3), rand(3, away_from=0.0, margin=0.3, seed=8)], {}),
    "lerp": (lambda lib, x, e, w: lib.lerp(x, e, w), [(2, 3), (2, 3), rand(2, 3, low=0.0, high=1.0, seed=9)], {}),
    "exp2": (lambda lib, x: lib.exp2(x), [(2, 3)], {}),
    "log10": (lambda lib, x: lib.log10(x), [rand(2, 3, low=0.2, high=5.0, seed=10)], {}),
    "ceil": (lambda lib, x: lib.ceil(x), [rand(2, 3, away_from=0.0, seed=11) * 3], {}),
    "trunc": (lambda lib, x: lib.trunc(x), [rand(2, 3, seed=12) * 3], {}),
    "nan_to_num": (lambda lib, x: lib.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0), [SPECIAL.copy()], {}),
    "floor_divide": (lambda lib, a, b: lib.floor_divide(a, b), [nograd(INTS_A), nograd(INTS_B)], {"grad": False}),
    # Comparisons and logic (no gradient).
    "eq": (lambda lib, a, b: lib.eq(a, b), [nograd(INTS_A), nograd(np.where(INTS_B > 0, INTS_A, INTS_B))], {}),
    "ne": (lambda lib, a, b: lib.ne(a, b), [nograd(INTS_A), nograd(np.where(INTS_B > 0, INTS_A, INTS_B))], {}),
    "ge": (lambda lib, a, b: lib.ge(a, b), [nograd(INTS_A), nograd(INTS_B)], {}),
    "lt": (lambda lib, a, b: lib.lt(a, b), [nograd(INTS_A), nograd(INTS_B)], {}),
    "isinf": (lambda lib, x: lib.isinf(x), [nograd(SPECIAL)], {}),
    "logical_and": (lambda lib, a, b: lib.logical_and(a, b), [nograd(BOOLS_A), nograd(BOOLS_B)], {}),
    "logical_or": (lambda lib, a, b: lib.logical_or(a, b), [nograd(BOOLS_A), nograd(INTS_B)], {}),
    "logical_not": (lambda lib, a: lib.logical_not(a), [nograd(INTS_A)], {}),
    "bitwise_and": (lambda lib, a, b: lib.bitwise_and(a, b), [nograd(INTS_A), nograd(INTS_B)], {}),
    "bitwise_or": (lambda lib, a, b: lib.bitwise_or(a, b), [nograd(INTS_A), nograd(INTS_B)], {}),
    "bitwise_xor": (lambda lib, a, b: lib.bitwise_xor(a, b), [nograd(BOOLS_A), nograd(BOOLS_B)], {}),
    "bitwise_not": (lambda lib, a: lib.bitwise_not(a), [nograd(INTS_A)], {}),
    "count_nonzero": (lambda lib, a: lib.count_nonzero(a, dim=1), [nograd(INTS_A * (INTS_B > 0))], {}),
    # Shapes and statistics.
    "hstack": (lambda lib, a, b: lib.hstack([a, b]), [(2, 3), (2, 2)], {}),
    "vstack": (lambda lib, a, b: lib.vstack([a, b]), [(3,), (2, 3)], {}),
    "swapaxes": (lambda lib, x: lib.swapaxes(x, 0, 2), [(2, 3, 4)], {}),
    "unflatten": (lambda lib, x: lib.unflatten(x, 1, (2, 3)), [(4, 6)], {}),
    "reshape_as": (lambda lib, x, y: x.reshape_as(y), [(2, 6), nograd(np.zeros((3, 4)))], {}),
    "std_mean": (lambda lib, x: lib.std_mean(x, dim=1, keepdim=True), [(3, 5)], {}),
    "var_mean": (lambda lib, x: lib.var_mean(x, dim=0, correction=0), [(4, 3)], {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch(name):
    fn, inputs, options = CASES[name]
    check(fn, inputs, **options)


# ----- the audit ---------------------------------------------------------------------------------------------------
def public_op_functions():
    """The functions defined in chainrule/ops/ that chainrule exposes (as chainrule.name or Tensor.name)."""
    names = set()
    for info in pkgutil.iter_modules(chainrule.ops.__path__):
        module = importlib.import_module(f"chainrule.ops.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(value) or value.__module__ != module.__name__:
                continue
            if getattr(chainrule, name, None) is value or hasattr(chainrule.Tensor, name):
                names.add(name)
    return names


def test_every_public_op_function_is_named_in_a_test():
    tests = ""
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "*.py")):
        if os.path.basename(path) != os.path.basename(__file__):
            with open(path, encoding="utf-8") as f:
                tests += f.read()
    tests += " ".join(CASES)
    missing = sorted(n for n in public_op_functions() if not re.search(rf"\b{re.escape(n)}\b", tests))
    assert not missing, (f"public op functions no test names (add them to a test against PyTorch, e.g. "
                         f"CASES in {os.path.basename(__file__)}): {missing}")

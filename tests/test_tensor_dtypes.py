"""Type promotion and dtype inference against PyTorch: each case is run on both libraries."""
import numpy as np
import pytest
import torch

import chainrule

# (description, builder(lib) -> tensor). The dtype of the result must match torch's.
CASES = {
    "f32 + py float": lambda lib: lib.ones(3) + 2.5,
    "f32 * py int": lambda lib: lib.ones(3) * 2,
    "py float - f32": lambda lib: 1.5 - lib.ones(3),
    "i64 * py float": lambda lib: lib.arange(3) * 2.5,
    "i64 + py int": lambda lib: lib.arange(3) + 1,
    "i64 / i64": lambda lib: lib.arange(1, 4) / lib.arange(1, 4),
    "i64 / py int": lambda lib: lib.arange(4) / 2,
    "i32 + i64": lambda lib: lib.arange(3, dtype=lib.int32) + lib.arange(3),
    "f32 + f64": lambda lib: lib.ones(3) + lib.ones(3, dtype=lib.float64),
    "f32 + 0-d f64": lambda lib: lib.ones(3) + lib.tensor(2.0, dtype=lib.float64),
    "i64 + 0-d f64": lambda lib: lib.arange(3) + lib.tensor(2.0, dtype=lib.float64),
    "0-d i64 + f32": lambda lib: lib.tensor(2) + lib.ones(3),
    "0-d f64 + 0-d f32": lambda lib: lib.tensor(2.0, dtype=lib.float64) + lib.tensor(1.0),
    "bool + bool": lambda lib: lib.tensor([True]) + lib.tensor([False]),
    "bool + py int": lambda lib: lib.tensor([True, False]) + 1,
    "bool * py float": lambda lib: lib.tensor([True, False]) * 1.5,
    "u8 + i8": lambda lib: lib.ones(2, dtype=lib.uint8) + lib.ones(2, dtype=lib.int8),
    "f16 + f32": lambda lib: lib.ones(2, dtype=lib.float16) + lib.ones(2),
    "i32 * 0-d i64": lambda lib: lib.ones(2, dtype=lib.int32) * lib.tensor(3),
    "exp of int": lambda lib: lib.arange(3).exp(),
    "sqrt of int": lambda lib: lib.arange(3).sqrt(),
    "sigmoid of int": lambda lib: lib.arange(3).sigmoid(),
    "int ** 2": lambda lib: lib.arange(3) ** 2,
    "int ** 0.5": lambda lib: lib.arange(3) ** 0.5,
    "f32 ** f64 0-d": lambda lib: lib.ones(3) ** lib.tensor(2.0, dtype=lib.float64),
    "sum of int32": lambda lib: lib.ones(3, dtype=lib.int32).sum(),
    "sum of bool": lambda lib: lib.tensor([True, True]).sum(),
    "mean of f64": lambda lib: lib.ones(3, dtype=lib.float64).mean(),
    "where f32 with f64 scalar": lambda lib: lib.where(lib.tensor([True, False]), lib.ones(2), 0.0),
    "where i64 with py float": lambda lib: lib.where(lib.tensor([True, False]), lib.arange(2), 2.5),
    "maximum i64 f32": lambda lib: lib.maximum(lib.arange(3), lib.ones(3)),
    "cat i64 f32": lambda lib: lib.cat([lib.arange(2), lib.ones(2)]),
    "comparison": lambda lib: lib.ones(3) > 0.5,
    "float()": lambda lib: lib.arange(3).float(),
    "long()": lambda lib: lib.ones(3).long(),
    "to(float64)": lambda lib: lib.ones(3).to(lib.float64),
    "matmul f64": lambda lib: lib.ones(2, 3, dtype=lib.float64) @ lib.ones(3, dtype=lib.float64),
    "clamp int with float": lambda lib: lib.arange(4).clamp(0.5, 2.5),
    "floor divide": lambda lib: lib.arange(7) // 2,
    "remainder": lambda lib: lib.arange(7, dtype=lib.float32) % 3,
}


def _same(cr, th):
    assert repr(cr.dtype) == repr(th.dtype), f"{cr.dtype} vs torch {th.dtype}"
    assert tuple(cr.shape) == tuple(th.shape)
    np.testing.assert_allclose(cr.numpy().astype(np.float64), th.numpy().astype(np.float64), rtol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_promotion(name):
    _same(CASES[name](chainrule), CASES[name](torch))


@pytest.mark.parametrize("data", [
    1.5, 3, True, [1.0, 2.0], [1, 2, 3], [[1, 2], [3, 4]], [True, False], [1, 2.5], [[1.0], [2.0]],
    np.array([1.0, 2.0]), np.array([1, 2], dtype=np.int32), np.array([1.0], dtype=np.float32),
    np.float64(2.0), np.array(3, dtype=np.int16), (1, 2), [],
], ids=repr)
def test_tensor_inference(data):
    _same(chainrule.tensor(data), torch.tensor(data))


def test_tensor_explicit_dtype():
    _same(chainrule.tensor([1, 2], dtype=chainrule.float64), torch.tensor([1, 2], dtype=torch.float64))
    _same(chainrule.tensor([1.7, -2.2], dtype=chainrule.int64), torch.tensor([1.7, -2.2], dtype=torch.int64))
    _same(chainrule.tensor(np.array([1, 2]), dtype=chainrule.float32),
          torch.tensor(np.array([1, 2]), dtype=torch.float32))
    # Python floats asked for as float64 keep every digit (not rounded through float32 on the way).
    data = [[-0.034116072994783066, 0.1], [1 / 3, 2.0 ** -40]]
    _same(chainrule.tensor(data, dtype=chainrule.float64), torch.tensor(data, dtype=torch.float64))
    assert chainrule.tensor(data, dtype=chainrule.float64).tolist() == data


def test_from_numpy_shares_memory():
    a = np.arange(4.0)
    t = chainrule.from_numpy(a)
    assert t.dtype == chainrule.float64
    a[0] = 100.0
    assert t[0].item() == 100.0
    t.add_(1)
    assert a[1] == 2.0
    assert np.shares_memory(t.numpy(), a)


def test_tensor_copies_numpy_data():
    a = np.arange(4.0)
    t = chainrule.tensor(a)
    a[0] = 100.0
    assert t[0].item() == 0.0


CREATION = {
    "zeros": lambda lib: lib.zeros(2, 3),
    "zeros_tuple": lambda lib: lib.zeros((2, 3)),
    "zeros_int": lambda lib: lib.zeros(2, dtype=lib.int64),
    "ones": lambda lib: lib.ones(4),
    "ones_f64": lambda lib: lib.ones([2, 2], dtype=lib.float64),
    "full_float": lambda lib: lib.full((2, 3), 1.5),
    "full_int": lambda lib: lib.full((2,), 7),
    "full_bool": lambda lib: lib.full((2,), True),
    "empty_shape": lambda lib: lib.empty(2, 3).shape,
    "arange_int": lambda lib: lib.arange(5),
    "arange_start_end_step": lambda lib: lib.arange(1, 10, 3),
    "arange_float": lambda lib: lib.arange(0, 1, 0.1),
    "arange_float_end": lambda lib: lib.arange(5.0),
    "arange_neg_step": lambda lib: lib.arange(5, 0, -2),
    "arange_dtype": lambda lib: lib.arange(4, dtype=lib.float64),
    "linspace": lambda lib: lib.linspace(0, 1, 5),
    "linspace_one": lambda lib: lib.linspace(-2, 3, 1),
    "eye": lambda lib: lib.eye(3),
    "eye_rect": lambda lib: lib.eye(2, 4),
    "zeros_like": lambda lib: lib.zeros_like(lib.arange(3)),
    "ones_like_f64": lambda lib: lib.ones_like(lib.ones(2), dtype=lib.float64),
    "full_like": lambda lib: lib.full_like(lib.ones(2, 2), 3.0),
    "empty_like_shape": lambda lib: lib.empty_like(lib.ones(2, 5)).shape,
    "rand_like_shape": lambda lib: (lib.rand_like(lib.ones(2, 5)).shape, lib.rand_like(lib.ones(2, 5)).dtype),
    "randn_shape": lambda lib: (lib.randn(3, 4).shape, lib.randn(3, 4).dtype, lib.randn((2,), dtype=lib.float64).dtype),
    "randint_shape": lambda lib: (lib.randint(0, 5, (3,)).shape, lib.randint(5, (3,)).dtype),
    "new_zeros": lambda lib: lib.ones(2, dtype=lib.float64).new_zeros(3),
}


@pytest.mark.parametrize("name", CREATION)
def test_creation(name):
    cr, th = CREATION[name](chainrule), CREATION[name](torch)
    if isinstance(th, torch.Tensor):
        _same(cr, th)
    else:
        assert repr(cr) == repr(th)


def test_creation_requires_grad():
    x = chainrule.zeros(2, requires_grad=True)
    assert x.requires_grad and x.is_leaf
    assert chainrule.ones(2, 2, requires_grad=True).requires_grad


def test_random_ranges():
    chainrule.manual_seed(0)
    r = chainrule.rand(1000).numpy()
    assert 0 <= r.min() and r.max() < 1 and 0.4 < r.mean() < 0.6
    n = chainrule.randn(5000).numpy()
    assert abs(n.mean()) < 0.1 and 0.9 < n.std() < 1.1
    i = chainrule.randint(3, 7, (1000,)).numpy()
    assert set(np.unique(i)) == {3, 4, 5, 6}


def test_manual_seed_reproducible():
    chainrule.manual_seed(123)
    a = (chainrule.rand(3), chainrule.randn(2, 2), chainrule.randint(0, 10, (4,)), chainrule.randperm(5))
    chainrule.manual_seed(123)
    b = (chainrule.rand(3), chainrule.randn(2, 2), chainrule.randint(0, 10, (4,)), chainrule.randperm(5))
    for x, y in zip(a, b):
        assert chainrule.equal(x, y)
    chainrule.manual_seed(124)
    assert not chainrule.equal(chainrule.rand(3), a[0])
    g = chainrule.Generator().manual_seed(5)
    first = chainrule.rand(3, generator=g)
    g.manual_seed(5)
    assert chainrule.equal(first, chainrule.rand(3, generator=g))

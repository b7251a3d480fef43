"""The Tensor's Python protocol and printing, against PyTorch."""
import math

import numpy as np
import pytest
import torch

import chainrule

REPRS = {
    "float_scalar": lambda lib: lib.tensor(3.0),
    "float_scalar_frac": lambda lib: lib.tensor(2.5),
    "float_neg_scalar": lambda lib: lib.tensor(-0.125),
    "float_vec": lambda lib: lib.tensor([1.0, 2.5, -3.0]),
    "float_ints": lambda lib: lib.tensor([1.0, 2.0, 3.0]),
    "float_matrix": lambda lib: lib.tensor([[1.0, 2.0], [3.5, -4.25]]),
    "float_3d": lambda lib: lib.arange(12.0).reshape(2, 3, 2),
    "float_small": lambda lib: lib.tensor([1e-5, 1.0]),
    "float_large": lambda lib: lib.tensor([1e10, 1.0]),
    "float_zeros": lambda lib: lib.zeros(2, 3),
    "float_inf_nan": lambda lib: lib.tensor([float("inf"), float("nan"), 1.5]),
    "float64": lambda lib: lib.tensor([1.5, 2.0], dtype=lib.float64),
    "float64_scalar": lambda lib: lib.tensor(1.0, dtype=lib.float64),
    "float16": lambda lib: lib.tensor([1.5, 2.0], dtype=lib.float16),
    "int": lambda lib: lib.tensor([1, 2, 3]),
    "int_scalar": lambda lib: lib.tensor(7),
    "int_neg": lambda lib: lib.tensor([[1, -20], [300, 4]]),
    "int32": lambda lib: lib.tensor([1, 2], dtype=lib.int32),
    "uint8": lambda lib: lib.tensor([1, 2], dtype=lib.uint8),
    "bool": lambda lib: lib.tensor([True, False]),
    "bool_scalar": lambda lib: lib.tensor(True),
    "requires_grad": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    "requires_grad_scalar": lambda lib: lib.tensor(2.0, requires_grad=True),
    "grad_fn_mul": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True) * 2,
    "grad_fn_add": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True) + 1,
    "grad_fn_sum": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).sum(),
    "grad_fn_mean": lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).mean(),
    "grad_fn_float64": lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True) * 2,
    "grad_fn_select": lambda lib: lib.ones(2, 2, requires_grad=True)[0],
    "grad_fn_slice": lambda lib: lib.ones(2, 2, requires_grad=True)[:, :1],
    "grad_fn_unsqueeze": lambda lib: lib.ones(2, requires_grad=True)[None],
    "grad_fn_index": lambda lib: lib.ones(3, requires_grad=True)[[0, 0]],
    "grad_fn_exp": lambda lib: lib.ones(2, requires_grad=True).exp(),
    "grad_fn_matmul": lambda lib: lib.ones(2, 2, requires_grad=True) @ lib.ones(2, 2),
    "grad_fn_view": lambda lib: lib.ones(2, 2, requires_grad=True).view(4),
    "grad_fn_softmax": lambda lib: lib.ones(2, requires_grad=True).softmax(0),
    "empty": lambda lib: lib.tensor([]),
    "empty_2d": lambda lib: lib.zeros(0, 3),
    "long_row": lambda lib: lib.arange(20.0),
    "summarised": lambda lib: lib.arange(2000),
    # columns are as wide as the nonzero finite values: inf and nan neither set nor get the width
    "causal_mask": lambda lib: lib.log(lib.tril(lib.ones(3, 3))),
    "inf_among_decimals": lambda lib: lib.tensor([0.5, -float("inf"), 2.25]),
    "nan_among_integers": lambda lib: lib.tensor([[1.0, float("nan")], [20.0, 3.0]]),
    "inf_in_scientific": lambda lib: lib.tensor([1e-5, float("inf"), 3.0]),
}


@pytest.mark.parametrize("name", REPRS)
def test_repr_matches_torch(name):
    assert repr(REPRS[name](chainrule)) == repr(REPRS[name](torch))


def test_str_and_format():
    assert str(chainrule.tensor([1.5])) == str(torch.tensor([1.5]))
    assert f"{chainrule.tensor(2.5):.2f}" == f"{torch.tensor(2.5):.2f}"


def test_dtype_and_device_reprs():
    assert repr(chainrule.float32) == repr(torch.float32)
    assert repr(chainrule.int64) == repr(torch.int64)
    assert str(chainrule.ones(1).device) == str(torch.ones(1).device)


def test_item_tolist_numpy():
    for data in ([[1.5, 2.0], [3.0, 4.0]], [1, 2, 3], [True, False]):
        assert chainrule.tensor(data).tolist() == torch.tensor(data).tolist()
    assert chainrule.tensor(2.5).item() == torch.tensor(2.5).item()
    assert type(chainrule.tensor(3).item()) is int
    assert type(chainrule.tensor([2.5]).item()) is float
    assert chainrule.tensor(3.5).tolist() == 3.5
    with pytest.raises(RuntimeError):
        chainrule.ones(2).item()
    n = chainrule.ones(2, 3).numpy()
    assert isinstance(n, np.ndarray) and n.dtype == np.float32
    with pytest.raises(RuntimeError, match="detach"):
        chainrule.ones(2, requires_grad=True).numpy()


def test_len_iter_bool_float_int():
    x = chainrule.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [3.0, 4.0]
    assert bool(chainrule.tensor(1.0)) and not bool(chainrule.tensor([0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(chainrule.ones(2))
    assert float(chainrule.tensor([2.5])) == 2.5
    assert int(chainrule.tensor(7.9)) == 7
    assert math.isclose(float(chainrule.tensor(1.0) / 3), 1 / 3, rel_tol=1e-6)
    with pytest.raises(TypeError):
        len(chainrule.tensor(1.0))
    assert [1, 2, 3][chainrule.tensor(1)] == 2   # __index__


def test_requires_grad_on_int_tensor_raises():
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        chainrule.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        chainrule.arange(3).requires_grad_()


def test_ragged_list_raises_clearly():
    with pytest.raises((ValueError, TypeError), match="ragged|rectangular|sequence"):
        chainrule.tensor([[1, 2], [3]])


def test_broadcast_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"\[2, 3\].*\[4\]"):
        chainrule.ones(2, 3) + chainrule.ones(4)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor b \(4\)"):
        chainrule.ones(2, 3) * chainrule.ones(4)


def test_backward_non_scalar_without_gradient_says_scalar():
    x = chainrule.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        chainrule.ones(2).sum().backward()


def test_misc_properties():
    x = chainrule.ones(2, 3, 4)
    assert x.ndim == x.dim() == 3 and x.numel() == 24 and x.shape == (2, 3, 4)
    assert x.is_floating_point() and not chainrule.arange(3).is_floating_point()
    assert x.T.shape == torch.ones(2, 3, 4).permute(2, 1, 0).shape
    assert chainrule.is_tensor(x) and not chainrule.is_tensor(1.0)
    assert x.type() == torch.ones(1).type()
    assert chainrule.arange(3).type() == torch.arange(3).type()


def test_default_device_is_the_cpu_and_can_be_set():
    for lib in (chainrule, torch):
        assert str(lib.get_default_device()) == "cpu"
        lib.set_default_device("cpu")
        assert str(lib.get_default_device()) == "cpu" and str(lib.zeros(2).device) == "cpu"
        lib.set_default_device(lib.device("cpu", 0))
        assert str(lib.get_default_device()) == "cpu:0" and str(lib.ones(1).device) == "cpu"
        lib.set_default_device(None)
        assert str(lib.get_default_device()) == "cpu"
        with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available"):
            lib.set_default_device(3)
    # CPU-only PyTorch accepts "cuda" as the default and refuses the first tensor made there
    chainrule.set_default_device("cuda")
    try:
        with pytest.raises(RuntimeError, match="default device 'cuda'"):
            chainrule.zeros(2)
    finally:
        chainrule.set_default_device(None)
    assert chainrule.zeros(2).device == chainrule.device("cpu")

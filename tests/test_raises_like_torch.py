"""Where PyTorch raises, chainrule raises the same exception type (with its own clear wording);
where PyTorch returns, so does chainrule, with the same result. Each case once returned something
quietly in chainrule."""
import pytest

import chainrule
from oracle import assert_same_outcome

F = lambda lib: lib.nn.functional   # noqa: E731


CASES = {
    # indexing and slicing
    "index_select_negative": lambda lib: lib.arange(3.).index_select(0, lib.tensor([-1])),
    "index_select_past_end": lambda lib: lib.arange(3.).index_select(0, lib.tensor([3])),
    "index_select_2d_index": lambda lib: lib.arange(3.).index_select(0, lib.tensor([[1]])),
    "index_select_int32_index": lambda lib: lib.arange(3.).index_select(0, lib.tensor([1, 0], dtype=lib.int32)),
    "index_select_0d_input": lambda lib: lib.tensor(1.).index_select(0, lib.tensor([0])),
    "index_add_negative": lambda lib: lib.zeros(3).index_add(0, lib.tensor([-1]), lib.ones(1)),
    "index_fill_negative_wraps": lambda lib: lib.zeros(3).index_fill(0, lib.tensor([-1]), 1.0),
    "gather_negative": lambda lib: lib.arange(3.).gather(0, lib.tensor([-1])),
    "gather_past_end": lambda lib: lib.arange(3.).gather(0, lib.tensor([3])),
    "gather_0d": lambda lib: lib.tensor(1.).gather(0, lib.tensor(0)),
    "scatter_past_end": lambda lib: lib.zeros(3).scatter(0, lib.tensor([3]), 1.0),
    "take_negative_wraps": lambda lib: lib.arange(3.).take(lib.tensor([-1])),
    "advanced_index_negative_wraps": lambda lib: lib.arange(3.)[lib.tensor([-1])],
    "narrow_past_end": lambda lib: lib.arange(3.).narrow(0, 2, 2),
    "narrow_negative_start": lambda lib: lib.arange(3.).narrow(0, -1, 1),
    "narrow_negative_length": lambda lib: lib.arange(3.).narrow(0, 0, -1),
    "narrow_start_out_of_range": lambda lib: lib.arange(3.).narrow(0, 4, 0),
    "narrow_start_at_end": lambda lib: lib.arange(3.).narrow(0, 3, 0),
    "narrow_0d": lambda lib: lib.tensor(1.).narrow(0, 0, 1),
    "negative_slice_step": lambda lib: lib.arange(3.)[::-1],
    "negative_slice_step_2": lambda lib: lib.arange(3.)[0:3:-2],
    "zero_slice_step": lambda lib: lib.arange(3.)[::0],
    # a dim that a 0-d tensor does not have
    "softmax_dim1_on_0d": lambda lib: lib.tensor(1.).softmax(1),
    "sort_dim1_on_0d": lambda lib: lib.tensor(1.).sort(1),
    "median_dim1_on_0d": lambda lib: lib.tensor(1.).median(1),
    "topk_dim1_on_0d": lambda lib: lib.tensor(1.).topk(1, dim=1),
    "flip_dim1_on_0d": lambda lib: lib.tensor(1.).flip(1),
    "flip_dim0_on_0d": lambda lib: lib.tensor(1.).flip(0),
    "transpose_on_0d": lambda lib: lib.tensor(1.).transpose(0, 1),
    "roll_dim1_on_0d": lambda lib: lib.tensor(1.).roll(1, 1),
    "chunk_0d": lambda lib: lib.tensor(1.).chunk(1),
    "split_0d": lambda lib: lib.tensor(1.).split(1),
    "diff_0d": lambda lib: lib.tensor(1.).diff(),
    "tril_1d": lambda lib: lib.ones(3).tril(),
    # integer division by zero
    "int_floor_divide_by_zero": lambda lib: lib.tensor([1, 2]) // 0,
    "int_remainder_by_zero": lambda lib: lib.tensor([1, 2]) % 0,
    "int_fmod_by_zero": lambda lib: lib.fmod(lib.tensor([3, 4]), 0),
    "int_div_trunc_by_zero": lambda lib: lib.div(lib.tensor([3, 4]), 0, rounding_mode="trunc"),
    "int_remainder_by_zero_tensor": lambda lib: lib.remainder(lib.tensor([3, 4]), lib.tensor([0, 1])),
    "python_int_floordiv_by_zero_tensor": lambda lib: 5 // lib.tensor([0, 1]),
    "float_floor_divide_by_zero": lambda lib: lib.tensor([3., -4., 0.]) // 0,
    "float_fmod_by_zero": lambda lib: lib.fmod(lib.tensor([3, 4]), 0.0),
    "bool_floor_divide": lambda lib: lib.tensor(True) // lib.tensor(False),
    # div with rounding: requires grad, zero gradient (PyTorch's DivBackward2)
    "div_floor_requires_grad": lambda lib: _rounded(lib, "floor"),
    "div_trunc_requires_grad": lambda lib: _rounded(lib, "trunc"),
    "div_bad_rounding_mode": lambda lib: lib.div(lib.ones(2), 2, rounding_mode="round"),
    "floor_divide_requires_grad_backward_raises": lambda lib: _floor_divide_backward(lib),
    # creation
    "arange_wrong_sign": lambda lib: lib.arange(0, 10, -1),
    "arange_float_wrong_sign": lambda lib: lib.arange(1.0, 0.0, 0.5),
    "arange_empty_ok": lambda lib: lib.arange(5, 5, -1),
    # dtypes PyTorch has no kernel for
    "softmax_of_integers": lambda lib: lib.softmax(lib.tensor([1, 2]), 0),
    "log_softmax_of_integers": lambda lib: lib.log_softmax(lib.tensor([1, 2]), 0),
    "softmax_of_integers_with_dtype": lambda lib: lib.softmax(lib.tensor([1, 2]), 0, dtype=lib.float64),
    "bool_matmul": lambda lib: lib.tensor([[True]]) @ lib.tensor([[True]]),
    "bool_mm": lambda lib: lib.mm(lib.tensor([[True]]), lib.tensor([[True]])),
    "bool_mv": lambda lib: lib.tensor([[True]]) @ lib.tensor([True]),
    "bool_dot": lambda lib: lib.tensor([True]) @ lib.tensor([True]),
    "bool_bmm": lambda lib: lib.bmm(lib.ones(1, 1, 1, dtype=lib.bool), lib.ones(1, 1, 1, dtype=lib.bool)),
    "int_matmul_ok": lambda lib: lib.tensor([[2]]) @ lib.tensor([[3]]),
    # losses
    "cross_entropy_int32_target": lambda lib: F(lib).cross_entropy(lib.zeros(2, 3), lib.tensor([0, 1], dtype=lib.int32)),
    "cross_entropy_uint8_target_ok": lambda lib: F(lib).cross_entropy(lib.zeros(2, 3), lib.tensor([0, 1], dtype=lib.uint8)),
    "nll_int16_target": lambda lib: F(lib).nll_loss(lib.zeros(2, 3), lib.tensor([0, 1], dtype=lib.int16)),
    "cross_entropy_bool_target": lambda lib: F(lib).cross_entropy(lib.zeros(2, 3), lib.tensor([True, False])),
    "mse_integers": lambda lib: F(lib).mse_loss(lib.tensor([1, 2]), lib.tensor([1, 3])),
    "mse_float_and_int_target": lambda lib: F(lib).mse_loss(lib.tensor([1., 0.]), lib.tensor([1, 1])),
    "mse_int_input_float_target": lambda lib: F(lib).mse_loss(lib.tensor([1, 0]), lib.tensor([1., 1.])),
    "huber_integers": lambda lib: F(lib).huber_loss(lib.tensor([1, 0]), lib.tensor([1, 1])),
    "smooth_l1_integers": lambda lib: F(lib).smooth_l1_loss(lib.tensor([1, 0]), lib.tensor([1, 1])),
    "l1_integers": lambda lib: F(lib).l1_loss(lib.tensor([1, 0]), lib.tensor([1, 1])),
    "bce_integers": lambda lib: F(lib).binary_cross_entropy(lib.tensor([1, 0]), lib.tensor([1, 1])),
    "bce_input_above_one": lambda lib: F(lib).binary_cross_entropy(lib.tensor([1.5]), lib.tensor([1.0])),
    "bce_target_above_one": lambda lib: F(lib).binary_cross_entropy(lib.tensor([0.5]), lib.tensor([2.0])),
    "bce_target_negative": lambda lib: F(lib).binary_cross_entropy(lib.tensor([0.5]), lib.tensor([-0.5])),
    "bce_nan_input": lambda lib: F(lib).binary_cross_entropy(lib.tensor([float("nan")]), lib.tensor([0.5])),
    "bce_nan_target": lambda lib: F(lib).binary_cross_entropy(lib.tensor([0.5]), lib.tensor([float("nan")])),
    "bce_logits_integers": lambda lib: F(lib).binary_cross_entropy_with_logits(lib.tensor([1, 0]), lib.tensor([1, 1])),
    "bce_logits_integer_target": lambda lib: F(lib).binary_cross_entropy_with_logits(lib.tensor([1., 0.]),
                                                                                      lib.tensor([1, 1])),
    "kl_div_integers": lambda lib: F(lib).kl_div(lib.tensor([1, 0]), lib.tensor([1, 1]), reduction="sum"),
    # data
    "dataloader_empty_shuffled": lambda lib: lib.utils.data.DataLoader(
        lib.utils.data.TensorDataset(lib.zeros(0, 2)), shuffle=True),
    "dataloader_empty_in_order_ok": lambda lib: list(lib.utils.data.DataLoader(
        lib.utils.data.TensorDataset(lib.zeros(0, 2)))),
}


def _rounded(lib, mode):
    x = lib.tensor([1.5, -2.5], dtype=lib.float64, requires_grad=True)
    y = lib.div(x, 2.0, rounding_mode=mode)
    assert y.requires_grad
    y.sum().backward()
    return [y, x.grad]


def _floor_divide_backward(lib):
    x = lib.tensor([1.5, -2.5], requires_grad=True)
    y = x // 2
    assert y.requires_grad
    y.sum().backward()


@pytest.mark.parametrize("name", CASES)
def test_raises_or_returns_like_torch(name):
    assert_same_outcome(CASES[name])


@pytest.mark.parametrize("module, hx, expected", [
    ("LSTM", lambda lib: lib.zeros(1, 1, 3), r"LSTM: hx must be a tuple \(h_0, c_0\) of two tensors, got a Tensor"),
    ("LSTM", lambda lib: (lib.zeros(1, 1, 3),), r"got a tuple of 1"),
    ("GRU", lambda lib: (lib.zeros(1, 1, 3), lib.zeros(1, 1, 3)), r"GRU: hx must be one tensor h_0"),
    ("LSTMCell", lambda lib: lib.zeros(1, 3), r"LSTMCell: hx must be a tuple \(h_0, c_0\)"),
])
def test_recurrent_state_of_the_wrong_kind_is_named(module, hx, expected):
    """PyTorch fails here with an IndexError or AttributeError from deep inside; chainrule raises
    when called too, and says what the state should be."""
    layer = getattr(chainrule.nn, module)(2, 3)
    x = chainrule.zeros(1, 1, 2) if not module.endswith("Cell") else chainrule.zeros(1, 2)
    with pytest.raises(TypeError, match=expected):
        layer(x, hx(chainrule))

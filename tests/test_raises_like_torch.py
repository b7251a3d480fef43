"""Where PyTorch raises, chainrule raises the same exception type (with its own clear wording);
where PyTorch returns, so does chainrule, with the same result. Each case once returned something
quietly in chainrule."""
import math

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
    # the fused layers' dtypes (each once computed something PyTorch refuses, or refused what it computes)
    "linear_bool": lambda lib: F(lib).linear(lib.ones(2, 3, dtype=lib.bool), lib.ones(4, 3, dtype=lib.bool)),
    "linear_int_ok": lambda lib: F(lib).linear(lib.ones(2, 3, dtype=lib.int64), lib.ones(4, 3, dtype=lib.int64)),
    "linear_bool_input_float_weight": lambda lib: F(lib).linear(lib.ones(2, 3, dtype=lib.bool), lib.ones(4, 3)),
    "layer_norm_integers": lambda lib: F(lib).layer_norm(lib.arange(6).reshape(2, 3), (3,)),
    "layer_norm_float64_input_float32_weight": lambda lib: F(lib).layer_norm(
        lib.ones(2, 3, dtype=lib.float64), (3,), lib.ones(3)),
    "layer_norm_float32_input_float64_bias": lambda lib: F(lib).layer_norm(
        lib.ones(2, 3), (3,), None, lib.ones(3, dtype=lib.float64)),
    "layer_norm_half_input_float32_weight_ok": lambda lib: F(lib).layer_norm(
        lib.arange(6.).reshape(2, 3).half(), (3,), lib.ones(3), lib.ones(3)),
    "layer_norm_module_float64_input": lambda lib: lib.nn.LayerNorm(3)(lib.ones(2, 3, dtype=lib.float64)),
    "batch_norm_integers": lambda lib: F(lib).batch_norm(lib.arange(6).reshape(2, 3), None, None, training=True),
    "batch_norm_float32_running_stats": lambda lib: F(lib).batch_norm(
        lib.arange(6.).reshape(2, 3).double(), lib.zeros(3), lib.ones(3), training=True),
    "batch_norm_float32_weight": lambda lib: F(lib).batch_norm(
        lib.arange(6.).reshape(2, 3).double(), None, None, lib.ones(3), training=True),
    "group_norm_integers": lambda lib: F(lib).group_norm(lib.arange(6).reshape(2, 3), 1),
    "max_pool1d_integers": lambda lib: F(lib).max_pool1d(lib.arange(8).reshape(1, 2, 4), 2),
    "max_pool2d_integers_ok": lambda lib: F(lib).max_pool2d(lib.arange(8).reshape(1, 2, 4), 2),
    "max_pool2d_bool": lambda lib: F(lib).max_pool2d(lib.ones(1, 2, 4, dtype=lib.bool), 2),
    "avg_pool1d_int64_rounds_toward_zero": lambda lib: F(lib).avg_pool1d(
        lib.tensor([[[-7, 3, 5, -2, 8, 1, -9, 4]]]), 3, 2, 1, count_include_pad=False),
    "avg_pool2d_int64_divisor_override": lambda lib: F(lib).avg_pool2d(
        lib.tensor([[[[-7, 3, 5, -2, 8, 1]]]]), (1, 3), divisor_override=2),
    "avg_pool2d_int32": lambda lib: F(lib).avg_pool2d(lib.ones(1, 2, 4, dtype=lib.int32), 2),
    "avg_pool1d_bool": lambda lib: F(lib).avg_pool1d(lib.ones(1, 2, 4, dtype=lib.bool), 2),
    "attention_mixed_dtypes": lambda lib: F(lib).scaled_dot_product_attention(
        lib.ones(1, 2, 3), lib.ones(1, 2, 3, dtype=lib.float64), lib.ones(1, 2, 3, dtype=lib.float64)),
    "attention_integers": lambda lib: F(lib).scaled_dot_product_attention(*[lib.ones(1, 2, 3, dtype=lib.int64)] * 3),
    "attention_float32_mask_on_float64_ok": lambda lib: F(lib).scaled_dot_product_attention(
        *[lib.arange(6.).reshape(1, 2, 3).double()] * 3, attn_mask=lib.tensor([[0., -1.], [0.5, 0.]])),
    "attention_int_mask": lambda lib: F(lib).scaled_dot_product_attention(
        *[lib.ones(1, 2, 3)] * 3, attn_mask=lib.ones(2, 2, dtype=lib.int64)),
    "lstm_float64_input_float32_weights": lambda lib: lib.nn.LSTM(3, 2)(lib.ones(1, 1, 3, dtype=lib.float64)),
    "gru_integer_input": lambda lib: lib.nn.GRU(3, 2)(lib.ones(1, 1, 3, dtype=lib.int64)),
    "gelu_integers": lambda lib: F(lib).gelu(lib.tensor([1, 2])),
    # norms: a group of one element is |x| (no overflow); groups of more overflow as PyTorch's do
    "norm_single_huge_element": lambda lib: lib.tensor([1e300], dtype=lib.float64).norm(),
    "norm_single_element_groups": lambda lib: lib.tensor([[1e300], [-2.0]], dtype=lib.float64).norm(dim=1),
    "norm_p3_single_element": lambda lib: lib.tensor([1e200], dtype=lib.float64).norm(3),
    "norm_overflows": lambda lib: lib.tensor([1e300, 0.0], dtype=lib.float64).norm(),
    "norm_underflows": lambda lib: lib.tensor([1e-200, 1e-200], dtype=lib.float64).norm(),
    "norm_p_negative_grad_at_zero": lambda lib: _grad(lib, lambda x: x.norm(-1), [0.0, 1.5, -2.0]),
    "norm_p_half_grad_at_zero": lambda lib: _grad(lib, lambda x: x.norm(0.5), [0.0, 1.5, -2.0]),
    "norm_p3_grad_of_zero_norm": lambda lib: _grad(lib, lambda x: x.norm(3), [0.0, -0.0]),
    "norm_p3_keeps_minus_zero": lambda lib: _grad(lib, lambda x: x.norm(3), [-0.0, 3.0]),
    "norm_p3_result_modified_in_place": lambda lib: _grad(lib, lambda x: x.norm(3).mul_(2), [1.0, 2.0]),
    # var and std: PyTorch's backward (no NaN from an inf, zeros where std = 0)
    "var_grad_with_inf": lambda lib: _grad(lib, lambda x: x.var(), [math.inf, 1.0, 2.0]),
    "std_grad_of_constant": lambda lib: _grad(lib, lambda x: x.std(), [1.0, 1.0, 1.0]),
    "std_dim_grad": lambda lib: _grad(lib, lambda x: x.std(1, keepdim=True) * 3, [[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]]),
    # sqrt and rsqrt as PyTorch's ** 0.5 and ** -0.5: -0.0 stays -0.0, its gradient -inf
    "pow_half_grad_at_minus_zero": lambda lib: _grad(lib, lambda x: x ** 0.5, [-0.0, 4.0]),
    "pow_minus_half_at_minus_zero": lambda lib: (lib.tensor([-0.0, 4.0], dtype=lib.float64) ** -0.5).sign(),
    # gather of a 0-d tensor is a copy, not a view
    "gather_0d_copy": lambda lib: _gather_0d(lib),
    # an in-place op never grows its tensor (NumPy would drop the extra leading size-1 dims)
    "add_inplace_more_dims": lambda lib: lib.tensor(1.0).add_(lib.tensor([2.0])),
    "mul_inplace_more_dims": lambda lib: lib.zeros(3).mul_(lib.ones(1, 3)),
    "copy_inplace_more_dims": lambda lib: lib.tensor(1.0).copy_(lib.tensor([2.0])),
    # max pooling: a window of -inf and padding picks the element inside the input
    "max_pool1d_all_minus_inf_with_padding": lambda lib: lib.nn.functional.max_pool1d(
        lib.full((1, 1, 3), -math.inf), 2, stride=2, padding=1, return_indices=True),
    "max_pool1d_length_one_padded": lambda lib: lib.nn.functional.max_pool1d(lib.tensor([[0.0], [-math.inf]]), 2,
                                                                             padding=1),
    # fused layers on zero-size inputs
    "linear_no_in_features": lambda lib: _grad(lib, lambda x: F(lib).linear(x, lib.ones(3, 0, dtype=lib.float64),
                                                                            lib.ones(3, dtype=lib.float64)),
                                               [[]]),
    "layer_norm_zero_size": lambda lib: _grad(lib, lambda x: F(lib).layer_norm(x, (0,)), [[]]),
    "attention_no_features": lambda lib: F(lib).scaled_dot_product_attention(
        lib.zeros(2, 0), lib.zeros(2, 0), lib.arange(6.).reshape(2, 3)),
    "attention_no_keys": lambda lib: F(lib).scaled_dot_product_attention(lib.ones(2, 3), lib.ones(0, 3),
                                                                         lib.ones(0, 4)),
    "batch_norm_one_value_per_channel": lambda lib: F(lib).batch_norm(lib.ones(1, 0), None, None, training=True),
    "batch_norm_0d": lambda lib: F(lib).batch_norm(lib.tensor(1.0), None, None, training=True),
    "rnn_input_size_zero": lambda lib: lib.nn.GRU(0, 2),
    # PyTorch's order of checks: the shapes broadcast before two bools are refused; bool before emptiness
    "bool_div_trunc_shapes_first": lambda lib: lib.div(lib.ones(2, 2, dtype=lib.bool), lib.ones(3, dtype=lib.bool),
                                                       rounding_mode="trunc"),
    "bool_remainder_shapes_first": lambda lib: lib.remainder(lib.ones(2, 2, dtype=lib.bool),
                                                             lib.ones(3, dtype=lib.bool)),
    "bool_pow_shapes_first": lambda lib: lib.pow(lib.ones(2, 2, dtype=lib.bool), lib.ones(3, dtype=lib.bool)),
    "argmax_empty_bool": lambda lib: lib.ones(0, dtype=lib.bool).argmax(0),
    "masked_fill_bool_with_tiny_number": lambda lib: lib.tensor([True, False]).masked_fill(
        lib.tensor([False, True]), 1e-300),
    "masked_fill_int_with_float": lambda lib: lib.tensor([1, 2]).masked_fill(lib.tensor([False, True]), 2.7),
    "erf_0d_float32": lambda lib: lib.erf(lib.tensor(0.5)),
    "softplus_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.softplus),
    "leaky_relu_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.leaky_relu),
    "elu_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.elu),
    "celu_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.celu),
    "hardsigmoid_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.hardsigmoid),
    "logsigmoid_input_changed_in_place": lambda lib: _changed_after(lib, lib.nn.functional.logsigmoid),
    "norm_p1_result_changed_in_place": lambda lib: _grad(lib, lambda x: x.norm(1).mul_(2), [1.0, -2.0]),
    "norm_one_element_result_changed_in_place": lambda lib: _grad(lib, lambda x: x.norm().mul_(2), [-2.0]),
    "number_over_tensor_then_tensor_changed": lambda lib: _number_over_tensor(lib),
    "int_floor_divide_by_zero_empty": lambda lib: lib.zeros(2, 0, dtype=lib.int64) // 0,
    "max_pool1d_zero_channels": lambda lib: lib.nn.functional.max_pool1d(lib.zeros(2, 0, 2), 1),
    "avg_pool2d_zero_height": lambda lib: lib.nn.functional.avg_pool2d(lib.zeros(1, 1, 0, 2), 1),
    "max_pool2d_empty_batch": lambda lib: _grad(lib, lambda x: lib.nn.functional.max_pool2d(x.reshape(0, 2, 4, 4), 2),
                                                []),
    "setitem_of_itself_through_a_full_slice": lambda lib: _setitem_itself(lib),
    "int_tensor_to_float32_tensor_power": lambda lib: lib.tensor([2, 3]) ** lib.tensor([0.5, 2.0]),
    "int_tensor_to_half_tensor_power": lambda lib: lib.tensor([2, 3]) ** lib.tensor([0.5, 2.0]).half(),
    "index_select_empty_1d": lambda lib: lib.zeros(0).index_select(0, lib.tensor([0])),
    "index_select_empty_dim_2d": lambda lib: lib.zeros(2, 0).index_select(1, lib.tensor([0])),
    "norm_p0_result_changed_in_place": lambda lib: _grad(lib, lambda x: x * x.norm(0).mul_(2), [1.0, 0.0]),
    "stack_dim_checked_before_sizes": lambda lib: lib.stack([lib.tensor(1.0), lib.ones(2, 2)], 2),
    "gru_batch_first_input_changed_after": lambda lib: _rnn_input_changed(lib, batch_first=True),
    "gru_input_changed_after": lambda lib: _rnn_input_changed(lib, batch_first=False),
    "matmul_batched_empty_contraction": lambda lib: _grad(lib, lambda x: x.reshape(2, 3, 0) @ lib.ones(
        0, 3, dtype=lib.float64), []),
    "matmul_batched_empty_output": lambda lib: _grad(lib, lambda x: x.reshape(2, 3, 1) @ lib.ones(
        1, 0, dtype=lib.float64), [0.5] * 6),
    "batch_norm_empty_1d": lambda lib: F(lib).batch_norm(lib.zeros(0), None, None, training=True),
    "gru_empty_batch": lambda lib: _rnn_outputs(lib, (2, 0, 3)),
    "gru_empty_batch_batch_first": lambda lib: _rnn_outputs(lib, (0, 2, 3), batch_first=True),
    "view_of_split_output_changed_under_no_grad": lambda lib: _view_of_split_output(lib),
    "minus_zero_over_tiny_grad": lambda lib: _grad(lib, lambda x: -0.0 / x, [1e-300, 2.0]),
    # cat of inputs that are all skipped (1-D empty) still records
    "cat_of_empty_requires_grad": lambda lib: _cat_empty(lib),
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


def _grad(lib, fn, values):
    x = lib.tensor(values, dtype=lib.float64, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return [y, x.grad]


def _changed_after(lib, fn):
    """fn's PyTorch op keeps its input: changing the input in place before backward is refused."""
    x = lib.tensor([0.3, -1.2], dtype=lib.float64, requires_grad=True)
    y = x * 1
    z = fn(y)
    y.mul_(2)
    z.sum().backward()
    return x.grad


def _number_over_tensor(lib):
    """2 / y is y.reciprocal() * 2 in PyTorch: it keeps its result, not y, so changing y is allowed."""
    x = lib.tensor([0.3, -2.0], dtype=lib.float64, requires_grad=True)
    y = x * 1
    z = 2.0 / y
    y.mul_(2)
    z.sum().backward()
    return [z, x.grad]


def _setitem_itself(lib):
    x = lib.tensor([[1, 2, 3]])
    x[:, 0:] = x
    return x


def _rnn_input_changed(lib, batch_first):
    """PyTorch's RNN keeps a contiguous copy of a batch_first input, the input itself otherwise."""
    lib.manual_seed(0)
    layer = lib.nn.GRU(4, 2, batch_first=batch_first).double()
    y = lib.ones(2, 3, 4, dtype=lib.float64, requires_grad=True) * 1
    out = layer(y)[0]
    y.sub_(1)
    out.sum().backward()


def _rnn_outputs(lib, shape, batch_first=False):
    lib.manual_seed(0)
    layer = lib.nn.GRU(3, 2, batch_first=batch_first)
    x = lib.zeros(shape, requires_grad=True)
    out = layer(x)[0]
    out.sum().backward()
    return [out, x.grad]


def _view_of_split_output(lib):
    """A view of a split output inherits its refusal: changed under no_grad, it is not differentiated."""
    x = lib.ones(2, 4, requires_grad=True)
    first, _ = (x * 1).split(2, 1)
    diagonal = first.diagonal()
    with lib.no_grad():
        diagonal.mul_(2)
    diagonal.sum().backward()


def _gather_0d(lib):
    x = lib.tensor(3.0)
    picked = x.gather(0, lib.tensor(0))
    x.mul_(2)
    return picked


def _cat_empty(lib):
    a = lib.zeros(0, dtype=lib.float64, requires_grad=True)
    y = lib.cat([a, lib.zeros(0)])
    assert y.requires_grad
    y.sum().backward()
    return [y, a.grad]


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

"""Pooling, interpolation, channel dropout and the 2-D normalisations against PyTorch.

Forward values (and returned indices) and input gradients, float64, over grids of kernel sizes,
strides, paddings, dilations, ceil_mode and count_include_pad, odd and even sizes, batch 1 and > 1.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.nn import functional_dropout2d as DF  # noqa: E402
from chainrule.nn import functional_pool as PF  # noqa: E402
from chainrule.nn import Dropout2d  # noqa: E402
from chainrule.nn import (AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, MaxPool1d,  # noqa: E402
                                          MaxPool2d)
from oracle import assert_same, check  # noqa: E402

TF = torch.nn.functional


def run(name, inputs, **kwargs):
    cr, th = getattr(PF, name), getattr(TF, name)
    return check(lambda lib, *a: cr(*a, **kwargs), inputs, torch_fn=lambda lib, *a: th(*a, **kwargs))


# ----- max pooling --------------------------------------------------------------------------------
MAX2D = [
    ((1, 1, 4, 4), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 7), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((2, 2, 8, 9), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1), ceil_mode=True)),
    ((3, 2, 6, 5), dict(kernel_size=2, stride=1)),
    ((2, 2, 9, 9), dict(kernel_size=3, dilation=2, padding=1)),
]


@pytest.mark.parametrize("x_shape,kwargs", MAX2D)
@pytest.mark.parametrize("return_indices", [False, True])
def test_max_pool2d_matches_torch(x_shape, kwargs, return_indices):
    run("max_pool2d", [x_shape], return_indices=return_indices, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=2, dilation=3, return_indices=True)])
def test_max_pool1d_matches_torch(kwargs):
    run("max_pool1d", [(2, 3, 11)], **kwargs)


def test_max_pool_ties_pick_the_first_maximum():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 0, 1] = 5.0   # a tie inside the first window
    run("max_pool2d", [x], kernel_size=2, return_indices=True)


def test_max_pool_unbatched():
    run("max_pool2d", [(3, 6, 5)], kernel_size=2, return_indices=True)


def test_max_pool_rejects_too_much_padding():
    with pytest.raises(RuntimeError, match="pad should be smaller than or equal to half of kernel size"):
        PF.max_pool2d(chainrule.zeros(1, 1, 4, 4), 2, padding=2)


# ----- average pooling ----------------------------------------------------------------------------
AVG2D = [
    ((1, 1, 4, 4), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 2, 8, 9), dict(kernel_size=(2, 3), stride=(3, 2), padding=(1, 1), ceil_mode=True)),
    ((2, 2, 6, 6), dict(kernel_size=3, divisor_override=2)),
]


@pytest.mark.parametrize("x_shape,kwargs", AVG2D)
def test_avg_pool2d_matches_torch(x_shape, kwargs):
    run("avg_pool2d", [x_shape], **kwargs)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)])
def test_avg_pool1d_matches_torch(kwargs):
    run("avg_pool1d", [(2, 3, 10)], **kwargs)


# ----- adaptive average pooling -------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,output_size", [((2, 3, 7, 8), (3, 3)), ((1, 2, 7, 8), 1),
                                                 ((2, 2, 5, 9), (4, 5)), ((2, 2, 6, 6), (None, 2)),
                                                 ((2, 2, 5, 5), (7, 8))])
def test_adaptive_avg_pool2d_matches_torch(x_shape, output_size):
    run("adaptive_avg_pool2d", [x_shape], output_size=output_size)


def test_adaptive_avg_pool1d_matches_torch():
    run("adaptive_avg_pool1d", [(2, 3, 11)], output_size=4)


# ----- interpolate --------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,kwargs", [
    ((2, 3, 4, 5), dict(scale_factor=2)),
    ((1, 2, 7, 8), dict(size=(5, 13))),
    ((2, 2, 7, 8), dict(scale_factor=(1.7, 0.6))),
    ((2, 2, 7, 8), dict(scale_factor=2.5, recompute_scale_factor=True)),
    ((2, 3, 7), dict(size=13)),
    ((2, 3, 9), dict(scale_factor=0.5)),
])
def test_interpolate_nearest_matches_torch(x_shape, kwargs):
    check(lambda lib, x: PF.interpolate(x, **kwargs), [x_shape],
          torch_fn=lambda lib, x: TF.interpolate(x, mode="nearest", **kwargs))


def test_interpolate_errors():
    x = chainrule.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        PF.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(NotImplementedError, match="bicubic"):
        PF.interpolate(x, size=2, mode="bicubic")


# ----- modules ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cr_layer,th_layer,x_shape", [
    (MaxPool2d(3, 2, 1), torch.nn.MaxPool2d(3, 2, 1), (2, 3, 8, 8)),
    (MaxPool1d(2), torch.nn.MaxPool1d(2), (2, 3, 9)),
    (AvgPool2d(2, ceil_mode=True), torch.nn.AvgPool2d(2, ceil_mode=True), (2, 3, 7, 7)),
    (AvgPool1d(3, 1, 1, count_include_pad=False), torch.nn.AvgPool1d(3, 1, 1, count_include_pad=False), (2, 3, 7)),
    (AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 7)),
])
def test_pool_modules_match_torch(cr_layer, th_layer, x_shape):
    check(lambda lib, x: cr_layer(x), [x_shape], torch_fn=lambda lib, x: th_layer(x))


def test_max_pool2d_module_returns_indices():
    check(lambda lib, x: MaxPool2d(2, return_indices=True)(x), [(1, 2, 6, 6)],
          torch_fn=lambda lib, x: torch.nn.MaxPool2d(2, return_indices=True)(x))


# ----- channel dropout ----------------------------------------------------------------------------
def test_dropout2d_zeroes_whole_channels_and_scales():
    chainrule.manual_seed(0)
    x = chainrule.ones(64, 32, 3, 3, requires_grad=True)
    y = DF.dropout2d(x, p=0.25)
    a = y.detach().numpy()
    per_channel = a.reshape(64, 32, 9)
    # every channel is all-zero or all 1/(1-p): one draw per (sample, channel)
    assert np.all((per_channel == 0).all(-1) | np.isclose(per_channel, 1 / 0.75).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.18 < dropped < 0.32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), a)   # d(x*mask)/dx = mask


def test_dropout2d_eval_and_edge_probabilities():
    x = chainrule.randn(2, 3, 4, 4)
    assert DF.dropout2d(x, 0.5, training=False) is x
    assert (DF.dropout2d(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        DF.dropout2d(x, 1.5)
    m = Dropout2d(0.5)
    m.eval()
    assert m(x) is x


def test_dropout2d_3d_input_is_channelwise_1d_like_torch():
    chainrule.manual_seed(1)
    with pytest.warns(UserWarning, match="3D input"):
        y = DF.dropout2d(chainrule.ones(8, 16, 5), 0.5).numpy()
    assert np.all((y == 0).all(-1) | (y == 2).all(-1))   # one draw per (dim0, dim1) pair


# ----- normalisation over (N, C, H, W) ------------------------------------------------------------
def test_batch_norm2d_module_train_and_eval_match_torch():
    from chainrule.nn import BatchNorm2d
    m, t = BatchNorm2d(3).double(), torch.nn.BatchNorm2d(3).double()
    rng = np.random.default_rng(0)
    with chainrule.no_grad():
        m.weight.copy_(chainrule.tensor(rng.uniform(0.5, 1.5, 3)))
        m.bias.copy_(chainrule.tensor(rng.standard_normal(3)))
    t.weight.data, t.bias.data = torch.tensor(m.weight.detach().numpy().copy()), torch.tensor(m.bias.detach().numpy().copy())
    for _ in range(2):   # train steps update the running statistics
        check(lambda lib, x: m(x), [rng.standard_normal((4, 3, 5, 6)) * 2 + 1], torch_fn=lambda lib, x: t(x))
    assert_same(m.running_mean, t.running_mean, "running_mean")
    assert_same(m.running_var, t.running_var, "running_var")
    m.eval()
    t.eval()
    check(lambda lib, x: m(x), [(2, 3, 5, 6)], torch_fn=lambda lib, x: t(x))


@pytest.mark.parametrize("groups,affine", [(1, True), (2, True), (4, False)])
def test_group_norm_matches_torch(groups, affine):
    from chainrule.nn import GroupNorm
    m, t = GroupNorm(groups, 4, affine=affine).double(), torch.nn.GroupNorm(groups, 4, affine=affine).double()
    if affine:
        rng = np.random.default_rng(0)
        with chainrule.no_grad():
            m.weight.copy_(chainrule.tensor(rng.uniform(0.5, 1.5, 4)))
        t.weight.data = torch.tensor(m.weight.detach().numpy().copy())
    check(lambda lib, x: m(x), [(3, 4, 5, 5)], torch_fn=lambda lib, x: t(x))

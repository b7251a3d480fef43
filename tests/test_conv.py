"""Convolutions against PyTorch: conv1d/conv2d/conv_transpose1d/2d, unfold/fold, and the Conv modules.

Every case runs the same float64 inputs through chainrule and torch and compares the output and
the gradients of input, weight and bias (the oracle in ``oracle.check``), over grids of strides,
paddings (including 'same'/'valid'), dilations, groups, odd and even sizes, batch 1 and > 1.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.nn import functional_conv as CF  # noqa: E402
from chainrule.nn import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d  # noqa: E402
from oracle import assert_same, check  # noqa: E402

TF = torch.nn.functional


def both(name):
    """``fn(lib, ...)`` calling chainrule's or torch's functional ``name``."""
    return (lambda lib, *a, **k: getattr(CF, name)(*a, **k),
            lambda lib, *a, **k: getattr(TF, name)(*a, **k))


def run(name, inputs, **kwargs):
    cr, th = both(name)
    check(lambda lib, *a: cr(lib, *a, **kwargs), inputs, torch_fn=lambda lib, *a: th(lib, *a, **kwargs))


# ----- conv2d -------------------------------------------------------------------------------------
CONV2D_CASES = [
    # (N, C_in, H, W), (C_out, kh, kw), kwargs
    ((1, 1, 5, 5), (1, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3), dict(padding=1)),
    ((2, 3, 8, 8), (4, 2, 2), dict(stride=2)),
    ((3, 2, 9, 7), (5, 3, 2), dict(stride=(2, 3), padding=(1, 2))),
    ((2, 4, 7, 7), (6, 3, 3), dict(groups=2, padding=1)),
    ((2, 4, 9, 8), (4, 3, 3), dict(groups=4, stride=2, padding=1)),        # depthwise
    ((2, 3, 10, 9), (2, 3, 3), dict(dilation=2, padding=2)),
    ((2, 3, 10, 9), (2, 2, 3), dict(dilation=(2, 1), stride=(1, 2))),
    ((2, 3, 6, 7), (4, 3, 3), dict(padding="same")),
    ((1, 2, 6, 7), (3, 4, 2), dict(padding="same")),                       # even kernel: extra pad right
    ((2, 2, 9, 8), (3, 3, 4), dict(padding="same", dilation=2)),
    ((2, 3, 6, 7), (4, 3, 3), dict(padding="valid")),
    ((2, 6, 5, 5), (4, 1, 1), dict(groups=2)),                             # 1x1 kernel
    ((2, 3, 4, 4), (2, 4, 4), {}),                                         # kernel covers the input
]


@pytest.mark.parametrize("x_shape,w_spec,kwargs", CONV2D_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_matches_torch(x_shape, w_spec, kwargs, with_bias):
    c_out, kh, kw = w_spec
    groups = kwargs.get("groups", 1)
    w_shape = (c_out, x_shape[1] // groups, kh, kw)
    inputs = [x_shape, w_shape] + ([(c_out,)] if with_bias else [])
    if with_bias:
        run("conv2d", inputs, **kwargs)
    else:
        cr = lambda lib, x, w: CF.conv2d(x, w, None, **kwargs)  # noqa: E731
        th = lambda lib, x, w: TF.conv2d(x, w, None, **kwargs)  # noqa: E731
        check(cr, inputs, torch_fn=th)


def test_conv2d_unbatched_input():
    run("conv2d", [(3, 6, 5), (2, 3, 3, 3), (2,)], padding=1)


# ----- conv1d -------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,w_shape,kwargs", [
    ((1, 1, 7), (1, 1, 3), {}),
    ((3, 2, 10), (4, 2, 3), dict(stride=2, padding=1)),
    ((2, 4, 11), (6, 2, 4), dict(groups=2, dilation=2, padding=3)),
    ((2, 3, 8), (5, 3, 4), dict(padding="same")),
    ((2, 3, 9), (5, 3, 3), dict(padding="same", dilation=3)),
    ((2, 3, 9), (5, 3, 5), dict(padding="valid", stride=3)),
])
def test_conv1d_matches_torch(x_shape, w_shape, kwargs):
    run("conv1d", [x_shape, w_shape, (w_shape[0],)], **kwargs)


# ----- transposed convolutions ----------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,w_spec,kwargs", [
    ((1, 1, 4, 4), (1, 3, 3), {}),
    ((2, 3, 5, 4), (2, 3, 3), dict(stride=2)),
    ((2, 3, 5, 4), (2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 4, 5), (3, 2, 3), dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2), groups=2)),
    ((2, 2, 5, 5), (3, 3, 2), dict(dilation=2, padding=1)),
    ((3, 2, 3, 4), (2, 4, 4), dict(stride=2, padding=1)),     # the classic 2x upsampler
    ((2, 4, 3, 3), (1, 3, 3), dict(groups=4, stride=3, dilation=2, output_padding=1)),
])
def test_conv_transpose2d_matches_torch(x_shape, w_spec, kwargs):
    c_out_per_group, kh, kw = w_spec
    groups = kwargs.get("groups", 1)
    run("conv_transpose2d", [x_shape, (x_shape[1], c_out_per_group, kh, kw), (c_out_per_group * groups,)], **kwargs)


@pytest.mark.parametrize("kwargs", [{}, dict(stride=2, padding=1, output_padding=1), dict(dilation=2, groups=2)])
def test_conv_transpose1d_matches_torch(kwargs):
    groups = kwargs.get("groups", 1)
    run("conv_transpose1d", [(2, 4, 7), (4, 3, 3), (3 * groups,)], **kwargs)


# ----- unfold / fold ------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape,kwargs", [
    ((1, 1, 4, 4), dict(kernel_size=2)),
    ((2, 3, 7, 8), dict(kernel_size=(2, 3), dilation=2, padding=1, stride=(1, 2))),
    ((2, 2, 6, 6), dict(kernel_size=3, stride=3)),
])
def test_unfold_and_fold_match_torch(x_shape, kwargs):
    run("unfold", [x_shape], **kwargs)
    cols = TF.unfold(torch.zeros(x_shape), **kwargs)
    run("fold", [tuple(cols.shape)], output_size=x_shape[2:], **kwargs)


def test_fold_rejects_wrong_block_count():
    with pytest.raises(RuntimeError, match="blocks"):
        CF.fold(chainrule.zeros(1, 4, 5), output_size=(4, 4), kernel_size=2)


# ----- second derivatives -------------------------------------------------------------------------
def test_conv2d_gradgradcheck():
    rng = np.random.default_rng(0)
    x = chainrule.tensor(rng.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = chainrule.tensor(rng.standard_normal((2, 1, 2, 2)), requires_grad=True)
    b = chainrule.tensor(rng.standard_normal(2), requires_grad=True)
    fn = lambda x, w, b: CF.conv2d(x, w, b, stride=2, padding=1, groups=2)  # noqa: E731
    assert chainrule.autograd.gradcheck(fn, (x, w, b))
    assert chainrule.autograd.gradgradcheck(fn, (x, w, b))


@pytest.mark.parametrize("name,kwargs", [("conv2d", dict(stride=2, padding=1, dilation=1)),
                                         ("conv_transpose2d", dict(stride=2, padding=1, output_padding=1))])
def test_double_backward_matches_torch(name, kwargs):
    """d/d(x, w) of <grad_x, v>: the backward of the backward, against torch's."""
    rng = np.random.default_rng(1)
    xa, wa = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((3, 3, 3, 3))
    results = []
    for lib, fn in ((chainrule, getattr(CF, name)), (torch, getattr(TF, name))):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        out = fn(x, w, **kwargs)
        up = lib.tensor(rng.standard_normal(tuple(out.shape)) if lib is chainrule else results[0][0])
        gx, gw = lib.autograd.grad(out, (x, w), up, create_graph=True)
        v = lib.tensor(np.cos(np.arange(gx.numel())).reshape(tuple(gx.shape)))
        ((gx * v).sum() + (gw * gw).sum()).backward()
        results.append((up.numpy(), out, x.grad, w.grad))
    for a, b, what in zip(results[0][1:], results[1][1:], ("output", "x.grad", "w.grad")):
        assert_same(a, b, what)


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(padding="same", dilation=2), dict(padding=0, groups=2)])
def test_stride1_grid_path_double_backward_matches_torch(kwargs):
    """Stride 1 with C_in/groups x k x k >= 64 GEMM rows takes the padded-grid path; its backward
    of the backward (grid_conv_transpose, grid_col2im) against torch's."""
    rng = np.random.default_rng(2)
    groups = kwargs.get("groups", 1)
    xa = rng.standard_normal((2, 16 if groups == 2 else 8, 6, 5))
    wa = rng.standard_normal((6, 8, 3, 3))
    results = []
    for lib, fn in ((chainrule, CF.conv2d), (torch, TF.conv2d)):
        x, w = lib.tensor(xa, requires_grad=True), lib.tensor(wa, requires_grad=True)
        b = lib.tensor(np.arange(6.0), requires_grad=True)
        out = fn(x, w, b, **kwargs)
        up = lib.tensor(np.sin(np.arange(out.numel())).reshape(tuple(out.shape)))
        gx, gw, gb = lib.autograd.grad(out, (x, w, b), up, create_graph=True)
        v = lib.tensor(np.cos(np.arange(gx.numel())).reshape(tuple(gx.shape)))
        ((gx * v).sum() + (gw * gw).sum()).backward()   # (d out/d b does not depend on b)
        results.append((out, gb, x.grad, w.grad))
    for a, b, what in zip(results[0], results[1], ("output", "bias grad", "x.grad", "w.grad")):
        assert_same(a, b, what)


def test_stride1_grid_path_gradgradcheck_and_image_pieces(monkeypatch):
    """gradgradcheck on the grid path, with a piece size so small that the input gradient is built
    one image at a time."""
    rng = np.random.default_rng(3)
    x = chainrule.tensor(rng.standard_normal((3, 8, 4, 3)), requires_grad=True)
    w = chainrule.tensor(rng.standard_normal((2, 8, 3, 3)), requires_grad=True)
    fn = lambda x, w: CF.conv2d(x, w, padding=1)  # noqa: E731
    assert 8 * 9 >= CF._GRID_MIN_ROWS
    assert chainrule.autograd.gradcheck(fn, (x, w))
    assert chainrule.autograd.gradgradcheck(fn, (x, w))
    monkeypatch.setattr(CF, "_COLS_BYTES", 64)
    assert len(CF._image_chunks(3, 8 * 9 * 4 * 8)) == 3
    out = fn(x, w)
    up = rng.standard_normal(tuple(out.shape))
    gx, gw = chainrule.autograd.grad(out, (x, w), chainrule.tensor(up))
    xt, wt = torch.tensor(x.detach().numpy(), requires_grad=True), torch.tensor(w.detach().numpy(), requires_grad=True)
    tx, tw = torch.autograd.grad(TF.conv2d(xt, wt, padding=1), (xt, wt), torch.tensor(up))
    assert_same(gx, tx, "x.grad built one image at a time")
    assert_same(gw, tw, "w.grad")


# ----- modules ------------------------------------------------------------------------------------
def _copy_params(cr_module, th_module):
    """Give the torch module chainrule's (randomly initialised) parameters, by name."""
    cr_params = dict(cr_module.named_parameters())
    th_params = dict(th_module.named_parameters())
    assert sorted(cr_params) == sorted(th_params)
    for name, p in cr_params.items():
        assert tuple(p.shape) == tuple(th_params[name].shape), name
        th_params[name].data = torch.tensor(p.detach().numpy().copy())


@pytest.mark.parametrize("cls,th_cls,args,kwargs,x_shape", [
    (Conv2d, torch.nn.Conv2d, (3, 6, 3), dict(stride=2, padding=1), (2, 3, 9, 8)),
    (Conv2d, torch.nn.Conv2d, (4, 4, (2, 3)), dict(padding="same", groups=2, bias=False), (1, 4, 6, 7)),
    (Conv1d, torch.nn.Conv1d, (3, 5, 4), dict(dilation=2), (2, 3, 12)),
    (ConvTranspose2d, torch.nn.ConvTranspose2d, (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5, 4)),
    (ConvTranspose1d, torch.nn.ConvTranspose1d, (3, 2, 4), dict(stride=2), (2, 3, 6)),
])
def test_conv_modules_match_torch(cls, th_cls, args, kwargs, x_shape):
    chainrule.manual_seed(0)
    m = cls(*args, **kwargs).double()
    t = th_cls(*args, **kwargs).double()
    _copy_params(m, t)
    rng = np.random.default_rng(0)
    xa = rng.standard_normal(x_shape)
    x, xt = chainrule.tensor(xa, requires_grad=True), torch.tensor(xa, requires_grad=True)
    out, out_t = m(x), t(xt)
    assert_same(out, out_t)
    up = rng.standard_normal(tuple(out_t.shape))
    out.backward(chainrule.tensor(up))
    out_t.backward(torch.tensor(up))
    assert_same(x.grad, xt.grad, "input grad")
    for (name, p), (_, pt) in zip(sorted(m.named_parameters()), sorted(t.named_parameters())):
        assert_same(p.grad, pt.grad, f"{name} grad")
    assert repr(m) == repr(t)


def test_conv2d_default_init_matches_torch_bounds():
    """kaiming_uniform_(a=√5) weight and U(±1/√fan_in) bias: compare the spread with torch's."""
    chainrule.manual_seed(0)
    torch.manual_seed(0)
    m, t = Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 9)
    for p, pt in ((m.weight, t.weight), (m.bias, t.bias)):
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound and np.abs(pt.detach().numpy()).max() <= bound
        assert abs(a.std() - pt.detach().numpy().std()) < 0.15 * bound   # both ≈ bound/√3
    assert m.weight.dtype == chainrule.float32 and m.weight.requires_grad


def test_conv_transpose2d_output_size_argument():
    m, t = ConvTranspose2d(2, 3, 3, stride=2, padding=1).double(), torch.nn.ConvTranspose2d(2, 3, 3, 2, 1).double()
    _copy_params(m, t)
    xa = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    assert_same(m(chainrule.tensor(xa), output_size=(8, 8)), t(torch.tensor(xa), output_size=(8, 8)))


# ----- errors name the problem --------------------------------------------------------------------
def test_conv_errors_name_the_shapes():
    x = chainrule.zeros(2, 3, 8, 8)
    with pytest.raises(RuntimeError, match=r"to have 4 channels, but got 3 channels"):
        CF.conv2d(x, chainrule.zeros(5, 4, 3, 3))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        CF.conv2d(x, chainrule.zeros(5, 3, 9, 9))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        CF.conv2d(x, chainrule.zeros(5, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="expected 3-D .* or 4-D"):
        CF.conv2d(chainrule.zeros(8, 8), chainrule.zeros(5, 3, 3, 3))
    with pytest.raises(RuntimeError, match="should be the same"):
        CF.conv2d(x, chainrule.zeros(5, 3, 3, 3, dtype=chainrule.float64))
    with pytest.raises(RuntimeError, match="expected bias of shape \\[5\\]"):
        CF.conv2d(x, chainrule.zeros(5, 3, 3, 3), chainrule.zeros(4))
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        CF.conv_transpose2d(x, chainrule.zeros(3, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)

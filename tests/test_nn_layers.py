"""Every layer against PyTorch: identical weights (copied from a torch module through load_state_dict),
float64, the same input and upstream gradient; outputs, input gradients, every parameter's gradient
and every buffer (BatchNorm's running statistics) must agree."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from oracle import assert_same, check  # noqa: E402


def twin(make, randomise=True, seed=0):
    """The same module built in torch and chainrule (float64), with torch's (randomised) weights copied over."""
    torch.manual_seed(seed)
    th = make(torch.nn).double()
    if randomise:
        with torch.no_grad():
            for p in th.parameters():
                p.uniform_(-1.0, 1.0)
    mine = make(cr.nn).double()
    mine.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in th.state_dict().items()})
    return mine, th


def compare(mine, th, *arrays, seed=1):
    """Forward and backward through both modules; assert outputs, input grads, param grads, buffers agree."""
    xs_c = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    xs_t = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out_c, out_t = mine(*xs_c), th(*xs_t)
    assert_same(out_c, out_t, "output")
    up = np.random.default_rng(seed).standard_normal(tuple(out_t.shape))
    out_c.backward(cr.tensor(up))
    out_t.backward(torch.tensor(up))
    for i, (c, t) in enumerate(zip(xs_c, xs_t)):
        if t.grad is not None:
            assert_same(c.grad, t.grad, f"grad of input {i}")
    names_c = [n for n, _ in mine.named_parameters()]
    names_t = [n for n, _ in th.named_parameters()]
    assert names_c == names_t
    for (n, pc), (_, pt) in zip(mine.named_parameters(), th.named_parameters()):
        if pt.grad is None:
            assert pc.grad is None, n
        else:
            assert_same(pc.grad, pt.grad, f"grad of {n}")
    for (n, bc), (n2, bt) in zip(mine.named_buffers(), th.named_buffers()):
        assert n == n2
        assert_same(bc, bt, f"buffer {n}")
    return out_c, out_t


def rand(*shape, seed=2):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape)


LAYERS = [
    ("Linear", lambda nn: nn.Linear(4, 3), [(5, 4)]),
    ("Linear-3d", lambda nn: nn.Linear(4, 3), [(2, 5, 4)]),
    ("Linear-1d", lambda nn: nn.Linear(4, 3), [(4,)]),
    ("Linear-nobias", lambda nn: nn.Linear(4, 3, bias=False), [(5, 4)]),
    ("Bilinear", lambda nn: nn.Bilinear(3, 4, 2), [(5, 3), (5, 4)]),
    ("Bilinear-nobias-3d", lambda nn: nn.Bilinear(3, 2, 4, bias=False), [(2, 5, 3), (2, 5, 2)]),
    ("Identity", lambda nn: nn.Identity(7, key=1), [(3, 2)]),
    ("Flatten", lambda nn: nn.Flatten(), [(2, 3, 4)]),
    ("Flatten-0-1", lambda nn: nn.Flatten(0, 1), [(2, 3, 4)]),
    ("Unflatten", lambda nn: nn.Unflatten(1, (2, 3)), [(4, 6)]),
    ("LayerNorm", lambda nn: nn.LayerNorm(4), [(3, 4)]),
    ("LayerNorm-2d", lambda nn: nn.LayerNorm((3, 4), eps=1e-3), [(2, 3, 4)]),
    ("LayerNorm-noaffine", lambda nn: nn.LayerNorm(5, elementwise_affine=False), [(2, 3, 5)]),
    ("LayerNorm-nobias", lambda nn: nn.LayerNorm(5, bias=False), [(3, 5)]),
    ("BatchNorm1d", lambda nn: nn.BatchNorm1d(3), [(6, 3)]),
    ("BatchNorm1d-NCL", lambda nn: nn.BatchNorm1d(3, momentum=0.3, eps=1e-3), [(4, 3, 5)]),
    ("BatchNorm1d-noaffine", lambda nn: nn.BatchNorm1d(3, affine=False), [(6, 3)]),
    ("BatchNorm1d-cma", lambda nn: nn.BatchNorm1d(3, momentum=None), [(6, 3)]),
    ("BatchNorm1d-notrack", lambda nn: nn.BatchNorm1d(3, track_running_stats=False), [(6, 3)]),
    ("BatchNorm2d", lambda nn: nn.BatchNorm2d(2), [(3, 2, 4, 4)]),
    ("GroupNorm", lambda nn: nn.GroupNorm(2, 4), [(3, 4, 5)]),
    ("Sequential-MLP", lambda nn: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.LayerNorm(6), nn.Linear(6, 2)),
     [(5, 4)]),
]

ACTIVATIONS = [
    lambda nn: nn.ReLU(), lambda nn: nn.LeakyReLU(), lambda nn: nn.LeakyReLU(0.2), lambda nn: nn.Sigmoid(),
    lambda nn: nn.Tanh(), lambda nn: nn.GELU(), lambda nn: nn.GELU(approximate="tanh"), lambda nn: nn.SiLU(),
    lambda nn: nn.Softplus(), lambda nn: nn.Softplus(beta=2.0, threshold=1.5), lambda nn: nn.Softmax(dim=1),
    lambda nn: nn.Softmax(dim=0), lambda nn: nn.LogSoftmax(dim=-1), lambda nn: nn.Softmin(dim=1),
    lambda nn: nn.ELU(), lambda nn: nn.ELU(alpha=0.5), lambda nn: nn.CELU(alpha=0.7), lambda nn: nn.SELU(),
    lambda nn: nn.Hardtanh(-0.5, 1.5), lambda nn: nn.ReLU6(), lambda nn: nn.Mish(), lambda nn: nn.LogSigmoid(),
    lambda nn: nn.Hardswish(), lambda nn: nn.Hardsigmoid(), lambda nn: nn.Tanhshrink(), lambda nn: nn.Softsign(),
    lambda nn: nn.GLU(), lambda nn: nn.Threshold(0.3, -1.0),
]


@pytest.mark.parametrize("name,make,shapes", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, make, shapes):
    mine, th = twin(make)
    compare(mine, th, *[rand(*s, seed=i + 2) for i, s in enumerate(shapes)])


@pytest.mark.parametrize("make", ACTIVATIONS, ids=lambda m: repr(m(torch.nn)))
def test_activation_matches_torch(make):
    mine, th = twin(make)
    assert repr(mine) == repr(th)
    x = rand(4, 6) * 4   # wide enough to reach every piece (Softplus's threshold, Hardtanh's bounds...)
    compare(mine, th, x)


def test_batchnorm_running_stats_then_eval():
    """Several training batches update the running stats exactly as PyTorch's; eval then uses them."""
    mine, th = twin(lambda nn: nn.BatchNorm1d(3, momentum=0.2))
    for step in range(4):
        compare(mine, th, rand(8, 3, seed=step) * (step + 1) + step, seed=step)
    assert int(mine.num_batches_tracked.item()) == 4
    mine.eval(), th.eval()
    compare(mine, th, rand(5, 3, seed=9))
    compare(mine, th, rand(1, 3, seed=10))   # eval works on a single sample


def test_batchnorm_errors():
    bn = cr.nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        bn(cr.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        bn(cr.randn(1, 3))
    with pytest.raises(ValueError, match="3 channels"):
        bn(cr.randn(4, 5))


def test_linear_default_shape_and_errors():
    lin = cr.nn.Linear(4, 3)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,) and lin.weight.dtype == cr.float32
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x5 and 4x3\)"):
        lin(cr.randn(2, 5))
    with pytest.raises(RuntimeError, match="same dtype"):
        lin(cr.randn(2, 4, dtype=cr.float64))


def test_linear_double_backward_matches_torch():
    """The fused primitive's backward is made of Tensor ops: gradients of gradients agree with PyTorch."""
    def fn(lib, x, w, b):
        y = lib.nn.functional.linear(x, w, b)
        gx, gw = lib.autograd.grad((y.tanh() ** 2).sum(), (x, w), create_graph=True)
        return (gx * gx).sum() + (gw ** 3).sum()
    check(fn, [(3, 2, 4), (5, 4), (5,)])


def test_layer_norm_double_backward_matches_torch():
    def fn(lib, x, w, b):
        y = lib.nn.functional.layer_norm(x, (4,), w, b)
        (gx,) = lib.autograd.grad((y.sin() * x).sum(), (x,), create_graph=True)
        return (gx * gx).sum()
    check(fn, [(3, 4), (4,), (4,)])


def test_layer_norm_shape_error():
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\]"):
        cr.nn.LayerNorm(4)(cr.randn(2, 3))


def test_embedding_matches_torch_with_padding_idx():
    mine, th = twin(lambda nn: nn.Embedding(6, 3, padding_idx=2))
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    out_c, out_t = compare(mine, th, idx)
    assert np.all(mine.weight.grad.numpy()[2] == 0)


def test_embedding_init_and_from_pretrained():
    cr.manual_seed(0)
    emb = cr.nn.Embedding(1000, 8, padding_idx=0)
    w = emb.weight.detach().numpy()
    assert np.all(w[0] == 0)
    assert abs(w[1:].mean()) < 0.03 and abs(w[1:].std() - 1) < 0.03   # N(0, 1)
    table = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    frozen = cr.nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(cr.tensor([1, 0])).numpy(), [[3.0, 4.0], [1.0, 2.0]])
    assert cr.nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    with pytest.raises(IndexError, match="index 7 is out of range"):
        frozen(cr.tensor([7]))


def test_embedding_max_norm_and_scale_grad_by_freq():
    mine, th = twin(lambda nn: nn.Embedding(5, 4, max_norm=1.0, scale_grad_by_freq=True), randomise=True)
    compare(mine, th, np.array([1, 3, 3, 0]))
    assert_same(mine.weight, th.weight, "renormalised weight")


def test_dropout_eval_is_identity_and_train_scales():
    drop = cr.nn.Dropout(0.25)
    x = cr.ones(200, 200, requires_grad=True)
    y = drop(x)
    vals = np.unique(y.detach().numpy())
    np.testing.assert_allclose(sorted(vals), [0.0, 1 / 0.75])
    assert abs((y.detach().numpy() == 0).mean() - 0.25) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())   # dropped units pass no gradient
    drop.eval()
    assert drop(x) is x
    assert (cr.nn.Dropout(1.0)(x).detach().numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        cr.nn.Dropout(1.5)
    cr.manual_seed(3)
    a = cr.nn.functional.dropout(cr.ones(10))
    cr.manual_seed(3)
    np.testing.assert_array_equal(a.numpy(), cr.nn.functional.dropout(cr.ones(10)).numpy())


@pytest.mark.parametrize("pad,mode", [((1, 2), "constant"), ((1, 0, 2, 1), "constant"), ((-1, 2, 0, -1), "constant"),
                                      ((2, 1), "reflect"), ((1, 2, 2, 0), "replicate"), ((1, 2), "circular")])
def test_pad_matches_torch(pad, mode):
    check(lambda lib, x: lib.nn.functional.pad(x, pad, mode=mode), [(2, 3, 4)])


def test_pad_constant_value():
    check(lambda lib, x: lib.nn.functional.pad(x, (1, 1), value=2.5), [(3, 2)])


def test_one_hot_and_normalize():
    t = cr.tensor([[0, 2], [1, 3]])
    assert_same(cr.nn.functional.one_hot(t), torch.nn.functional.one_hot(torch.tensor([[0, 2], [1, 3]])))
    assert_same(cr.nn.functional.one_hot(t, 6), torch.nn.functional.one_hot(torch.tensor([[0, 2], [1, 3]]), 6))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes"):
        cr.nn.functional.one_hot(t, 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.nn.functional.one_hot(cr.tensor([-1]))
    x = rand(4, 3)
    x[1] = 0.0
    check(lambda lib, a: lib.nn.functional.normalize(a), [x])
    check(lambda lib, a: lib.nn.functional.normalize(a, p=1.0, dim=0), [(4, 3)])


@pytest.mark.parametrize("name", ["softmin", "logsigmoid", "tanhshrink", "softsign", "selu"])
def test_functional_activations(name):
    kwargs = {"dim": 1} if name == "softmin" else {}
    check(lambda lib, x: getattr(lib.nn.functional, name)(x, **kwargs), [(3, 4)])

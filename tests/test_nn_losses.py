"""Every loss against PyTorch, functional and module forms, every reduction and option: values and the
gradients of the input (and of the target, where PyTorch gives one), float64."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402
from oracle import assert_same, check, nograd, rand  # noqa: E402

REDUCTIONS = ["mean", "sum", "none"]
F = "nn.functional"


def fn_of(name, **kwargs):
    """``lambda lib, *args: lib.nn.functional.<name>(*args, **kwargs)``."""
    return lambda lib, *args: getattr(lib.nn.functional, name)(*args, **kwargs)


# ----- regression -----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", [("mse_loss", {}), ("l1_loss", {}), ("huber_loss", {}),
                                         ("huber_loss", {"delta": 0.5}), ("smooth_l1_loss", {}),
                                         ("smooth_l1_loss", {"beta": 0.3}), ("smooth_l1_loss", {"beta": 0.0})])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4)])
def test_regression_losses(name, kwargs, reduction, shape):
    check(fn_of(name, reduction=reduction, **kwargs), [shape, rand(*shape, seed=7)])


@pytest.mark.parametrize("cls,kwargs", [("MSELoss", {}), ("L1Loss", {}), ("HuberLoss", {"delta": 2.0}),
                                        ("SmoothL1Loss", {"beta": 0.5})])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_modules(cls, kwargs, reduction):
    check(lambda lib, x, t: getattr(lib.nn, cls)(reduction=reduction, **kwargs)(x, t), [(4, 3), (4, 3)])


def test_mse_warns_and_broadcasts_like_torch():
    x, t = rand(3, 1, seed=1), rand(3, seed=2)
    with pytest.warns(UserWarning, match=r"Using a target size \(torch.Size\(\[3\]\)\) that is different to the "
                                         r"input size \(torch.Size\(\[3, 1\]\)\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torch's own copy of the warning
            check(fn_of("mse_loss"), [x, nograd(t)])
        cr.nn.functional.mse_loss(cr.tensor(x), cr.tensor(t))
    with pytest.raises(RuntimeError, match="must match the size"), pytest.warns(UserWarning):
        cr.nn.functional.mse_loss(cr.randn(3, 2), cr.randn(4))


def test_invalid_reduction():
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        cr.nn.functional.mse_loss(cr.randn(3), cr.randn(3), reduction="avg")


def test_legacy_size_average_reduce_flags():
    x, t = rand(4, seed=3), rand(4, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size_average, reduce in [(False, None), (None, False), (True, True)]:
            check(lambda lib, a, b: lib.nn.MSELoss(size_average=size_average, reduce=reduce)(a, b), [x, t])


# ----- binary -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(reduction, weighted):
    p = rand(4, 3, low=0.02, high=0.98, seed=5)
    t = rand(4, 3, low=0.0, high=1.0, seed=6)
    inputs = [p, t] + ([nograd(rand(3, low=0.1, high=2.0, seed=8))] if weighted else [])
    check(lambda lib, x, y, *w: lib.nn.functional.binary_cross_entropy(x, y, *w, reduction=reduction), inputs)
    check(lambda lib, x, y, *w: lib.nn.BCELoss(*w, reduction=reduction)(x, y), inputs)


def test_bce_clamps_log_at_minus_100_like_torch():
    p = np.array([0.0, 1.0, 0.5, 1e-60])
    t = np.array([1.0, 0.0, 1.0, 1.0])
    check(lambda lib, x, y: lib.nn.functional.binary_cross_entropy(x, y, reduction="none"), [p, nograd(t)])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        cr.nn.functional.binary_cross_entropy(cr.tensor([1.5]), cr.tensor([1.0]))
    with pytest.raises(ValueError, match="different to the input size"):
        cr.nn.BCELoss()(cr.rand(3, 1), cr.rand(3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits(reduction, options):
    x = rand(5, 3, low=-30.0, high=30.0, seed=9)   # large logits: the stable formulation matters
    t = rand(5, 3, low=0.0, high=1.0, seed=10)
    w = nograd(rand(5, 1, low=0.1, high=2.0, seed=11)) if options in ("weight", "both") else None
    pw = nograd(rand(3, low=0.5, high=3.0, seed=12)) if options in ("pos_weight", "both") else None
    specs = [x, t] + [s for s in (w, pw) if s is not None]

    def fn(lib, a, b, *rest):
        rest = list(rest)
        weight = rest.pop(0) if w is not None else None
        pos = rest.pop(0) if pw is not None else None
        f = lib.nn.functional.binary_cross_entropy_with_logits(a, b, weight, reduction=reduction, pos_weight=pos)
        m = lib.nn.BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos)(a, b)
        return f, m
    check(fn, specs)


def test_bce_with_logits_extreme_values_are_finite():
    x = cr.tensor([-1000.0, 1000.0, 0.0], requires_grad=True)
    loss = cr.nn.functional.binary_cross_entropy_with_logits(x, cr.tensor([1.0, 0.0, 1.0]), reduction="sum")
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad.numpy()))
    with pytest.raises(ValueError, match=r"Target size \(torch.Size\(\[3\]\)\) must be the same as input size"):
        cr.nn.functional.binary_cross_entropy_with_logits(cr.randn(3, 1), cr.rand(3))


# ----- multi-class --------------------------------------------------------------------------------
CE_SHAPES = [((6, 4), (6,)), ((4,), ()), ((3, 4, 5), (3, 5)), ((2, 3, 2, 2), (2, 2, 2))]


def targets(shape, C, seed, ignore=None):
    t = np.random.default_rng(seed).integers(0, C, size=shape)
    if ignore is not None and t.ndim:
        t.flat[::3] = ignore
    return t


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", CE_SHAPES, ids=str)
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"ignore_index": 1}, {"ignore_index": -100, "ign": True},
                                     {"label_smoothing": 0.2}, {"weight": True, "ignore_index": 2,
                                                                "label_smoothing": 0.1}], ids=str)
def test_cross_entropy_and_nll_class_indices(reduction, shapes, options):
    xs, ts = shapes
    C = xs[1] if len(xs) > 1 else xs[0]
    opts = dict(options)
    use_weight = opts.pop("weight", False)
    ign = opts.pop("ign", False)
    ignore_index = opts.get("ignore_index", -100)
    t = targets(ts, C, seed=13, ignore=ignore_index if (ign or "ignore_index" in options) else None)
    specs = [xs, nograd(t)] + ([nograd(rand(C, low=0.2, high=2.0, seed=14))] if use_weight else [])

    def ce(lib, x, target, *w):
        kw = dict(opts, reduction=reduction, weight=w[0] if w else None)
        return lib.nn.functional.cross_entropy(x, target, **kw), lib.nn.CrossEntropyLoss(**kw)(x, target)
    check(ce, specs)

    if opts.get("label_smoothing"):
        return
    def nll(lib, x, target, *w):
        kw = dict(opts, reduction=reduction, weight=w[0] if w else None)
        logp = lib.log_softmax(x, 1 if x.ndim > 1 else 0)
        return lib.nn.functional.nll_loss(logp, target, **kw), lib.nn.NLLLoss(**kw)(x, target)
    check(nll, specs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.3}], ids=str)
@pytest.mark.parametrize("xs", [(5, 4), (2, 4, 3)], ids=str)
def test_cross_entropy_class_probabilities(reduction, options, xs):
    probs = np.random.default_rng(15).dirichlet(np.ones(4), size=int(np.prod(xs)) // 4)
    probs = np.moveaxis(probs.reshape((xs[0],) + xs[2:] + (4,)), -1, 1)
    opts = dict(options)
    use_weight = opts.pop("weight", False)
    specs = [xs, probs] + ([nograd(rand(4, low=0.2, high=2.0, seed=16))] if use_weight else [])
    check(lambda lib, x, t, *w: lib.nn.functional.cross_entropy(x, t, weight=w[0] if w else None,
                                                                reduction=reduction, **opts), specs)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    check(lambda lib, x, t: lib.nn.functional.cross_entropy(x, t), [(3, 4), nograd(np.full(3, -100))])


def test_cross_entropy_double_backward_matches_torch():
    def fn(lib, x, t, w):
        loss = lib.nn.functional.cross_entropy(x, t, weight=w, label_smoothing=0.1)
        (g,) = lib.autograd.grad(loss, (x,), create_graph=True)
        return (g * g * x).sum()
    check(fn, [(5, 4), nograd(targets((5,), 4, seed=17)), nograd(rand(4, low=0.5, high=1.5, seed=18))])


def test_cross_entropy_errors():
    x = cr.randn(3, 5)
    with pytest.raises(IndexError, match="Target 5 is out of bounds."):
        cr.nn.functional.cross_entropy(x, cr.tensor([0, 5, 1]))
    with pytest.raises(IndexError, match="Target -2 is out of bounds."):
        cr.nn.CrossEntropyLoss()(x, cr.tensor([0, -2, 1]))
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target batch_size \(4\)."):
        cr.nn.functional.cross_entropy(x, cr.tensor([0, 1, 2, 3]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 5 classes"):
        cr.nn.functional.cross_entropy(x, cr.tensor([0, 1, 2]), weight=cr.ones(3))
    with pytest.raises(RuntimeError, match="class probabilities"):
        cr.nn.functional.cross_entropy(x, cr.rand(3))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got Float"):
        cr.nn.functional.nll_loss(x, cr.rand(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    probs = np.random.default_rng(19).dirichlet(np.ones(4), size=3)
    probs[0, 1] = 0.0
    target = np.log(probs + 0.01) if log_target else probs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, x, t: lib.nn.KLDivLoss(reduction=reduction, log_target=log_target)(
            lib.log_softmax(x, 1), t), [(3, 4), nograd(target)])


def test_loss_modules_hold_weight_as_buffer():
    w = cr.tensor([1.0, 2.0, 3.0])
    loss = cr.nn.CrossEntropyLoss(weight=w)
    assert "weight" in dict(loss.named_buffers())
    assert loss.double().weight.dtype == cr.float64
    assert_same(loss.weight, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_gradient_is_zero_off_the_targets_even_for_a_nan_upstream_gradient(reduction):
    # PyTorch fills zeros and puts -weight·g at the targets: a NaN g stays at the targets
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    t = np.array([0, 2, 1])
    grads = []
    for lib in (torch, cr):
        xx = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.nll_loss(xx, lib.tensor(t), reduction=reduction)
        (loss * float("nan")).sum().backward()
        grads.append(xx.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
    off_target = np.ones(x.shape, bool)
    off_target[np.arange(3), t] = False
    assert np.isnan(grads[1][~off_target]).all() and (grads[1][off_target] == 0).all()

"""The autograd engine against PyTorch: accumulation, retain_grad/graph, hooks, grad modes,
autograd.grad, higher-order gradients, version checks, in-place ops, anomaly mode, deep graphs,
and freeing of saved arrays."""
import gc
import sys
import weakref

import numpy as np
import pytest
import torch

import chainrule
from oracle import assert_same, check


def both(values, requires_grad=True):
    """The same float64 leaf in chainrule and in torch."""
    a = np.asarray(values, dtype=np.float64)
    return (chainrule.tensor(a.copy(), requires_grad=requires_grad),
            torch.tensor(a.copy(), requires_grad=requires_grad))


def test_essay_snippet():
    x = chainrule.tensor(3.0, requires_grad=True)
    y = x * x + 2 * x
    y.backward()
    assert repr(x.grad) == repr(torch.tensor(8.0))
    assert y.item() == 15.0


def test_gradient_accumulates_across_backward_calls():
    (cx, tx) = both([1.0, -2.0, 3.0])
    for x in (cx, tx):
        (x * x).sum().backward()
        (x ** 3).sum().backward()
    assert_same(cx.grad, tx.grad)


def test_retain_grad_on_non_leaf_and_none_otherwise():
    cx, tx = both([[1.0, 2.0], [3.0, 4.0]])
    out = []
    for lib, x in ((chainrule, cx), (torch, tx)):
        h = x.exp()
        h.retain_grad()
        k = h * 2
        (k.sin()).sum().backward()
        out.append((h, k))
    assert out[0][0].retains_grad
    assert_same(out[0][0].grad, out[1][0].grad, "retained grad")
    assert out[0][1].grad is None
    assert_same(cx.grad, tx.grad)


def test_retain_graph_false_then_second_backward_raises():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_true_twice():
    cx, tx = both([1.0, 2.0])
    for x in (cx, tx):
        y = (x.exp() * x).sum()
        y.backward(retain_graph=True)
        y.backward()
    assert_same(cx.grad, tx.grad)


def test_hooks_on_leaf_and_non_leaf_and_remove():
    cx, tx = both([1.0, -2.0, 0.5])
    seen = {chainrule: [], torch: []}
    for lib, x in ((chainrule, cx), (torch, tx)):
        h1 = x.register_hook(lambda g: g * 10)
        y = x * x
        h2 = y.register_hook(lambda g, lib=lib: seen[lib].append(g.clone()))
        y.register_hook(lambda g: g + 1)
        y.sum().backward()
        h1.remove()
        h2.remove()
        (x * x).sum().backward()
    assert_same(cx.grad, tx.grad)
    assert len(seen[chainrule]) == len(seen[torch]) == 1
    assert_same(seen[chainrule][0], seen[torch][0])


def test_no_grad_records_nothing():
    x = chainrule.ones(3, requires_grad=True)
    with chainrule.no_grad():
        y = x * 2 + x.exp()
        assert not chainrule.is_grad_enabled()
    assert chainrule.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad


def test_grad_modes_as_decorators_and_contexts():
    x = chainrule.ones(2, requires_grad=True)

    @chainrule.no_grad()
    def f(t):
        return t * 2

    @chainrule.enable_grad()
    def g(t):
        return t * 2

    assert f(x).grad_fn is None
    with chainrule.no_grad():
        assert g(x).requires_grad
        with chainrule.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with chainrule.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @chainrule.set_grad_enabled(False)
    def h(t):
        return t * 2
    assert chainrule.is_grad_enabled()   # decorating does not switch the mode
    assert not h(x).requires_grad
    assert chainrule.is_grad_enabled()
    chainrule.set_grad_enabled(False)
    assert not chainrule.is_grad_enabled()
    chainrule.set_grad_enabled(True)
    assert chainrule.is_grad_enabled()
    with chainrule.inference_mode():
        assert not (x * 2).requires_grad


def test_autograd_grad_with_grad_outputs():
    cx, tx = both([[1.0, 2.0], [-1.0, 0.5]])
    v = np.array([[0.3, -1.0], [2.0, 1.5]])
    (cg,) = chainrule.autograd.grad(cx.sin() * cx, cx, grad_outputs=chainrule.tensor(v))
    (tg,) = torch.autograd.grad(tx.sin() * tx, tx, grad_outputs=torch.tensor(v))
    assert_same(cg, tg)
    assert cx.grad is None
    assert not cg.requires_grad


def test_autograd_grad_allow_unused():
    x = chainrule.ones(2, requires_grad=True)
    z = chainrule.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        chainrule.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = chainrule.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.tolist() == [2.0, 2.0]


def test_autograd_grad_for_an_intermediate_and_the_leaves_below_it():
    # Asking for a1 and W1 at once must not stop the walk at a1: W1 lies below it.
    W, tW = both([[0.3, -1.2], [0.8, 0.5]])
    x = np.array([[1.0, 2.0], [-0.5, 0.25], [0.0, 1.0]])
    a, ta = (chainrule.tensor(x) @ W.T).sigmoid(), (torch.tensor(x) @ tW.T).sigmoid()
    got = chainrule.autograd.grad((a * a).sum(), [W, a], retain_graph=True)
    want = torch.autograd.grad((ta * ta).sum(), [tW, ta])
    for g, t in zip(got, want):
        assert_same(g, t)


def test_autograd_grad_multiple_inputs_and_outputs():
    (ca, ta), (cb, tb) = both([1.0, 2.0]), both([0.5, -1.0])
    cr = chainrule.autograd.grad([(ca * cb).sum(), (ca.exp()).sum()], [ca, cb])
    th = torch.autograd.grad([(ta * tb).sum(), (ta.exp()).sum()], [ta, tb])
    for c, t in zip(cr, th):
        assert_same(c, t)


def test_second_derivative_of_cube():
    x = chainrule.tensor(2.0, requires_grad=True)
    (g,) = chainrule.autograd.grad(x ** 3, x, create_graph=True)
    assert g.item() == 12.0 and g.requires_grad
    (gg,) = chainrule.autograd.grad(g, x)
    assert gg.item() == 12.0   # 6x
    x3 = chainrule.tensor(2.0, requires_grad=True)
    (x3 ** 3).backward(create_graph=True)
    g = x3.grad
    x3.grad = None
    g.backward()
    assert x3.grad.item() == 12.0


HIGHER_ORDER_FNS = {
    "poly": lambda lib, x, w: (x ** 3).sum() * w.sum() + (x @ w).sin().sum(),
    "tanh_mlp": lambda lib, x, w: ((x @ w).tanh() ** 2).sum(),
    "softmax": lambda lib, x, w: (lib.softmax(x @ w, dim=-1) * lib.arange(3.0, dtype=lib.float64)).sum(),
    "sigmoid_log": lambda lib, x, w: ((x @ w).sigmoid() + 1).log().mean(),
    "div_exp": lambda lib, x, w: ((x @ w).exp() / (1 + (x @ w) ** 2)).sum(),
    "logsumexp": lambda lib, x, w: (x @ w).logsumexp(1).sum() * (x ** 2).mean(),
}


@pytest.mark.parametrize("name", HIGHER_ORDER_FNS)
def test_gradient_penalty_and_hvp_against_torch(name):
    f = HIGHER_ORDER_FNS[name]
    rng = np.random.default_rng(1)
    xv, wv = rng.standard_normal((2, 3)) * 0.5, rng.standard_normal((3, 3)) * 0.5
    v = rng.standard_normal((2, 3))
    results = {}
    for lib in (chainrule, torch):
        x = lib.tensor(xv.copy(), requires_grad=True)
        w = lib.tensor(wv.copy(), requires_grad=True)
        (gx,) = lib.autograd.grad(f(lib, x, w), x, create_graph=True)
        # Gradient penalty: ||dD/dx||^2 backpropagated to D's weights.
        penalty = (gx ** 2).sum()
        penalty.backward(retain_graph=True)
        # Hessian-vector product with respect to x.
        (hvp,) = lib.autograd.grad((gx * lib.tensor(v)).sum(), x, retain_graph=True)
        results[lib] = (gx, w.grad, hvp)
    for c, t in zip(results[chainrule], results[torch]):
        assert_same(c, t)


def test_version_counter_catches_inplace_change_of_saved_tensor():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1
    y = a.exp()     # saves its output
    z = a * a       # saves a
    y.add_(1)
    with pytest.raises(RuntimeError, match="inplace|in-place|version"):
        y.sum().backward()
    a.add_(1)
    with pytest.raises(RuntimeError, match="inplace|in-place|version"):
        z.sum().backward()


def test_version_counter_leaf_changed_under_no_grad():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with chainrule.no_grad():
        x.add_(1)
    with pytest.raises(RuntimeError, match="version"):
        y.backward()


INPLACE = {
    "add_": lambda x: x.add_(2.0),
    "add_tensor_alpha": lambda x: x.add_(x * 0 + 1, alpha=3),
    "sub_": lambda x: x.sub_(0.5),
    "mul_": lambda x: x.mul_(3),
    "div_": lambda x: x.div_(4),
    "iadd": lambda x: x.__iadd__(1),
    "zero_": lambda x: x.zero_(),
    "fill_": lambda x: x.fill_(7.5),
    "copy_": lambda x: x.copy_(x * 0 + 2),
    "clamp_": lambda x: x.clamp_(-0.5, 0.5),
    "pow_": lambda x: x.pow_(2),
    "exp_": lambda x: x.exp_(),
    "setitem_int": lambda x: x.__setitem__(0, 5.0),
    "setitem_slice": lambda x: x.__setitem__((slice(None), 1), -1.0),
    "setitem_mask": lambda x: x.__setitem__(x > 0, 0.0),
    "setitem_list": lambda x: x.__setitem__([0, 2], 9.0),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_values(name):
    v = np.random.default_rng(0).standard_normal((3, 4))
    cx, tx = chainrule.tensor(v.copy()), torch.tensor(v.copy())
    out = INPLACE[name](cx)
    INPLACE[name](tx)
    assert_same(cx, tx)
    if out is not None:
        assert out is cx


@pytest.mark.parametrize("name", ["add_", "mul_", "div_", "clamp_", "pow_", "exp_", "setitem_slice", "copy_",
                                  "setitem_mask"])
def test_inplace_on_non_leaf_gradients(name):
    # An in-place op on an intermediate is recorded: the gradient flows through it.
    def fn(lib, x):
        h = x * 1.5
        INPLACE[name](h)
        return h * x
    check(fn, [(3, 4)])


def test_sgd_update_under_no_grad():
    cw, tw = both([1.0, -2.0, 3.0])
    for lib, w in ((chainrule, cw), (torch, tw)):
        (w ** 2).sum().backward()
        with lib.no_grad():
            w -= 0.1 * w.grad
            w.grad.zero_()
    assert_same(cw, tw)
    assert cw.requires_grad and cw.is_leaf
    assert cw.grad.tolist() == [0.0, 0.0, 0.0]


def test_inplace_on_leaf_requiring_grad_raises():
    w = chainrule.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        w -= 1


def test_setitem_with_value_requiring_grad():
    def fn(lib, x, v):
        buf = lib.zeros(3, 4, dtype=lib.float64)
        buf[1] = v
        buf[:, 0] = x[:, 0] * 2
        return (buf * x).sin()
    check(fn, [(3, 4), (4,)])


ANOMALIES = {
    "sqrt_of_negative": ([-1.0, 4.0], lambda x: x.sqrt().sum()),
    "zero_times_inf": ([0.0, 1.0], lambda x: (x.sqrt() * 0).sum()),   # 0 / (2 * sqrt(0)) = 0 * inf
    "pow_of_negative": ([-1.0, 1.0], lambda x: (x ** 0.5).sum()),
    "div_zero_by_zero": ([0.0, 1.0], lambda x: (x / x).sum()),
}


@pytest.mark.parametrize("name", ANOMALIES)
def test_detect_anomaly_names_the_op_like_torch(name):
    values, f = ANOMALIES[name]
    messages = []
    for lib in (chainrule, torch):
        x = lib.tensor(values, requires_grad=True)
        with lib.autograd.detect_anomaly(), pytest.warns(UserWarning) if lib is torch else _nothing():
            y = f(x)
            with pytest.raises(RuntimeError, match="nan") as info:
                y.backward()
        messages.append(str(info.value))
    torch_op = messages[1].split("'")[1]      # "Function 'SqrtBackward0' returned nan values ..."
    assert f"'{torch_op}'" in messages[0], messages


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_without_anomaly_mode_nan_passes_silently():
    x = chainrule.tensor([-1.0, 4.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_deep_chain_backprops_without_recursion():
    x = chainrule.tensor(1.0, requires_grad=True, dtype=chainrule.float64)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0000001 ** 100_000, rtol=1e-9)


def test_deleting_deep_graph_without_backward():
    """Dropping a 100,000-node graph frees it at once (reference counting, no cycle left for the collector)
    and without a RecursionError in some destructor (which Python would only print, not raise)."""
    x = chainrule.tensor(1.0, requires_grad=True)
    y = x + 1.0
    nodes = [weakref.ref(y.grad_fn)]          # the first node, next to x ...
    for _ in range(100_000):
        y = y + 1.0
    nodes.append(weakref.ref(y.grad_fn))      # ... and the last
    errors = []
    old_hook, sys.unraisablehook = sys.unraisablehook, errors.append
    gc.disable()
    try:
        del y
        assert [n() for n in nodes] == [None, None], "the graph outlived its last reference"
    finally:
        gc.enable()
        sys.unraisablehook = old_hook
    assert not errors, [str(e.exc_value) for e in errors]


def test_saved_arrays_are_freed_after_backward():
    x = chainrule.ones(1000, 100, requires_grad=True, dtype=chainrule.float64)
    h = x * 2
    ref = weakref.ref(h._array)
    y = (h * h).sum()    # MulBackward saves h
    del h
    assert ref() is not None
    y.backward()
    gc.collect()
    assert ref() is None, "the saved intermediate's array outlived backward()"


def test_saved_arrays_kept_with_retain_graph():
    x = chainrule.ones(10, requires_grad=True)
    h = x * 2
    ref = weakref.ref(h._array)
    y = (h * h).sum()
    del h
    y.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    y.backward()
    assert x.grad.tolist() == [16.0] * 10


def test_backward_with_inputs_argument():
    cx, tx = both([1.0, 2.0])
    cz, tz = both([3.0, 4.0])
    (cx * cz).sum().backward(inputs=[cx])
    (tx * tz).sum().backward(inputs=[tx])
    assert_same(cx.grad, tx.grad)
    assert cz.grad is None and tz.grad is None


def test_detach_and_requires_grad_flags():
    x = chainrule.ones(2, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    assert (y.detach() * 2).grad_fn is None


def test_custom_function():
    class Cube(chainrule.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    check(lambda lib, x: Cube.apply(x) if lib is chainrule else x ** 3, [(3,)])


def test_fill_and_zero_on_non_leaf_keep_requires_grad():
    # PyTorch records fill_ (FillBackward): the result still requires grad, with zero gradient.
    check(lambda lib, x: ((x * 1).fill_(2.0) * x).sum(), [(3,)])
    check(lambda lib, x: ((x * 2).zero_() + x.exp()).sum(), [(3,)])
    check(lambda lib, x: (x * 1).fill_(2.0) + 0, [(3,)])


def test_retain_grad_follows_inplace_change():
    results = []
    for lib in (chainrule, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        h = x * 2
        h.retain_grad()
        h.mul_(3)
        (h * h).sum().backward()
        results.append((h.grad, x.grad))
    for c, t in zip(*results):
        assert_same(c, t)


def test_explicit_gradient_tensor_is_not_aliased_by_grad():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    g = chainrule.ones(2)
    (x + 0).backward(g)
    x.grad.zero_()
    assert g.tolist() == [1.0, 1.0]


MORE_ENGINE_CASES = {
    "hook_on_non_leaf_used_twice": lambda lib, x: _hooked(lib, x),
    "third_derivative": lambda lib, x: _third(lib, x),
    "grad_wrt_non_leaf_and_leaf": lambda lib, x: lib.autograd.grad(((x.exp()) ** 2).sum(), [x])[0] * 1,
    "no_grad_value_reused": lambda lib, x: _no_grad_reuse(lib, x),
    "clone_then_inplace": lambda lib, x: x.clone().mul_(2),
    "float64_to_float32_and_back": lambda lib, x: (x.float() * 3).double(),
}


def _hooked(lib, x):
    h = x * 2
    h.register_hook(lambda g: g * 2)
    return h * h + h


def _third(lib, x):
    y = x.sin() * x ** 4
    (g1,) = lib.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = lib.autograd.grad(g1.sum(), x, create_graph=True)
    return g2


def _no_grad_reuse(lib, x):
    with lib.no_grad():
        y = x * 2
    return y * x


@pytest.mark.parametrize("name", MORE_ENGINE_CASES)
def test_engine_cases_against_torch(name):
    check(MORE_ENGINE_CASES[name], [(3,)], rtol=1e-6, atol=1e-7)


def test_inplace_through_views_without_grad():
    results = []
    for lib in (chainrule, torch):
        x = lib.zeros(2, 3)
        x[0].add_(1)
        x[:, 1].mul_(5)
        x.view(-1)[2] = 7
        x.t()[1, 1] = 3
        results.append(x)
    assert_same(*results)

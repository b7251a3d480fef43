"""In-place ops through views, with and without a graph: PyTorch's semantics (its view rebase).

Without a graph, a write through any view (an integer index included) lands in the base. With a
graph, the base's history is rewritten (CopySlices) and every view of it differentiates what it
now holds. Each case runs on PyTorch and chainrule; values, gradients and errors must agree. A few
are also checked by finite differences (gradcheck), not only against PyTorch.
"""
import numpy as np
import pytest
import torch

import chainrule
from oracle import assert_same_outcome


def x_of(lib, values=((1.0, 2.0, 3.0), (4.0, 5.0, 6.0))):
    return lib.tensor(values, dtype=lib.float64, requires_grad=True)


# ----- no graph: the write reaches the base -------------------------------------------------------
def _plain(lib):
    return lib.arange(6.0).reshape(2, 3)


NO_GRAPH = {
    "int_index_zero_": lambda lib: _then(lib.ones(3), lambda x: x[0].zero_()),
    "select_1d_fill_": lambda lib: _then(lib.ones(3), lambda x: x.select(0, 1).fill_(5)),
    "two_ints_fill_": lambda lib: _then(lib.ones(2, 2), lambda x: x[0, 1].fill_(3)),
    "slice_then_int_add_": lambda lib: _then(_plain(lib), lambda x: x[1:][0].add_(1)),
    "transpose_row_zero_": lambda lib: _then(_plain(lib), lambda x: x.t()[0].zero_()),
    "view_setitem": lambda lib: _then(_plain(lib), lambda x: x.view(-1).__setitem__(2, 50.0)),
    "diagonal_fill_": lambda lib: _then(lib.zeros(3, 3), lambda x: x.diagonal().fill_(1)),
    "diagonal_offset_add_": lambda lib: _then(lib.zeros(3, 3), lambda x: x.diagonal(1).add_(2)),
    "unsqueeze_setitem": lambda lib: _then(lib.zeros(3), lambda x: x.unsqueeze(0).__setitem__((0, 1), 3.0)),
    "narrow_mul_": lambda lib: _then(_plain(lib), lambda x: x.narrow(1, 1, 1).mul_(10)),
    "unbind_fill_without_grad": lambda lib: _then(_plain(lib), lambda x: x.unbind(0)[1].fill_(7)),
    "split_mul_without_grad": lambda lib: _then(lib.ones(4), lambda x: x.split(2)[0].mul_(2)),
    "view_of_leaf_under_no_grad": lambda lib: _leaf_update_under_no_grad(lib),
    "expand_write_refused": lambda lib: _then(lib.ones(3), lambda x: x.expand(2, 3).mul_(2)),
    "median_result_is_not_a_view": lambda lib: _then(lib.tensor([1.0, 2.0, 3.0]), lambda x: x.median().mul_(3)),
    "max_result_is_not_a_view": lambda lib: _then(lib.tensor([1.0, 2.0, 3.0]), lambda x: x.max().mul_(3)),
}


def _then(x, change):
    change(x)
    return x


def _leaf_update_under_no_grad(lib):
    w = lib.ones(3, requires_grad=True)
    with lib.no_grad():
        w[:2].mul_(2)
    return w


# ----- with a graph: the base's history is rewritten ----------------------------------------------
def _backward(lib, out, *leaves):
    out.backward(lib.ones_like(out) if out.ndim else None)
    return [out] + [t.grad for t in leaves]


def _view_exp_(lib):
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    v = (x ** 3).unsqueeze(0)
    v.exp_()
    return _backward(lib, v.sum(), x)


def _column_add(lib):
    x = x_of(lib)
    h = x * 2
    h[:, 0] += 1
    return _backward(lib, (h * h).sum(), x) + [h.grad_fn.name()]


def _last_column_div(lib):
    x = x_of(lib)
    logits = x * 2
    logits[:, -1] /= 3.0
    return _backward(lib, logits.softmax(-1)[:, 0].sum(), x)


def _mv_mul_(lib):
    A = x_of(lib)
    b = lib.tensor([1.0, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = A.mv(b).mul_(3)
    return _backward(lib, (y * y).sum(), A, b)


def _matmul_1d_mul_(lib):
    A = x_of(lib)
    b = lib.tensor([1.0, -1.0, 2.0], dtype=lib.float64)
    y = A @ b
    y.mul_(3)
    return _backward(lib, (y * y).sum(), A)


def _detach_mul_(lib):
    x = x_of(lib)
    w = lib.ones(2, 3, dtype=lib.float64, requires_grad=True)
    y = (x * 1).detach()
    y.mul_(w)
    return _backward(lib, y.sum(), w) + [x.grad]


def _stale_view_read(lib):
    x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    h = x.clone()
    first = h[0]
    h.mul_(2)   # first now holds 2·x[0], and must differentiate as such
    return _backward(lib, first * 3, x)


def _old_view_of_plain_base(lib):
    buf = lib.zeros(3, dtype=lib.float64)
    head = buf[:2]
    w = lib.ones(3, dtype=lib.float64, requires_grad=True)
    buf.copy_(w * 2)   # head, made before, now requires grad
    return _backward(lib, head.sum(), w) + [head.requires_grad]


def _transpose_setitem(lib):
    x = x_of(lib)
    h = x * 2
    v = h.t()
    v[0] = 5.0
    return _backward(lib, (h * h).sum(), x) + [h]


def _view_of_view(lib):
    x = x_of(lib)
    h = x * 2
    v = h.view(6)[1:4]
    v.mul_(x[0])
    return _backward(lib, (h * h).sum(), x) + [v._base is h]


def _sibling_views(lib):
    x = x_of(lib, (1.0, 2.0, 3.0))
    y = x * 1
    head = y[:2]
    y.view(3).mul_(2)
    return _backward(lib, (head * head).sum(), x)


def _overlapping_views(lib):
    x = x_of(lib)
    h = x * 1
    row, col = h[0], h[:, 1]
    row.add_(x[1])      # changes h[0, 1], which col also holds
    return _backward(lib, (col * col).sum() + (row * 3).sum(), x)


def _diagonal_add_(lib):
    a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([0.5, 2.0], dtype=lib.float64, requires_grad=True)
    m = a * a
    m.diagonal().add_(w)
    return _backward(lib, (m @ m).sum(), a, w)


def _advanced_setitem_on_view(lib):
    x = x_of(lib)
    w = lib.tensor([7.0, 8.0], dtype=lib.float64, requires_grad=True)
    h = x * 2
    h[1][lib.tensor([0, 2])] = w
    return _backward(lib, (h * h).sum(), x, w)


def _mask_setitem(lib):
    x = x_of(lib)
    h = x * 1
    h[h > 3] = 0.0
    return _backward(lib, (h * x).sum(), x)


def _setitem_in_a_loop(lib):
    w = lib.tensor([0.5, -1.0], dtype=lib.float64, requires_grad=True)
    out = lib.zeros(4, 2, dtype=lib.float64)
    h = lib.ones(2, dtype=lib.float64)
    for t in range(4):
        h = (h * w).tanh()
        out[t] = h
    return _backward(lib, out.pow(2).sum(), w)


def _inplace_on_root_with_a_view(lib):
    x = x_of(lib)
    h = x * 1
    v = h[:, 1:]
    h.exp_()
    return _backward(lib, (v * 2).sum() + h.sum(), x)


def _fill_on_view_with_tensor(lib):
    x = x_of(lib)
    s = lib.tensor(3.0, dtype=lib.float64, requires_grad=True)
    h = x * 1
    h[0].fill_(s)
    return _backward(lib, (h * h).sum(), x, s)


def _zero_on_view(lib):
    x = x_of(lib)
    h = x.exp()
    h[:, 2].zero_()
    return _backward(lib, h.sum(), x)


def _clamp_on_view(lib):
    x = x_of(lib)
    h = x * 1
    h[1].clamp_(max=5.0)
    return _backward(lib, (h * h).sum(), x)


def _copy_inf_buffer(lib):
    buf = lib.full((2, 3), float("-inf"), dtype=lib.float64)
    x = x_of(lib)
    buf[0].copy_(x[1] * 2)
    return _backward(lib, buf[0].sum(), x) + [buf]


GRAPH = {
    "view_exp_": _view_exp_,
    "column_add_": _column_add,
    "last_column_div_": _last_column_div,
    "mv_result_mul_": _mv_mul_,
    "matmul_1d_result_mul_": _matmul_1d_mul_,
    "detach_then_mul_by_grad_tensor": _detach_mul_,
    "stale_view_read": _stale_view_read,
    "old_view_of_plain_base": _old_view_of_plain_base,
    "transpose_setitem": _transpose_setitem,
    "view_of_view": _view_of_view,
    "sibling_views": _sibling_views,
    "overlapping_views": _overlapping_views,
    "diagonal_add_": _diagonal_add_,
    "advanced_setitem_on_view": _advanced_setitem_on_view,
    "mask_setitem": _mask_setitem,
    "setitem_in_a_loop": _setitem_in_a_loop,
    "inplace_on_root_with_a_view": _inplace_on_root_with_a_view,
    "fill_view_with_tensor": _fill_on_view_with_tensor,
    "zero_view": _zero_on_view,
    "clamp_view": _clamp_on_view,
    "copy_into_inf_buffer_row": _copy_inf_buffer,
}


# ----- refused, as PyTorch refuses -----------------------------------------------------------------
def _view_made_under_no_grad(lib):
    h = x_of(lib) * 1
    with lib.no_grad():
        v = h[:1]
    v.mul_(2)


def _view_of_plain_made_under_no_grad_copy(lib):
    b = lib.zeros(3)
    with lib.no_grad():
        v = b[:2]
    v.copy_(lib.ones(2, requires_grad=True))


def _split_output_mul_(lib):
    h = x_of(lib) * 1
    h.split(1)[1].mul_(2)


def _unbind_output_mul_(lib):
    h = x_of(lib) * 1
    h.unbind(0)[0].mul_(2)


def _view_of_leaf(lib):
    x_of(lib)[:1].mul_(2)


def _leaf(lib):
    x_of(lib).mul_(2)


def _saved_median_changed(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.median()
    y.mul_(3)
    y.backward()


def _saved_input_changed_through_view(lib):
    x = x_of(lib)
    h = x * 1
    y = h.exp() * h       # mul saved h
    h[0].zero_()
    y.sum().backward()


def _split_output_changed_under_no_grad(lib):
    x = x_of(lib)
    a, b = (x * 1).split(1)
    with lib.no_grad():
        a.mul_(2)
    (a * 3).sum().backward()


def _split_output_exp_under_no_grad(lib):
    x = x_of(lib)
    a, b = (x * 1).split(1)
    with lib.no_grad():
        a.exp_()
    (a * 3).sum().backward()


def _base_of_unbind_outputs_changed_under_no_grad(lib):
    y = x_of(lib) * 1
    first, second = y.unbind(0)
    with lib.no_grad():
        y[0, 0] = 5.0
    (second * 3).sum().backward()


def _split_output_used_before_the_change(lib):
    """Allowed: the product was recorded before the change, and reads nothing the change touched."""
    x = x_of(lib)
    a, b = (x * 1).split(1)
    z = a * 3
    with lib.no_grad():
        b.add_(1)
    z.sum().backward()
    return x.grad


GRAPH["split_output_used_before_a_no_grad_change"] = _split_output_used_before_the_change


REFUSED = {
    "split_output_changed_under_no_grad": _split_output_changed_under_no_grad,
    "split_output_exp_under_no_grad": _split_output_exp_under_no_grad,
    "base_of_unbind_outputs_changed_under_no_grad": _base_of_unbind_outputs_changed_under_no_grad,
    "view_made_under_no_grad": _view_made_under_no_grad,
    "view_of_plain_made_under_no_grad": _view_of_plain_made_under_no_grad_copy,
    "split_output": _split_output_mul_,
    "unbind_output": _unbind_output_mul_,
    "view_of_leaf": _view_of_leaf,
    "leaf": _leaf,
    "saved_median_changed": _saved_median_changed,
    "saved_input_changed_through_view": _saved_input_changed_through_view,
}


@pytest.mark.parametrize("name", NO_GRAPH)
def test_write_without_graph_reaches_the_base(name):
    assert_same_outcome(NO_GRAPH[name])


@pytest.mark.parametrize("name", GRAPH)
def test_inplace_with_graph_matches_torch(name):
    assert_same_outcome(GRAPH[name])


@pytest.mark.parametrize("name", REFUSED)
def test_refused_like_torch(name):
    out = assert_same_outcome(lambda lib: REFUSED[name](lib) or "returned")
    assert out != "returned", "both returned: the case no longer tests a refusal"


def test_refusal_messages_say_why():
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        _view_made_under_no_grad(chainrule)
    with pytest.raises(RuntimeError, match="Output 1 of Split is a view .* returns multiple views"):
        _split_output_mul_(chainrule)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        _view_of_leaf(chainrule)


def test_inplace_through_views_passes_gradcheck():
    """Finite differences, not only PyTorch: first and second derivatives of a function that
    changes views of an intermediate in place."""
    def f(x, w):
        h = x * x
        h[:, 0] += w
        h.t()[1].mul_(w)
        d = h.diagonal()
        d.exp_()
        return (h * x).sum()

    x = chainrule.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 3)), requires_grad=True)
    w = chainrule.tensor(np.random.default_rng(1).uniform(-1, 1, (3,)), requires_grad=True)
    assert chainrule.autograd.gradcheck(f, (x, w))
    assert chainrule.autograd.gradgradcheck(f, (x, w))


def test_rebased_history_names_like_torch():
    for lib in (torch, chainrule):
        h = x_of(lib) * 1
        v = h[0]
        v.add_(1)
        assert h.grad_fn.name() == "torch::autograd::CopySlices"
        assert v.grad_fn.name() == "AsStridedBackward0"
        assert v._base is h
        assert (h * 1).detach()._base is None


def test_a_dead_view_is_forgotten():
    """The base keeps its views weakly, and drops the dead ones as it goes."""
    h = x_of(chainrule) * 1
    for _ in range(1000):
        h[0].add_(1)
    assert len(h._views) < 50

"""Indexing, gather, index_select, masked_fill, scatter against PyTorch.

The gradient of indexing scatters back into zeros; with a repeated integer index the same element
receives several gradients, which must add up.
"""
import numpy as np
import pytest

from oracle import check, nograd

INDEXES = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1],
    "two_ints": lambda x: x[1, 2],
    "slice": lambda x: x[1:3],
    "slice_step": lambda x: x[::2, 1::2],
    "neg_slice": lambda x: x[-3:-1, :-1],
    "none": lambda x: x[None, 1, :, None],
    "ellipsis": lambda x: x[..., 1],
    "ellipsis_mid": lambda x: x[0, ..., 2:],
    "list": lambda x: x[[0, 2, 3]],
    "repeated_list": lambda x: x[[0, 2, 0, 0]],
    "mixed": lambda x: x[1:, [1, 1, 4]],
    "two_arrays": lambda x: x[[0, 1, 1], [2, 2, 3]],
}


@pytest.mark.parametrize("name", INDEXES)
def test_getitem(name):
    check(lambda lib, x: INDEXES[name](x), [(4, 5, 3)] if name != "two_arrays" else [(4, 5)])


def test_tensor_index_repeated_accumulates():
    check(lambda lib, x, i: x[i], [(5, 3), nograd(np.array([0, 4, 0, 0, 2]))])
    check(lambda lib, x, i: x[:, i] * 3, [(2, 5), nograd(np.array([[1, 1], [3, 1]]))])


def test_boolean_mask():
    mask = np.array([[True, False, True, True], [False, False, True, False], [True, True, True, True]])
    check(lambda lib, x, m: x[m], [(3, 4), nograd(mask)])
    check(lambda lib, x, m: x[m], [(3, 4, 2), nograd(mask)])
    check(lambda lib, x: x[x > 0], [(3, 4)])
    check(lambda lib, x, m: x.masked_select(m), [(3, 4), nograd(mask)])


def test_gather():
    idx = np.array([[0, 0, 2], [1, 3, 3]])
    check(lambda lib, x, i: x.gather(1, i), [(2, 4), nograd(idx)])
    check(lambda lib, x, i: lib.gather(x, 0, i), [(4, 3), nograd(np.array([[0, 1, 3], [3, 3, 0]]))])
    check(lambda lib, x, i: x.gather(-1, i), [(2, 3, 4), nograd(np.array([[[0], [3], [3]], [[1], [1], [2]]]))])


def test_index_select():
    check(lambda lib, x, i: x.index_select(0, i), [(4, 3), nograd(np.array([3, 0, 3]))])
    check(lambda lib, x, i: lib.index_select(x, 1, i), [(2, 4, 3), nograd(np.array([1, 1]))])
    check(lambda lib, x, i: x.index_select(-1, i), [(2, 4, 3), nograd(np.array([2, 0]))])


def test_masked_fill():
    mask = np.array([[True, False, True], [False, False, True]])
    check(lambda lib, x, m: x.masked_fill(m, 0.0), [(2, 3), nograd(mask)])
    check(lambda lib, x, m: lib.masked_fill(x, m, -1e9), [(2, 3), nograd(mask)])
    check(lambda lib, x, m: x.masked_fill(m, float("-inf")).softmax(-1), [(2, 3), nograd(np.array([[False, False, True]]))])
    check(lambda lib, x, m: x.masked_fill(m, 2), [(2, 3), nograd(mask[:1])])


def test_scatter_and_scatter_add():
    idx = np.array([[0, 1, 2, 0], [2, 0, 0, 1]])
    check(lambda lib, x, i, s: x.scatter_add(0, i, s), [(3, 4), nograd(idx), (2, 4)])
    check(lambda lib, x, i, s: x.scatter(1, i, s), [(2, 5), nograd(np.array([[0, 1], [4, 2]])), (2, 2)])
    check(lambda lib, x, i: lib.take(x, i), [(3, 4), nograd(np.array([0, 5, 5, 11]))])


def test_index_out_of_range_raises():
    import chainrule
    with pytest.raises(IndexError):
        chainrule.zeros(3, 4)[3]


@pytest.mark.parametrize("index", [5, -6, (0, 0, 0), (1, slice(0, 2), 7), slice(None, None, -1)],
                         ids=["past_end", "before_start", "too_many", "inner_out_of_range", "negative_step"])
def test_plain_index_errors_read_like_pytorch(index):
    """Plain ints and slices take a short path straight to NumPy; what NumPy refuses goes the general way,
    so the error is PyTorch's, type and words."""
    import chainrule
    torch = pytest.importorskip("torch")
    x = np.arange(15.0).reshape(5, 3)
    with pytest.raises(Exception) as expected:
        torch.tensor(x)[index]
    with pytest.raises(expected.type) as got:
        chainrule.tensor(x)[index]
    assert str(got.value).startswith(str(expected.value))


def test_plain_index_is_a_view_with_pytorch_history():
    """``x[1]`` and ``x[:, 1:]`` share memory with x, as in PyTorch, and record the same grad_fn."""
    import chainrule
    x = chainrule.zeros(3, 4)
    row = x[1]
    row += 1
    assert x.numpy()[1].tolist() == [1.0] * 4
    w = chainrule.ones(3, 4, requires_grad=True)
    assert w[1].grad_fn.name() == "SelectBackward0"
    assert w[:, 1:].grad_fn.name() == "SliceBackward0"
    assert w[None, 0].grad_fn.name() == "SelectBackward0"
    with chainrule.no_grad():
        assert w[1].grad_fn is None and w[1].requires_grad is False
    w[1:, 2].sum().backward()
    assert w.grad.numpy().tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]


def test_random_basic_indices_match_pytorch_in_values_gradients_names_and_errors():
    """Reading and assigning through 300 random indices of ints (some out of range), slices (some with a zero or negative step, some past
    the ends) and None, on small tensors: the same values, gradients and grad_fn names as PyTorch, or the same
    error type and words (chainrule's negative-step message adds a hint after PyTorch's words)."""
    import random

    import chainrule
    torch = pytest.importorskip("torch")
    rng = random.Random(0)

    def item(size):
        r = rng.random()
        if r < 0.35:
            return rng.randint(-size - 1, size)
        if r < 0.85:
            bound = [None, rng.randint(-size - 2, size + 2)]
            return slice(rng.choice(bound), rng.choice([None, rng.randint(-size - 2, size + 2)]),
                         rng.choice([None, 1, 2, 3, -1, 0]))
        return None

    for _ in range(300):
        shape = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
        index = tuple(item(shape[min(i, len(shape) - 1)]) for i in range(rng.randint(1, len(shape) + 1)))
        if len(index) == 1 and rng.random() < 0.5:
            index = index[0]                      # a bare index: x[i], x[a:b], x[None]
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        _same_assignment(torch, chainrule, x, index)
        tx, cx = torch.tensor(x, requires_grad=True), chainrule.tensor(x, requires_grad=True)
        try:
            expected = tx[index]
        except Exception as exc:
            with pytest.raises(type(exc)) as got:
                cx[index]
            assert str(got.value).startswith(str(exc)), (shape, index)
            continue
        got = cx[index]
        assert tuple(got.shape) == tuple(expected.shape), (shape, index)
        np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())
        assert got.grad_fn.name() == expected.grad_fn.name(), (shape, index)
        if expected.numel():
            g = np.asarray(np.random.default_rng(2).standard_normal(expected.shape), dtype=np.float32)
            expected.backward(torch.tensor(g))
            got.backward(chainrule.tensor(g))
            np.testing.assert_array_equal(cx.grad.numpy(), tx.grad.numpy())


def _same_assignment(torch, chainrule, x, index):
    """``t[index] = 7.0`` on a copy of ``x``: the same values as PyTorch, or its error type and words."""
    tx, cx = torch.tensor(x), chainrule.tensor(x)
    try:
        tx[index] = 7.0
    except Exception as exc:
        with pytest.raises(type(exc)) as got:
            cx[index] = 7.0
        assert str(got.value).startswith(str(exc)), (x.shape, index)
        return
    cx[index] = 7.0
    np.testing.assert_array_equal(cx.numpy(), tx.numpy())


@pytest.mark.parametrize("index", [
    (0, slice(None), [1, 2]),          # PyTorch selects with the int first: (3, 2), not NumPy's (2, 3)
    (1, slice(None), "tensor[0, 0, 0]"),
    (0, None, [1, -2]),
    ([0, 1], 0, [1, 2]),
    ([0, 1], slice(None), 0),
    ("tensor0d", slice(None), [0, 3]),
    ([],),
    ([0, 1], [0, 1, 2]),                 # index tensors that do not broadcast
    (-1, slice(None), [0, -9, 0]),       # out of range: the dimension is the index tensor's place
], ids=["int_slice_list", "int_slice_tensor", "int_none_list", "list_int_list", "list_slice_int", "0d_tensor_first",
        "empty_list", "no_broadcast", "list_out_of_range"])
def test_ints_with_index_tensors_act_as_in_pytorch(index):
    """Ints beside index tensors select first, as in PyTorch (NumPy would count them as advanced indices and,
    split from the others by a slice, put the broadcast dims first): same shape, values, gradient, or error;
    and an assignment through the same index fills the same places."""
    import chainrule
    torch = pytest.importorskip("torch")

    def build(lib):
        out = []
        for i in index:
            if i == "tensor[0, 0, 0]":
                i = lib.tensor([0, 0, 0])
            elif i == "tensor0d":
                i = lib.tensor(1)
            out.append(i)
        return tuple(out)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tx, cx = torch.tensor(x, requires_grad=True), chainrule.tensor(x, requires_grad=True)
    try:
        expected = tx[build(torch)]
    except Exception as exc:
        with pytest.raises(type(exc)) as got:
            cx[build(chainrule)]
        assert str(got.value) == str(exc)
        return
    got = cx[build(chainrule)]
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.detach().numpy(), expected.detach().numpy())
    if expected.numel():
        g = np.arange(expected.numel(), dtype=np.float32).reshape(tuple(expected.shape))
        expected.backward(torch.tensor(g))
        got.backward(chainrule.tensor(g))
        np.testing.assert_array_equal(cx.grad.numpy(), tx.grad.numpy())
    # Assigning a value of the read's shape puts it in the same places, gradients included.
    value = -np.arange(expected.numel(), dtype=np.float32).reshape(tuple(expected.shape))
    tv, cv = torch.tensor(value, requires_grad=True), chainrule.tensor(value, requires_grad=True)
    ty, cy = torch.tensor(x) * 1, chainrule.tensor(x) * 1
    ty[build(torch)] = tv
    cy[build(chainrule)] = cv
    np.testing.assert_array_equal(cy.detach().numpy(), ty.detach().numpy())
    weights = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    (ty * torch.tensor(weights)).sum().backward()
    (cy * chainrule.tensor(weights)).sum().backward()
    np.testing.assert_array_equal(cv.grad.numpy(), tv.grad.numpy())

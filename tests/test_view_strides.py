"""``view`` refuses what PyTorch's refuses (a new shape the input's strides cannot express, as after a
transpose) and allows what it allows, on non-contiguous inputs too; and the ops whose layout decides that
(``is_contiguous``) lay out their results as PyTorch does, so a program's ``.view`` is not refused where
PyTorch accepts it."""
import itertools

import numpy as np
import pytest
import torch

import chainrule

VIEW_ERROR = ("view size is not compatible with input tensor's size and stride (at least one dimension spans "
              "across two contiguous subspaces). Use .reshape(...) instead.")


def _shapes_of(numel, longest=4):
    """Every way of writing ``numel`` as a product of up to ``longest`` factors > 1, plus each with a 1 put in."""
    found = set()

    def grow(rest, prefix):
        if rest == 1:
            found.add(tuple(prefix))
        if len(prefix) < longest:
            for d in range(2, rest + 1):
                if rest % d == 0:
                    grow(rest // d, prefix + [d])
    grow(numel, [])
    return sorted(found | {f[:k] + (1,) + f[k:] for f in found for k in range(len(f) + 1)})


def _layouts(shape):
    """Ways to get a non-contiguous tensor from a contiguous one of ``shape``: each permutation, a slice of
    the last or first dim, every other element of the last dim, an expanded size-1 dim."""
    for perm in itertools.permutations(range(len(shape))):
        yield f"permute{perm}", lambda x, perm=perm: x.permute(*perm)
    yield "x[..., :1]", lambda x: x[..., :1]
    yield "x[:1]", lambda x: x[:1]
    yield "x[..., ::2]", lambda x: x[..., ::2]
    yield "x[:1].expand", lambda x: x[:1].expand(3, *x.shape[1:])


@pytest.mark.parametrize("shape", [(2, 3, 4), (4, 6), (2, 1, 6), (3, 1, 2, 2)], ids=str)
def test_view_allows_and_refuses_exactly_what_pytorch_does(shape):
    numel = int(np.prod(shape))
    theirs_base = torch.arange(numel, dtype=torch.float32).reshape(shape)
    ours_base = chainrule.arange(numel, dtype=chainrule.float32).reshape(shape)
    refused = allowed = 0
    for name, layout in _layouts(shape):
        theirs_x, ours_x = layout(theirs_base), layout(ours_base)
        for new_shape in _shapes_of(theirs_x.numel()):
            try:
                expected = theirs_x.view(new_shape)
            except RuntimeError as e:
                assert str(e) == VIEW_ERROR
                with pytest.raises(RuntimeError) as info:
                    ours_x.view(new_shape)
                assert str(info.value) == VIEW_ERROR, (name, new_shape)
                refused += 1
                continue
            got = ours_x.view(new_shape)
            assert got.tolist() == expected.tolist(), (name, new_shape)
            assert np.shares_memory(got._array, ours_base._array), (name, new_shape)   # a view, not a copy
            allowed += 1
    assert refused and allowed


def test_view_after_transpose_raises_and_reshape_or_contiguous_works():
    for lib in (chainrule, torch):
        q = lib.randn(2, 3, 4, 5).transpose(1, 2)           # (B, T, nh, hs) in attention code
        with pytest.raises(RuntimeError, match=r"view size is not compatible .* Use \.reshape\(\.\.\.\) instead"):
            q.view(2, 4, 15)
        assert tuple(q.contiguous().view(2, 4, 15).shape) == (2, 4, 15)
        assert tuple(q.reshape(2, 4, 15).shape) == (2, 4, 15)
        assert tuple(q.view(2, 4, 3, 5).shape) == (2, 4, 3, 5)   # the same shape: always a view
        assert tuple(q.transpose(1, 2).view(2, 3, 20).shape) == (2, 3, 20)   # transposed back: contiguous
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            q.view_as(lib.zeros(2, 4, 15))
        assert tuple(q.reshape_as(lib.zeros(2, 4, 15)).shape) == (2, 4, 15)


def test_writes_through_a_view_of_a_non_contiguous_tensor_reach_the_base():
    for lib in (chainrule, torch):
        base = lib.zeros(4, 6)
        v = base.t()[:, 1:3].view(3, 2, 2)   # dim 0 splits; the rest is one run: PyTorch allows it
        v.fill_(1.0)
        assert float(base.sum()) == 12.0


T = np.random.default_rng(0).standard_normal((6, 4))
X4 = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
# Results that PyTorch lays out contiguously even for a transposed input (NumPy would keep the transposed
# layout for some of them), and results of layers that programs .view() straight away.
OPS = {
    "softmax": lambda lib, x: x.softmax(-1), "log_softmax": lambda lib, x: lib.nn.functional.log_softmax(x, 0),
    "cumsum": lambda lib, x: x.cumsum(0), "cumprod": lambda lib, x: x.cumprod(1), "cat": lambda lib, x: lib.cat([x, x], 1),
    "stack": lambda lib, x: lib.stack([x, x]), "roll": lambda lib, x: x.roll(1, 1),
    "index columns": lambda lib, x: x[:, lib.tensor([0, 2])], "index rows": lambda lib, x: x[lib.tensor([0, 2])],
    "layer_norm": lambda lib, x: lib.nn.functional.layer_norm(x, (6,)), "pad": lambda lib, x: lib.nn.functional.pad(x, (1, 1)),
    "one_hot": lambda lib, x: lib.nn.functional.one_hot((x > 0).long(), 2), "masked_fill": lambda lib, x: x.masked_fill(x > 0, 0.0),
    "exp (keeps the layout)": lambda lib, x: x.exp(), "x * 2 (keeps the layout)": lambda lib, x: x * 2,
    "matmul": lambda lib, x: x @ lib.ones(6, 3), "linear": lambda lib, x: lib.nn.functional.linear(x, lib.ones(3, 6)),
    "conv2d": lambda lib, x: lib.nn.functional.conv2d(lib.tensor(X4, dtype=lib.float32), lib.ones(2, 3, 3, 3), padding=1),
    "max_pool2d": lambda lib, x: lib.nn.functional.max_pool2d(lib.tensor(X4, dtype=lib.float32), 2),
    "interpolate": lambda lib, x: lib.nn.functional.interpolate(lib.tensor(X4, dtype=lib.float32), scale_factor=2),
}


@pytest.mark.parametrize("op", list(OPS))
def test_results_are_laid_out_as_pytorch_lays_them_out(op):
    ours = OPS[op](chainrule, chainrule.tensor(T, dtype=chainrule.float32).t())
    theirs = OPS[op](torch, torch.tensor(T, dtype=torch.float32).t())
    assert ours.is_contiguous() == theirs.is_contiguous()
    if theirs.is_contiguous():
        np.testing.assert_allclose(ours.view(-1).numpy(), theirs.view(-1).numpy(), rtol=1e-6, atol=1e-6)
    else:
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            ours.view(-1)

"""Shape ops against PyTorch: views, transposes, expand/repeat, joining and splitting."""
import pytest

from oracle import check

CASES = {
    "reshape": ([(2, 3, 4)], lambda lib, x: x.reshape(4, 6)),
    "reshape_tuple_neg": ([(2, 3, 4)], lambda lib, x: x.reshape((-1, 2))),
    "reshape_fn": ([(2, 3, 4)], lambda lib, x: lib.reshape(x, (3, 8))),
    "view": ([(2, 3, 4)], lambda lib, x: x.view(6, 4) * 2),
    "view_as": ([(2, 3, 4), (6, 4)], lambda lib, x, y: x.view_as(y) + y),
    "flatten": ([(2, 3, 4)], lambda lib, x: x.flatten()),
    "flatten_dims": ([(2, 3, 4, 5)], lambda lib, x: x.flatten(1, 2)),
    "flatten_fn": ([(2, 3, 4)], lambda lib, x: lib.flatten(x, start_dim=1)),
    "transpose": ([(2, 3, 4)], lambda lib, x: x.transpose(0, 2)),
    "transpose_neg": ([(2, 3, 4)], lambda lib, x: lib.transpose(x, -1, -2)),
    "permute": ([(2, 3, 4)], lambda lib, x: x.permute(2, 0, 1)),
    "permute_tuple": ([(2, 3, 4)], lambda lib, x: x.permute((1, 2, 0))),
    "T": ([(3, 4)], lambda lib, x: x.T),
    "t": ([(3, 4)], lambda lib, x: x.t()),
    "mT": ([(2, 3, 4)], lambda lib, x: x.mT),
    "squeeze": ([(2, 1, 3, 1)], lambda lib, x: x.squeeze()),
    "squeeze_dim": ([(2, 1, 3, 1)], lambda lib, x: x.squeeze(1)),
    "squeeze_noop": ([(2, 1, 3, 1)], lambda lib, x: x.squeeze(0)),
    "unsqueeze": ([(2, 3)], lambda lib, x: x.unsqueeze(1)),
    "unsqueeze_neg": ([(2, 3)], lambda lib, x: x.unsqueeze(-1)),
    "expand": ([(3, 1)], lambda lib, x: x.expand(2, 3, 4)),
    "expand_neg": ([(3, 1)], lambda lib, x: x.expand(-1, 5)),
    "expand_as": ([(1, 4), (3, 4)], lambda lib, x, y: x.expand_as(y) * y),
    "broadcast_to": ([(4,)], lambda lib, x: lib.broadcast_to(x, (2, 3, 4))),
    "broadcast_tensors": ([(3, 1), (1, 4)], lambda lib, x, y: lib.broadcast_tensors(x, y)),
    "repeat": ([(2, 3)], lambda lib, x: x.repeat(2, 3)),
    "repeat_more_dims": ([(2, 3)], lambda lib, x: x.repeat(4, 1, 2)),
    "cat": ([(2, 3), (4, 3)], lambda lib, x, y: lib.cat([x, y])),
    "cat_dim1": ([(2, 3), (2, 1), (2, 2)], lambda lib, x, y, z: lib.cat((x, y, z), dim=1)),
    "cat_neg": ([(2, 3, 1), (2, 3, 2)], lambda lib, x, y: lib.cat([x, y], -1)),
    "stack": ([(2, 3), (2, 3)], lambda lib, x, y: lib.stack([x, y])),
    "stack_dim": ([(2, 3), (2, 3), (2, 3)], lambda lib, x, y, z: lib.stack([x, y, z], dim=2)),
    "stack_neg": ([(2, 3), (2, 3)], lambda lib, x, y: lib.stack([x, y], -2)),
    "split_int": ([(7, 3)], lambda lib, x: x.split(3)),
    "split_sizes": ([(7, 3)], lambda lib, x: lib.split(x, [2, 5])),
    "split_dim": ([(2, 5)], lambda lib, x: x.split(2, dim=1)),
    "chunk": ([(7, 3)], lambda lib, x: x.chunk(3)),
    "chunk_dim": ([(3, 6)], lambda lib, x: lib.chunk(x, 4, dim=1)),
    "unbind": ([(3, 2)], lambda lib, x: x.unbind(1)),
    "narrow": ([(4, 5)], lambda lib, x: x.narrow(1, 1, 3)),
    "select": ([(4, 5)], lambda lib, x: x.select(0, 2)),
    "flip": ([(3, 4)], lambda lib, x: x.flip(0)),
    "flip_dims": ([(2, 3, 4)], lambda lib, x: x.flip((0, 2))),
    "roll": ([(3, 4)], lambda lib, x: x.roll(1, 1)),
    "tril": ([(4, 4)], lambda lib, x: x.tril()),
    "triu": ([(4, 5)], lambda lib, x: x.triu(1)),
    "contiguous": ([(3, 4)], lambda lib, x: x.t().contiguous() * 1),
    "chain_of_views": ([(2, 3, 4)], lambda lib, x: x.transpose(0, 1).reshape(3, 8).unsqueeze(0).expand(2, 3, 8)),
}


@pytest.mark.parametrize("name", CASES)
def test_shape_op(name):
    shapes, fn = CASES[name]
    check(fn, shapes)


def test_shapes_report_torch_size():
    import chainrule
    import torch
    assert repr(chainrule.zeros(2, 3).shape) == repr(torch.zeros(2, 3).shape)
    assert chainrule.zeros(2, 3).size(1) == 3 and chainrule.zeros(2, 3).size(-2) == 2


def test_cat_errors():
    import chainrule
    with pytest.raises(RuntimeError, match="zero-dimensional"):
        chainrule.cat([chainrule.tensor(1.0), chainrule.tensor(2.0)])
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        chainrule.cat([chainrule.ones(2, 3), chainrule.ones(2, 4)])

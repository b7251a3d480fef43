"""Module mechanics against PyTorch's: registration, names and order, state_dict round trips and their
errors, hooks, train/eval, to(double), repr, containers."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402



def build(nn):
    """A small model with nesting, a buffer, a non-persistent buffer and a shared sub-module."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8))
            self.heads = nn.ModuleList([nn.Linear(8, 3), nn.Linear(8, 2, bias=False)])
            self.scale = nn.Parameter(torch_like(nn).ones(1))
            self.register_buffer("steps", torch_like(nn).zeros(1))
            self.register_buffer("cache", torch_like(nn).zeros(2), persistent=False)
            self.alias = self.heads[0]          # shared: counted once

        def forward(self, x):
            h = self.features(x)
            return self.heads[0](h) * self.scale, self.heads[1](h)
    return Net()


def torch_like(nn):
    return torch if nn is torch.nn else cr


def test_names_and_order_match_torch():
    mine, th = build(cr.nn), build(torch.nn)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in th.named_parameters()]
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in th.named_buffers()]
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in th.named_modules()]
    assert [n for n, _ in mine.named_children()] == [n for n, _ in th.named_children()]
    assert list(mine.state_dict()) == list(th.state_dict())
    assert [n for n, _ in mine.named_parameters(prefix="model", recurse=True)][:2] == ["model.scale",
                                                                                      "model.features.0.weight"]
    assert [n for n, _ in mine.named_parameters(recurse=False)] == ["scale"]
    assert len(list(mine.parameters())) == len(list(th.parameters()))
    assert len(list(mine.modules())) == len(list(th.modules()))


def test_repr_matches_torch():
    for make in [build, lambda nn: nn.Sequential(OrderedDict(fc=nn.Linear(2, 3), act=nn.GELU(),
                                                             emb=nn.Embedding(5, 2, padding_idx=0),
                                                             ln=nn.LayerNorm(3), drop=nn.Dropout(0.2),
                                                             flat=nn.Flatten(), loss=nn.CrossEntropyLoss(),
                                                             sm=nn.Softmax(dim=1)))]:
        assert repr(make(cr.nn)) == repr(make(torch.nn))
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))


def test_parameter_is_a_leaf_sharing_data():
    t = cr.tensor([1.0, 2.0])
    p = cr.nn.Parameter(t)
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    with cr.no_grad():
        p.mul_(2)
    np.testing.assert_array_equal(t.numpy(), [2.0, 4.0])     # no copy, as torch.nn.Parameter
    assert isinstance(copy.deepcopy(p), cr.nn.Parameter)
    q = pickle.loads(pickle.dumps(p))
    assert isinstance(q, cr.nn.Parameter) and q.requires_grad
    assert not cr.nn.Parameter(cr.ones(2), requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        cr.nn.Parameter(cr.tensor([1, 2]))


def test_state_dict_round_trip_and_sharing():
    mine = build(cr.nn)
    sd = mine.state_dict()
    assert isinstance(sd, OrderedDict) and "cache" not in sd and "steps" in sd
    assert all(not v.requires_grad for v in sd.values())
    other = build(cr.nn)
    result = other.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for k, v in other.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    # torch's checkpoint loads into chainrule and back (the same keys and shapes).
    th = build(torch.nn)
    mine.load_state_dict({k: cr.tensor(v.numpy().copy()) for k, v in th.state_dict().items()})
    th.load_state_dict({k: torch.tensor(v.numpy().copy()) for k, v in mine.state_dict().items()})
    # Loading copies values into the existing Parameters: an optimizer holding them still works.
    p = mine.features[0].weight
    mine.load_state_dict(other.state_dict())
    assert mine.features[0].weight is p


def test_load_state_dict_errors_match_torch():
    def messages(lib):
        m = lib.nn.Sequential(OrderedDict(fc=lib.nn.Linear(4, 4)))
        sd = {"fc.weight": lib.zeros(3, 4), "fc.extra": lib.zeros(1)}
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(sd)
        nonstrict = m.load_state_dict({"fc.weight": lib.zeros(4, 4), "other": lib.zeros(1)}, strict=False)
        return str(info.value), (nonstrict.missing_keys, nonstrict.unexpected_keys)
    mine, theirs = messages(cr), messages(torch)
    assert mine == theirs
    assert 'Missing key(s) in state_dict: "fc.bias"' in mine[0]
    assert 'Unexpected key(s) in state_dict: "fc.extra"' in mine[0]
    assert "size mismatch for fc.weight: copying a param with shape torch.Size([3, 4]) from checkpoint, " \
           "the shape in current model is torch.Size([4, 4])" in mine[0]


def test_train_eval_and_zero_grad():
    m = build(cr.nn)
    assert m.training and all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    a, b = m(cr.randn(5, 4))
    (a.sum() + b.sum()).backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_double_keeps_parameter_objects():
    m = build(cr.nn)
    params = list(m.parameters())
    assert m.double() is m
    assert all(p.dtype == cr.float64 for p in m.parameters())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert m.features[2].num_batches_tracked.dtype == cr.int64   # integer buffers keep their dtype
    assert m.features[2].running_mean.dtype == cr.float64
    assert m.to(cr.float32).scale.dtype == cr.float32
    assert m.float().cpu().to("cpu") is m
    with pytest.raises(TypeError, match="floating point"):
        m.to(cr.int64)
    with pytest.raises(Exception):
        m.cuda()


def test_forward_hooks_and_pre_hooks():
    lin = cr.nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda mod, args, out: seen.append(out.shape) or out + 1)
    out = lin(cr.randn(4, 3))
    np.testing.assert_allclose(out.detach().numpy(), np.broadcast_to(lin.bias.detach().numpy() + 1, (4, 2)), rtol=1e-6)
    assert seen == [(4, 2)]
    h1.remove()
    h2.remove()
    x = cr.randn(4, 3)
    np.testing.assert_allclose(lin(x).detach().numpy(), (x @ lin.weight.T + lin.bias).detach().numpy(), rtol=1e-6)
    assert seen == [(4, 2)]
    kw = lin.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
    np.testing.assert_allclose(lin(x).detach().numpy(), (2 * x @ lin.weight.T + lin.bias).detach().numpy(), rtol=1e-6)
    kw.remove()


def test_setattr_getattr_delattr_dir_and_registration_errors():
    m = cr.nn.Module()
    m.w = cr.nn.Parameter(cr.ones(2))
    m.sub = cr.nn.Linear(2, 2)
    m.register_buffer("b", cr.zeros(2))
    m.plain = 3
    assert {"w", "sub", "b", "plain"} <= set(dir(m))
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    m.b = cr.ones(2)                                   # a buffer stays a buffer when reassigned
    assert "b" in dict(m.named_buffers())
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'w'"):
        m.w = 3
    with pytest.raises(TypeError, match="cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    m.w = None
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    del m.sub
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub
    with pytest.raises(KeyError, match="t contain"):
        m.register_buffer("a.b", cr.zeros(1))
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_parameter("plain", cr.nn.Parameter(cr.ones(1)))
    with pytest.raises(TypeError, match="torch.nn.Parameter or None required"):
        m.register_parameter("x", cr.ones(1))
    with pytest.raises(ValueError, match="non-leaf"):
        m.register_parameter("y", _nonleaf_param())
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        cr.nn.Module()(1)

    class Early(cr.nn.Module):
        def __init__(self):
            self.w = cr.nn.Parameter(cr.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def _nonleaf_param():
    p = cr.nn.Parameter(cr.ones(1))
    p.grad_fn = (cr.ones(1, requires_grad=True) * 2).grad_fn   # a Parameter that claims a history
    return p


def test_apply_and_deepcopy():
    m = build(cr.nn)
    m.apply(lambda mod: cr.nn.init.zeros_(mod.weight) if isinstance(mod, cr.nn.Linear) else None)
    assert all(np.all(l.weight.detach().numpy() == 0) for l in m.modules() if isinstance(l, cr.nn.Linear))
    c = copy.deepcopy(m)
    assert c.alias is c.heads[0]                      # sharing survives the copy
    assert c.heads[0].weight is not m.heads[0].weight
    assert isinstance(c.heads[0].weight, cr.nn.Parameter)


def test_sequential_container_api():
    seq = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU(), cr.nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], cr.nn.ReLU) and isinstance(seq[-1], cr.nn.Linear)
    head = seq[:2]
    assert isinstance(head, cr.nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    seq.append(cr.nn.Sigmoid())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq(cr.randn(4, 2)).shape == (4, 1)
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    named = cr.nn.Sequential(OrderedDict([("fc", cr.nn.Linear(2, 2)), ("act", cr.nn.Tanh())]))
    assert named.fc is named[0] and list(named.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]


def test_module_list_dict_parameter_list():
    ml = cr.nn.ModuleList([cr.nn.Linear(2, 2)])
    ml.append(cr.nn.ReLU())
    ml.extend([cr.nn.Linear(2, 1)])
    ml += [cr.nn.Tanh()]
    assert len(ml) == 4 and isinstance(ml[-1], cr.nn.Tanh) and len(ml[1:3]) == 2
    assert len(list(ml.parameters())) == 4
    md = cr.nn.ModuleDict({"a": cr.nn.Linear(2, 2), "b": cr.nn.ReLU()})
    md["c"] = cr.nn.Linear(2, 1)
    assert list(md.keys()) == ["a", "b", "c"] and "a" in md and len(md) == 3
    assert list(md.state_dict()) == ["a.weight", "a.bias", "c.weight", "c.bias"]
    pl = cr.nn.ParameterList([cr.ones(2), cr.nn.Parameter(cr.zeros(3))])
    assert len(pl) == 2 and all(isinstance(p, cr.nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pd = cr.nn.ParameterDict({"x": cr.ones(1)})
    assert [n for n, _ in pd.named_parameters()] == ["x"]

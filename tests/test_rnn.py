"""RNN, LSTM, GRU and their cells against PyTorch, with identical weights copied by parameter name.

Checks outputs, final states, and the gradients of input, initial state and every parameter
(float64), over layers, directions, batch_first, bias, batch sizes 1 and > 1, and unbatched input.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402
from oracle import assert_same  # noqa: E402


def _pair(cr_cls, th_cls, *args, **kwargs):
    chainrule.manual_seed(0)
    m = cr_cls(*args, **kwargs).double()
    t = th_cls(*args, **kwargs).double()
    names = [n for n, _ in m.named_parameters()]
    assert names == [n for n, _ in t.named_parameters()], "parameter names/order differ from torch"
    th_params = dict(t.named_parameters())
    for n, p in m.named_parameters():
        assert tuple(p.shape) == tuple(th_params[n].shape), n
        th_params[n].data = torch.tensor(p.detach().numpy().copy())
    return m, t


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


def _compare(m, t, inputs):
    """Run both modules on the same inputs (arrays), backprop the same random grads, compare everything."""
    cr_in = [chainrule.tensor(a, requires_grad=True) for a in inputs]
    th_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    if len(inputs) == 3:   # LSTM (x, (h0, c0))
        out, out_t = m(cr_in[0], (cr_in[1], cr_in[2])), t(th_in[0], (th_in[1], th_in[2]))
    else:
        out, out_t = m(*cr_in), t(*th_in)
    flat, flat_t = _flat(out), _flat(out_t)
    assert len(flat) == len(flat_t)
    rng = np.random.default_rng(1)
    ups = [rng.standard_normal(tuple(o.shape)) for o in flat_t]
    for i, (a, b) in enumerate(zip(flat, flat_t)):
        assert_same(a, b, f"output {i}")
    chainrule.autograd.backward(flat, [chainrule.tensor(u) for u in ups])
    torch.autograd.backward(flat_t, [torch.tensor(u) for u in ups])
    for i, (a, b) in enumerate(zip(cr_in, th_in)):
        assert_same(a.grad, b.grad, f"grad of input {i}")
    th_params = dict(t.named_parameters())
    for n, p in m.named_parameters():
        assert_same(p.grad, th_params[n].grad, f"grad of {n}")


CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False),
]


@pytest.mark.parametrize("kind", ["RNN", "RNN_relu", "GRU", "LSTM"])
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("batch", [1, 3])
def test_sequence_layers_match_torch(kind, cfg, batch):
    cr_cls, th_cls = {"RNN": (RNN, torch.nn.RNN), "RNN_relu": (RNN, torch.nn.RNN), "GRU": (GRU, torch.nn.GRU),
                      "LSTM": (LSTM, torch.nn.LSTM)}[kind]
    kwargs = dict(cfg, nonlinearity="relu") if kind == "RNN_relu" else cfg
    m, t = _pair(cr_cls, th_cls, 4, 5, **kwargs)
    rng = np.random.default_rng(0)
    T, dirs, layers = 6, 2 if cfg.get("bidirectional") else 1, cfg.get("num_layers", 1)
    x = rng.standard_normal((batch, T, 4) if cfg.get("batch_first") else (T, batch, 4))
    h0 = rng.standard_normal((layers * dirs, batch, 5))
    inputs = [x, h0, rng.standard_normal(h0.shape)] if kind == "LSTM" else [x, h0]
    _compare(m, t, inputs)


@pytest.mark.parametrize("cr_cls,th_cls", [(GRU, torch.nn.GRU), (LSTM, torch.nn.LSTM), (RNN, torch.nn.RNN)])
def test_default_zero_state_and_unbatched_input(cr_cls, th_cls):
    m, t = _pair(cr_cls, th_cls, 3, 4, num_layers=2)
    x = np.random.default_rng(2).standard_normal((5, 3))   # (L, H_in): no batch dim
    _compare(m, t, [x])


def test_inter_layer_dropout_only_in_training():
    m = GRU(3, 4, num_layers=2, dropout=0.5).double()
    x = chainrule.randn(5, 2, 3, dtype=chainrule.float64)
    m.eval()
    a, b = m(x)[0].detach().numpy(), m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    chainrule.manual_seed(0)
    c = m(x)[0].detach().numpy()
    chainrule.manual_seed(1)
    assert not np.allclose(c, m(x)[0].detach().numpy())


def test_init_is_uniform_within_one_over_sqrt_hidden():
    m = LSTM(10, 16)
    for p in m.parameters():
        assert np.abs(p.detach().numpy()).max() <= 1 / 4
    assert m.weight_ih_l0.shape == (64, 10) and m.bias_hh_l0.shape == (64,)


@pytest.mark.parametrize("cr_cls,th_cls,kwargs", [(RNNCell, torch.nn.RNNCell, {}),
                                                  (RNNCell, torch.nn.RNNCell, dict(nonlinearity="relu")),
                                                  (GRUCell, torch.nn.GRUCell, {}),
                                                  (GRUCell, torch.nn.GRUCell, dict(bias=False)),
                                                  (LSTMCell, torch.nn.LSTMCell, {})])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(cr_cls, th_cls, kwargs, batched):
    m, t = _pair(cr_cls, th_cls, 3, 5, **kwargs)
    rng = np.random.default_rng(0)
    lead = (2,) if batched else ()
    x, h = rng.standard_normal(lead + (3,)), rng.standard_normal(lead + (5,))
    if cr_cls is LSTMCell:
        _compare(m, t, [x, h, rng.standard_normal(h.shape)])
    else:
        _compare(m, t, [x, h])
    _compare(m, t, [x])   # default zero state


def test_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="input_size. Expected 4, got 3"):
        GRU(4, 5)(chainrule.zeros(2, 1, 3))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        GRU(4, 5)(chainrule.zeros(2, 1, 4), chainrule.zeros(2, 1, 5))
    with pytest.raises(ValueError, match="Unknown nonlinearity"):
        RNN(4, 5, nonlinearity="sigmoid")

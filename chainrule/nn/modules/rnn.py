"""Recurrent layers: ``RNN`` (tanh or relu), ``LSTM``, ``GRU`` and their single-step ``*Cell`` forms.

Everything is PyTorch's: parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse`` for the backward direction), shapes (gates stacked along dim 0),
gate order (LSTM: input, forget, cell, output; GRU: reset, update, new), the GRU's
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, initialisation U(±1/√hidden_size), and return
values (``output, h_n`` or ``output, (h_n, c_n)``), so weights copied from PyTorch give the same
numbers.

A layer runs each direction over the whole sequence as one primitive (``functional_rnn.rnn_layer``:
one GEMM for every step's input projection, the recurrence and backpropagation through time inside);
the cells are a handful of Tensor ops per step.
"""
import math

from ... import creation
from ...ops.shape import cat, stack
from .. import init
from ..functional_layers import dropout
from ..functional_rnn import CELLS, cell_step, rnn_layer
from ..parameter import Parameter
from .module import Module


def _uniform_init(module, hidden_size):
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for w in module.parameters():
        init.uniform_(w, -bound, bound)


# ----- full sequence layers -----------------------------------------------------------------------
def _check_hx_kind(name, hx, is_lstm):
    """An LSTM's state is the pair (h_0, c_0), the others' a single h_0: name what is expected, not
    "not enough values to unpack"."""
    if hx is None:
        return
    from ...tensor import Tensor
    if is_lstm:
        if not (isinstance(hx, (tuple, list)) and len(hx) == 2 and all(isinstance(h, Tensor) for h in hx)):
            got = type(hx).__name__ + (f" of {len(hx)}" if isinstance(hx, (tuple, list)) else "")
            raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) of two tensors, got a {got}")
    elif not isinstance(hx, Tensor):
        raise TypeError(f"{name}: hx must be one tensor h_0 (only an LSTM takes a pair (h_0, c_0)), got a "
                        f"{type(hx).__name__}")


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU: parameters per layer and direction, the time loop."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if proj_size:
            raise NotImplementedError("LSTM proj_size is not supported by chainrule")
        if isinstance(input_size, int) and input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(f"dropout should be a number in range [0, 1] representing the probability of an "
                             f"element being zeroed, got {dropout!r}")
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        gates = CELLS[mode][1] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gates, layer_in)), ("weight_hh", (gates, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                for name, shape in shapes:
                    setattr(self, name + suffix, Parameter(creation.empty(*shape, dtype=dtype)))
                    self._flat_weights_names.append(name + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self, self.hidden_size)

    @property
    def all_weights(self):
        names = iter(self._flat_weights_names)
        per = 4 if self.bias else 2
        return [[getattr(self, next(names)) for _ in range(per)]
                for _ in range(len(self._flat_weights_names) // per)]

    def _weights(self, layer, direction):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda name: getattr(self, name + suffix) if self.bias or name.startswith("w") else None  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _initial_state(self, input, hx, batch):
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions, batch, self.hidden_size)
        if hx is None:
            return creation.zeros(*shape, dtype=input.dtype)
        if tuple(hx.shape) != shape:
            raise RuntimeError(f"Expected hidden size {tuple(shape)}, got {list(hx.shape)}")
        return hx

    def forward(self, input, hx=None):
        is_lstm = self.mode == "LSTM"
        _check_hx_kind(type(self).__name__, hx, is_lstm)
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D tensor")
        weight = self._weights(0, 0)[0]
        if input.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). Convert "
                             f"input: input.to({weight.dtype}), or convert model: model.to({input.dtype})")
        batched = input.ndim == 3
        if not batched:   # (L, H_in): a batch of one, in the seq-first layout
            input = input.unsqueeze(1)
            if hx is not None:
                hx = tuple(h.unsqueeze(1) for h in hx) if is_lstm else hx.unsqueeze(1)
        elif self.batch_first:
            # A contiguous copy, as PyTorch's: the layers keep it (not the caller's tensor, which may then
            # change in place before backward, as PyTorch allows)
            input = input.transpose(0, 1).contiguous()
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got "
                               f"{input.shape[-1]}")
        batch = input.shape[1]
        if is_lstm:
            h0, c0 = hx if hx is not None else (None, None)
            h0, c0 = self._initial_state(input, h0, batch), self._initial_state(input, c0, batch)
        else:
            h0 = self._initial_state(input, hx, batch)
        directions = 2 if self.bidirectional else 1
        layer_input = input
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                out, h, c = rnn_layer(self.mode, layer_input, h0[k], c0[k] if is_lstm else None,
                                      *self._weights(layer, d), reverse=bool(d))
                outs.append(out)
                h_n.append(h)
                if is_lstm:
                    c_n.append(c)
            layer_input = outs[0] if directions == 1 else cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = dropout(layer_input, self.dropout, True)
        output = layer_input
        h_n = stack(h_n)
        if is_lstm:
            c_n = stack(c_n)
        if not batched:
            output, h_n = output.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if is_lstm else c_n
        elif self.batch_first:
            output = output.transpose(0, 1)
        return (output, (h_n, c_n)) if is_lstm else (output, h_n)

    def flatten_parameters(self):
        """A cuDNN memory-layout hint in PyTorch; nothing to do here."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu with nonlinearity='relu')."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory; returns ``output, (h_n, c_n)``. Gates stacked as (input, forget, cell, output)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit; gates stacked as (reset, update, new)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ----- single steps -------------------------------------------------------------------------------
class RNNCellBase(Module):
    def __init__(self, mode, input_size, hidden_size, bias, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates = CELLS[mode][1] * hidden_size
        self.weight_ih = Parameter(creation.empty(gates, input_size, dtype=dtype))
        self.weight_hh = Parameter(creation.empty(gates, hidden_size, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(creation.empty(gates, dtype=dtype))
            self.bias_hh = Parameter(creation.empty(gates, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        _uniform_init(self, self.hidden_size)

    def _prepare(self, input, hx):
        _check_hx_kind(type(self).__name__, hx, isinstance(self, LSTMCell))
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} expected {self.input_size}")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            return input, None, batched
        hx = tuple(h if batched else h.unsqueeze(0) for h in hx) if isinstance(hx, tuple) else \
            (hx if batched else hx.unsqueeze(0))
        return input, hx, batched

    def _zeros(self, input):
        return creation.zeros(input.shape[0], self.hidden_size, dtype=input.dtype)

    def _run(self, input, hx):
        return cell_step(self.mode, input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        h = self._run(input, self._zeros(input) if hx is None else hx)
        return h if batched else h.squeeze(0)


class GRUCell(RNNCellBase):
    """One GRU step; returns h'."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        h = self._run(input, self._zeros(input) if hx is None else hx)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; ``hx`` is ``(h, c)`` and the result is ``(h', c')``."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx)
        if hx is None:
            hx = (self._zeros(input), self._zeros(input))
        h, c = self._run(input, hx)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))

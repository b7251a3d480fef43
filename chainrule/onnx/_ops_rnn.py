"""Converters for ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN``: one ONNX recurrent node per layer.

ONNX's LSTM, GRU and RNN ops compute what PyTorch's layers compute, with the gates in another order
(LSTM: PyTorch i, f, g, o -- ONNX i, o, f, c; GRU: PyTorch r, z, n -- ONNX z, r, h, with
``linear_before_reset=1`` for PyTorch's placement of the reset gate) and both directions stacked in one
tensor. The weights are rearranged once, at export, into initializers; layers are chained through their
outputs, and the final states of all layers concatenated, as PyTorch returns them.
"""
import numpy

from ._registry import converts, out_dtype

_GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _reorder(array, mode, hidden):
    blocks = [array[i * hidden:(i + 1) * hidden] for i in range(len(_GATE_ORDER[mode]))]
    return numpy.concatenate([blocks[i] for i in _GATE_ORDER[mode]], axis=0)


@converts("nn.LSTM", "nn.GRU", "nn.RNN")
def _nn_rnn(op):
    m = op.module
    if getattr(m, "proj_size", 0):
        op.fail("LSTM with proj_size is not exported")
    if m.training and m.dropout and m.num_layers > 1:
        op.fail("dropout between recurrent layers in training mode is not exported")
    x = op.args[0]
    hx = op.args[1] if len(op.args) > 1 else op.kwargs.get("hx")
    dtype = out_dtype(op)
    mode, H, dirs = m.mode, m.hidden_size, 2 if m.bidirectional else 1
    kind = "LSTM" if mode == "LSTM" else "GRU" if mode == "GRU" else "RNN"
    unbatched = x.ndim == 2
    value = op.value(x, dtype)
    if unbatched:
        value = op.node("Unsqueeze", [value, op.const([1], numpy.int64)])
    elif m.batch_first:
        value = op.node("Transpose", [value], perm=[1, 0, 2])
    states = _initial_states(op, hx, mode, unbatched, dtype)
    prefix = op.g.param_names.get(id(m.weight_ih_l0), "rnn.weight_ih_l0").rsplit(".", 1)[0]
    last_h, last_c = [], []
    for layer in range(m.num_layers):
        W, R, B = _layer_weights(m, layer, dirs, dtype)
        inputs = [value, op.g.constant(W, f"{prefix}.onnx_W_l{layer}"), op.g.constant(R, f"{prefix}.onnx_R_l{layer}"),
                  op.g.constant(B, f"{prefix}.onnx_B_l{layer}"), ""]
        for state in states:
            inputs.append(op.node("Slice", [state, op.const([layer * dirs], numpy.int64),
                                            op.const([(layer + 1) * dirs], numpy.int64),
                                            op.const([0], numpy.int64)]))
        if not states:
            inputs.pop()   # no sequence_lens either: trailing optional inputs are left out
        attrs = {"hidden_size": H, "direction": "bidirectional" if dirs == 2 else "forward"}
        if kind == "GRU":
            attrs["linear_before_reset"] = 1
        if kind == "RNN":
            attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"] * dirs
        outs = op.node(kind, inputs, n_out=3 if kind == "LSTM" else 2, **attrs)
        y, y_h = outs[0], outs[1]
        last_h.append(y_h)
        if kind == "LSTM":
            last_c.append(outs[2])
        # (seq, dirs, batch, H) -> (seq, batch, dirs * H): the next layer's input and the output.
        value = op.node("Reshape", [op.node("Transpose", [y], perm=[0, 2, 1, 3]), op.const([0, 0, -1], numpy.int64)])
    output = value
    if unbatched:
        output = op.node("Squeeze", [output, op.const([1], numpy.int64)])
    elif m.batch_first:
        output = op.node("Transpose", [output], perm=[1, 0, 2])
    h_n = _final(op, last_h, unbatched)
    if kind == "LSTM":
        return [output, [h_n, _final(op, last_c, unbatched)]]
    return [output, h_n]


def _initial_states(op, hx, mode, unbatched, dtype):
    if hx is None:
        return []
    states = list(hx) if mode == "LSTM" else [hx]
    values = [op.value(s, dtype) for s in states]
    if unbatched:
        values = [op.node("Unsqueeze", [v, op.const([1], numpy.int64)]) for v in values]
    return values


def _layer_weights(m, layer, dirs, dtype):
    """ONNX's W (dirs, G*H, in), R (dirs, G*H, H) and B (dirs, 2*G*H) for one layer."""
    Ws, Rs, Bs = [], [], []
    H = m.hidden_size
    for d in range(dirs):
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        w_ih = getattr(m, f"weight_ih{suffix}")._array
        w_hh = getattr(m, f"weight_hh{suffix}")._array
        Ws.append(_reorder(w_ih, m.mode, H))
        Rs.append(_reorder(w_hh, m.mode, H))
        gates = w_ih.shape[0]
        if m.bias:
            b_ih, b_hh = getattr(m, f"bias_ih{suffix}")._array, getattr(m, f"bias_hh{suffix}")._array
            Bs.append(numpy.concatenate([_reorder(b_ih, m.mode, H), _reorder(b_hh, m.mode, H)]))
        else:
            Bs.append(numpy.zeros(2 * gates, dtype=w_ih.dtype))
    return tuple(numpy.stack(a).astype(dtype) for a in (Ws, Rs, Bs))


def _final(op, states, unbatched):
    out = op.node("Concat", states, axis=0) if len(states) > 1 else op.node("Identity", states)
    return op.node("Squeeze", [out, op.const([1], numpy.int64)]) if unbatched else out

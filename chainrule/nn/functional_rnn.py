"""Recurrent layers over a whole sequence: ``rnn_layer`` runs one layer in one direction as one primitive.

Written step by step in Tensor ops, an LSTM records a dozen ops per time step, and their bookkeeping
(plus a backward walk through all of them) costs more than the arithmetic at usual sizes. As one
primitive (like PyTorch's own ``MkldnnRnnLayer`` on CPU):

* forward: the input projection of every time step is one GEMM, ``X (T·N, in) @ W_ihᵀ``; then a loop
  over time adds ``h @ W_hhᵀ`` and applies the gates in place, keeping the activated gates;
* backward (backpropagation through time): a loop back over time computes the gates' gradients, each
  step one small GEMM for the hidden state's gradient; then the weight gradients are one GEMM each over
  all time steps, ``dGatesᵀ @ X`` and ``dGatesᵀ @ H_prev``, and the input's gradient ``dGates @ W_ih``.

Under ``create_graph`` the backward differentiates the step-by-step composition (``cell_step``, what the
cells use) instead, so gradients of gradients work as in PyTorch. The gates are PyTorch's: LSTM (input,
forget, cell, output), GRU (reset, update, new) with ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
"""
from .._backend import xp as np

from ..autograd import grad_mode
from ..autograd.engine import record
from ..autograd.replay import replay_backward
from ..ops.elementwise import relu, sigmoid, tanh
from ..ops.shape import cat, stack
from ..tensor import _make
from .functional_layers import linear


# ----- one time step in Tensor ops (the cells, and the composition a fused layer differentiates) ------
def _rnn_tanh_step(x, h, w_ih, w_hh, b_ih, b_hh):
    return tanh(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh))


def _rnn_relu_step(x, h, w_ih, w_hh, b_ih, b_hh):
    return relu(linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh))


def _lstm_step(x, state, w_ih, w_hh, b_ih, b_hh):
    h, c = state
    i, f, g, o = (linear(x, w_ih, b_ih) + linear(h, w_hh, b_hh)).chunk(4, -1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c), c


def _gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    xr, xz, xn = linear(x, w_ih, b_ih).chunk(3, -1)
    hr, hz, hn = linear(h, w_hh, b_hh).chunk(3, -1)
    r = sigmoid(xr + hr)
    z = sigmoid(xz + hz)
    n = tanh(xn + r * hn)            # the reset gate scales W_hn h + b_hn (PyTorch's form)
    return (1 - z) * n + z * h


# mode -> (one step in Tensor ops, gates per hidden unit)
CELLS = {"RNN_TANH": (_rnn_tanh_step, 1), "RNN_RELU": (_rnn_relu_step, 1), "LSTM": (_lstm_step, 4),
         "GRU": (_gru_step, 3)}


def cell_step(mode, x, state, w_ih, w_hh, b_ih, b_hh):
    """One step of ``mode``'s cell; ``state`` is ``h``, or ``(h, c)`` for an LSTM."""
    return CELLS[mode][0](x, state, w_ih, w_hh, b_ih, b_hh)


# ----- a whole layer ----------------------------------------------------------------------------------
def rnn_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """One layer, one direction, over a (T, N, in) sequence: ``(output (T, N, H), h_n, c_n or None)``.

    The primitive's result is one array: the outputs and, for an LSTM, the final cell state as a last row;
    ``output``, ``h_n`` and ``c_n`` are views of it. ``reverse`` runs from the last time step to the first.
    """
    T = x._array.shape[0]
    arrays = [t._array for t in (x, h0, c0, w_ih, w_hh, b_ih, b_hh) if t is not None]
    if T == 0 or x._array.shape[1] == 0 or {a.dtype for a in arrays} - {x._array.dtype} or \
            x._array.dtype not in (np.float32, np.float64):
        # nothing to fuse (no step, an empty batch), mixed dtypes, or half precision (whose ops compute in
        # float32): step by step
        return _layer_composite(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
    forward = {"LSTM": _lstm_forward, "GRU": _gru_forward}.get(mode, _rnn_forward)
    packed, backward_arrays = forward(mode, x._array, h0._array, None if c0 is None else c0._array, w_ih._array,
                                      w_hh._array, None if b_ih is None else b_ih._array,
                                      None if b_hh is None else b_hh._array, reverse)
    inputs = (x, h0, c0, w_ih, w_hh, b_ih, b_hh)

    def backward(g):
        if grad_mode.enabled:   # create_graph: the step-by-step composition, differentiable again
            return replay_backward(
                lambda *args: _packed(mode, *_layer_composite(mode, *args, reverse=reverse)), inputs, g)
        grads = backward_arrays(g._array, [t is not None and t._requires_grad for t in inputs])
        return tuple(None if a is None else _make(a) for a in grads)
    name = {"LSTM": "MkldnnRnnLayerBackward0", "GRU": "GruBackward0"}.get(mode, "RnnBackward0")
    result = record(packed, name, inputs, backward, saved=tuple(t for t in inputs if t is not None))
    out = result[:T]
    h_n = out[0 if reverse else T - 1]
    return out, h_n, (result[T] if mode == "LSTM" else None)


def _packed(mode, out, h_n, c_n):
    """The composition's results in the fused op's one-array layout (for differentiating it again)."""
    return cat([out, c_n.unsqueeze(0)]) if mode == "LSTM" else out


def _layer_composite(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """The same layer as a Python loop of ``cell_step`` (autograd unrolls it)."""
    T = x.shape[0]
    state = (h0, c0) if mode == "LSTM" else h0
    seq = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        state = cell_step(mode, x[t], state, w_ih, w_hh, b_ih, b_hh)
        seq[t] = state[0] if mode == "LSTM" else state
    if T == 0:
        raise RuntimeError(f"{mode}: expected a sequence of at least one time step, got input of shape "
                           f"{list(x.shape)}")
    h_n = state[0] if mode == "LSTM" else state
    return stack(seq), h_n, (state[1] if mode == "LSTM" else None)


def _sigmoid_(a):
    """σ(a) in place, as 1/(1 + e^(-a))."""
    a *= -1
    return _sigmoid_of_negated_(a)


def _sigmoid_of_negated_(m):
    """σ(-m) in place, for an array that holds -a already: 1/(1 + e^m) (e^m = inf gives 0, which is right)."""
    with np.errstate(over="ignore"):
        np.exp(m, out=m)
    m += 1
    return np.reciprocal(m, out=m)


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(out, first, reverse):
    """(T, N, H) states before each time step: ``first`` then the outputs, in processing order."""
    return np.concatenate([out[1:], first[None]]) if reverse else np.concatenate([first[None], out[:-1]])


def _input_grads(D2, X, W_ih, need_x, need_w):
    """Gradients of the input and of W_ih from the gates' pre-activation gradients D2 (T·N, gates)."""
    X2 = X.reshape(D2.shape[0], -1)
    return ((D2 @ W_ih).reshape(X.shape) if need_x else None, D2.T @ X2 if need_w else None)


# LSTM: PyTorch stacks the gates (i, f, g, o); inside, they are reordered to (g, i, f, o), so that the tanh
# gate comes first, the three sigmoid gates sit side by side, and the three gates that the cell state's
# gradient flows into (g, i, f) are one block in the backward pass.
_LSTM_ORDER = [2, 0, 1, 3]
_LSTM_BACK = [1, 2, 0, 3]


def _regate(a, order, gates):
    """Rows of a gate-stacked (gates·H, ...) array (or vector) in another gate order (a copy)."""
    return a.reshape((gates, -1) + a.shape[1:])[order].reshape(a.shape)


def _lstm_forward(mode, X, h0, c0, W_ih, W_hh, b_ih, b_hh, reverse):
    T, N = X.shape[:2]
    H = W_hh.shape[1]
    Wi, Wh = _regate(W_ih, _LSTM_ORDER, 4), _regate(W_hh, _LSTM_ORDER, 4)
    acts = (X.reshape(T * N, -1) @ Wi.T).reshape(T, N, 4 * H)      # every step's input projection: one GEMM
    if b_ih is not None:
        acts += _regate(b_ih + b_hh, _LSTM_ORDER, 4)
    packed = np.empty((T + 1, N, H), X.dtype)                        # outputs, then c_n
    cells = np.empty((T, N, H), X.dtype)
    tanh_c = np.empty((T, N, H), X.dtype)
    # The activated gates: g, and the sigmoid gates gate-major, (i, f, o) each an (N, H) block, so that the
    # sigmoid's passes and the products after it run on contiguous memory (on the (N, 3H) columns of the
    # pre-activations every pass was strided: the loop took 1.16x as long).
    g = np.empty((T, N, H), X.dtype)
    ifo = np.empty((T, 3, N, H), X.dtype)
    WhT = np.ascontiguousarray(Wh.T)      # (a row-major operand: OpenBLAS runs these small products faster)
    h, c = h0, c0
    for t in _order(T, reverse):
        z = h @ WhT
        z += acts[t]
        np.tanh(z[:, :H], out=g[t])
        s = ifo[t]
        np.negative(z[:, H:].reshape(N, 3, H).transpose(1, 0, 2), out=s)   # -z, gate-major, in one pass
        _sigmoid_of_negated_(s)
        c_new = cells[t]
        np.multiply(s[1], c, out=c_new)
        c_new += s[0] * g[t]
        np.tanh(c_new, out=tanh_c[t])
        h = np.multiply(s[2], tanh_c[t], out=packed[t])
        c = c_new
    packed[T] = c
    del acts

    def backward(G, need):
        need_x, need_h, need_c, need_wi, need_wh, need_bi, need_bh = need
        i, f, o = ifo[:, 0], ifo[:, 1], ifo[:, 2]
        c_prev = _previous(cells, c0, reverse)
        # Per-step factors, computed for all steps at once: with dc the cell state's total gradient,
        # d(g, i, f) = dc · (i(1 - g²), g·i(1 - i), c_prev·f(1 - f)) and do = dh · tanh(c)·o(1 - o).
        through_c = o * (1 - tanh_c * tanh_c)                        # dc += dh · o(1 - tanh²c)
        gif = np.stack([i * (1 - g * g), g * i * (1 - i), c_prev * f * (1 - f)], axis=2)   # (T, N, 3, H)
        o_factor = tanh_c * o * (1 - o)
        dacts = np.empty((T, N, 4 * H), X.dtype)
        dh = np.zeros((N, H), X.dtype)
        dc = G[T].copy()
        dct = np.empty((N, H), X.dtype)
        for t in _order(T, not reverse):
            dh += G[t]
            np.multiply(dh, through_c[t], out=dct)
            dct += dc
            d = dacts[t]
            np.multiply(dct[:, None, :], gif[t], out=d[:, :3 * H].reshape(N, 3, H))
            np.multiply(dh, o_factor[t], out=d[:, 3 * H:])
            np.multiply(dct, f[t], out=dc)
            dh = d @ Wh
        D2 = dacts.reshape(T * N, 4 * H)
        dx, dwi = _input_grads(D2, X, Wi, need_x, need_wi)
        dwh = D2.T @ _previous(packed[:T], h0, reverse).reshape(T * N, H) if need_wh else None
        db = _regate(D2.sum(0), _LSTM_BACK, 4) if need_bi or need_bh else None
        return (dx, dh if need_h else None, dc if need_c else None,
                None if dwi is None else _regate(dwi, _LSTM_BACK, 4),
                None if dwh is None else _regate(dwh, _LSTM_BACK, 4),
                db if need_bi else None, db if need_bh else None)
    return packed, backward


def _gru_forward(mode, X, h0, c0, W_ih, W_hh, b_ih, b_hh, reverse):
    T, N = X.shape[:2]
    H = W_hh.shape[1]
    acts = (X.reshape(T * N, -1) @ W_ih.T).reshape(T, N, 3 * H)     # r, z, n: input parts, then activated
    if b_ih is not None:
        acts += b_ih
    hn_all = np.empty((T, N, H), X.dtype)                            # W_hn h + b_hn, per step
    out = np.empty((T, N, H), X.dtype)
    WhT = np.ascontiguousarray(W_hh.T)
    h = h0
    for t in _order(T, reverse):
        a = acts[t]
        hg = h @ WhT
        if b_hh is not None:
            hg += b_hh
        a[:, :2 * H] += hg[:, :2 * H]
        _sigmoid_(a[:, :2 * H])
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        hn_all[t] = hg[:, 2 * H:]
        n += r * hg[:, 2 * H:]
        np.tanh(n, out=n)
        h_new = np.subtract(h, n, out=out[t])                        # h' = n + z·(h - n)
        h_new *= z
        h_new += n
        h = h_new

    def backward(G, need):
        need_x, need_h, _, need_wi, need_wh, need_bi, need_bh = need
        r, z, n = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:]
        h_prev = _previous(out, h0, reverse)
        # dn = dh·(1 - z)(1 - n²); dz = dh·(h_prev - n)·z(1 - z); dr = dn·hn·r(1 - r)
        n_factor = (1 - z) * (1 - n * n)
        z_factor = (h_prev - n) * z * (1 - z)
        r_factor = hn_all * r * (1 - r)
        dx_gates = np.empty((T, N, 3 * H), X.dtype)                  # d(r, z, n) of the input parts
        dhn = np.empty((T, N, H), X.dtype)                           # d(W_hn h + b_hn)
        dh = np.zeros((N, H), X.dtype)
        for t in _order(T, not reverse):
            dh += G[t]
            d = dx_gates[t]
            dn = np.multiply(dh, n_factor[t], out=d[:, 2 * H:])
            np.multiply(dh, z_factor[t], out=d[:, H:2 * H])
            np.multiply(dn, r_factor[t], out=d[:, :H])
            np.multiply(dn, r[t], out=dhn[t])
            dh_next = dh * z[t]
            dh_next += d[:, :2 * H] @ W_hh[:2 * H] + dhn[t] @ W_hh[2 * H:]
            dh = dh_next
        D2 = dx_gates.reshape(T * N, 3 * H)
        dx, dwi = _input_grads(D2, X, W_ih, need_x, need_wi)
        dwh = dbh = None
        if need_wh or need_bh:
            dh_gates = np.concatenate([dx_gates[..., :2 * H], dhn], axis=2).reshape(T * N, 3 * H)
            dwh = dh_gates.T @ h_prev.reshape(T * N, H) if need_wh else None
            dbh = dh_gates.sum(0) if need_bh else None
        return (dx, dh if need_h else None, None, dwi, dwh, D2.sum(0) if need_bi else None, dbh)
    return out, backward


def _rnn_forward(mode, X, h0, c0, W_ih, W_hh, b_ih, b_hh, reverse):
    T, N = X.shape[:2]
    H = W_hh.shape[1]
    out = (X.reshape(T * N, -1) @ W_ih.T).reshape(T, N, H)          # pre-activations, then outputs
    if b_ih is not None:
        out += b_ih + b_hh
    WhT = np.ascontiguousarray(W_hh.T)
    h = h0
    for t in _order(T, reverse):
        a = out[t]
        a += h @ WhT
        if mode == "RNN_TANH":
            np.tanh(a, out=a)
        else:
            np.multiply(a, a > 0, out=a)   # relu in place (NaN stays NaN, as torch's)
        h = a

    def backward(G, need):
        need_x, need_h, _, need_wi, need_wh, need_bi, need_bh = need
        slope = 1 - out * out if mode == "RNN_TANH" else (out > 0).astype(X.dtype)
        dpre = np.empty((T, N, H), X.dtype)
        dh = np.zeros((N, H), X.dtype)
        for t in _order(T, not reverse):
            dh += G[t]
            np.multiply(dh, slope[t], out=dpre[t])
            dh = dpre[t] @ W_hh
        D2 = dpre.reshape(T * N, H)
        dx, dwi = _input_grads(D2, X, W_ih, need_x, need_wi)
        dwh = D2.T @ _previous(out, h0, reverse).reshape(T * N, H) if need_wh else None
        db = D2.sum(0) if need_bi or need_bh else None
        return (dx, dh if need_h else None, None, dwi, dwh, db if need_bi else None, db if need_bh else None)
    return out, backward

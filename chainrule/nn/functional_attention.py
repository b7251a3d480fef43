"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

Both are compositions of differentiable ops (matmul, softmax, masking), so gradients, and
gradients of gradients, need no rules of their own. They follow PyTorch's reference ("math")
implementation step by step, including its mask conventions, which differ between the two:

* ``scaled_dot_product_attention``: a boolean ``attn_mask`` marks positions that MAY be attended
  (True = keep); a float mask is added to the scores.
* ``multi_head_attention_forward`` (``nn.MultiheadAttention``): a boolean ``attn_mask`` or
  ``key_padding_mask`` marks positions that may NOT be attended (True = masked out).

A query row whose every key is masked gets all-zero attention (PyTorch's "safe softmax"), not NaN.
"""
import math

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.engine import record
from ..autograd.replay import replay_backward
from ..ops import _parallel as parallel
from ..ops._autocast import autocast_to_lower_precision
from ..compiler import is_compiling
from ..ops._common import broadcast_error, last_axis_sums
from ..ops.activation import softmax
from ..ops.elementwise import where
from ..ops.shape import cat
from ..tensor import Tensor, _make
from .functional_layers import dropout, linear


def _masked_softmax(scores):
    """softmax over the last dim, with rows that are entirely -inf giving zeros (and zero gradient)."""
    dead = np.all(np.isneginf(scores._array), axis=-1, keepdims=True)
    if not is_compiling() and not dead.any():
        # (A captured step always takes the masked path below, which gives the same values and gradients
        # where no row is dead: a branch on the values would be decided once, at the trace.)
        return softmax(scores, -1)
    dead_t = _make(dead)
    # Replace dead rows by zeros before the softmax so no NaN appears, not even in the backward.
    probs = softmax(where(dead_t, _make(np.zeros((), scores._array.dtype)), scores), -1)
    return where(dead_t, _make(np.zeros((), scores._array.dtype)), probs)


def _check_attention_dtypes(query, key, value, attn_mask):
    """PyTorch's dtype rules for attention: query, key and value of one floating dtype; a mask that is
    bool, float32 or of the query's dtype."""
    if not query._array.dtype == key._array.dtype == value._array.dtype:
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got query.dtype: "
                           f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead.")
    if not dtypes.is_float_np(query._array.dtype):
        raise RuntimeError(f"scaled_dot_product_attention: expected query, key and value of a floating-point "
                           f"dtype, got {query.dtype}")
    if isinstance(attn_mask, Tensor) and attn_mask._array.dtype not in (np.bool_, np.float32, query._array.dtype):
        raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                           f"attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} instead.")


def _float_mask(mask, dtype, masked_value_is_true, name):
    """A boolean mask as an additive float mask (0 or -inf); a float mask unchanged."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a Tensor or None, got {type(mask).__name__}")
    M = mask._array
    if M.dtype == bool:
        blocked = M if masked_value_is_true else ~M
        return _make(np.where(blocked, -np.inf, 0.0).astype(dtype))
    if not dtypes.is_float_np(M.dtype):
        raise RuntimeError(f"{name}: only bool and floating types of masks are supported, got {mask.dtype}")
    return mask


@autocast_to_lower_precision
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(Q Kᵀ · scale + mask) V over (..., L, E) queries, (..., S, E) keys, (..., S, Ev) values.

    scale defaults to 1/√E. is_causal masks out keys after each query (lower-triangular, aligned
    to the top-left corner, as PyTorch). dropout_p drops attention weights (always applied when
    > 0, as in PyTorch: pass 0.0 at evaluation time).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be Tensor, not "
                            f"{type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} must be at least 2-D (..., seq, features), "
                               f"got shape {list(t.shape)}")
    _check_attention_dtypes(query, key, value, attn_mask)
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query's last dim ({query.shape[-1]}) must equal key's "
                           f"({key.shape[-1]}); shapes {list(query.shape)} and {list(key.shape)}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value must have the same sequence length, got "
                           f"shapes {list(key.shape)} and {list(value.shape)}")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        hq, hk = query.shape[-3], key.shape[-3]
        if hq % hk:
            raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa, query heads ({hq}) must be a "
                               f"multiple of key/value heads ({hk})")
        repeat = _make(np.repeat(np.arange(hk), hq // hk))
        key, value = key.index_select(-3, repeat), value.index_select(-3, repeat)
    # (no features: every score is an empty sum, 0, whatever the scale; 1/√0 would make it NaN)
    factor = (1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0) if scale is None else scale
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: explicit attn_mask should not be set when "
                           "is_causal=True")
    if dropout_p == 0.0 and query._array.dtype in (np.float32, np.float64) and (
            not isinstance(attn_mask, Tensor) or attn_mask._array.dtype in (np.bool_, query._array.dtype)):
        # (half precision: the composition's float32 ops; a float32 mask on float64 queries: the
        # composition's promoting add)
        return _attention(query, key, value, attn_mask, is_causal, factor)
    return _attention_composite(query, key, value, attn_mask, is_causal, factor, dropout_p)


def _attention_composite(query, key, value, attn_mask, is_causal, factor, dropout_p=0.0):
    """Attention as a composition of differentiable ops (PyTorch's "math" path): what dropout takes, and
    what the fused op's backward differentiates under ``create_graph``."""
    L, S = query.shape[-2], key.shape[-2]
    dtype = query._array.dtype
    scores = (query @ key.mT) * factor
    if is_causal:
        causal = np.tril(np.ones((L, S), dtype=bool))
        scores = scores + _make(np.where(causal, 0.0, -np.inf).astype(dtype))
    mask = _float_mask(attn_mask, dtype, masked_value_is_true=False, name="attn_mask")
    if mask is not None:
        scores = scores + mask
    weights = _masked_softmax(scores)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value


def _attention(query, key, value, attn_mask, is_causal, factor):
    """The whole of attention as one primitive, like PyTorch's fused CPU kernel: (..., L, E) queries.

    Forward: P = softmax(Q Kᵀ·factor + mask) row by row (a row with every key masked gives zeros), out =
    P V; P is kept for the backward. Backward, on the arrays::

        dV = Pᵀ g,   dP = g Vᵀ,   dS = P ∘ (dP - rowsum(dP ∘ P)),   dQ = dS K·factor,   dK = dSᵀ Q·factor

    (and d mask = dS for a float mask that requires grad). Under ``create_graph`` the gradient is that
    of ``_attention_composite`` instead, so it can be differentiated again (PyTorch's fused kernel
    cannot; its math path can).
    """
    Q, K, V = query._array, key._array, value._array
    scores = np.matmul(Q, K.swapaxes(-1, -2))
    scores *= factor
    L, S = Q.shape[-2], K.shape[-2]
    mask = None
    if is_causal:
        mask = np.triu(np.full((L, S), -np.inf, dtype=Q.dtype), 1)   # key j > query i is masked
    elif attn_mask is not None:
        mask = _float_mask(attn_mask, Q.dtype, masked_value_is_true=False, name="attn_mask")._array
    if mask is not None:
        try:   # in place, unless the mask broadcasts the scores to a larger shape
            scores = scores.__iadd__(mask) if mask.ndim <= scores.ndim and all(
                m in (1, s) for m, s in zip(mask.shape[::-1], scores.shape[::-1])) else scores + mask
        except ValueError as exc:
            raise broadcast_error(scores.shape, mask.shape, exc) from None
    # Softmax in place. A fully masked row has max -inf: clamping it to the lowest finite value makes its
    # exponentials 0 (not NaN), and a floor on the row sums makes the row 0/floor = 0 (PyTorch's safe
    # softmax), with no Python branch on the values (so a captured step can repeat it).
    top = scores.max(axis=-1, keepdims=True, initial=-np.inf)   # (no keys at all: a row of nothing)
    np.fmax(top, np.finfo(Q.dtype).min, out=top)   # (a NaN row stays NaN: its scores are NaN)
    scores -= top
    probs = parallel.unary(np.exp, scores, scores)
    total = last_axis_sums(probs)
    np.fmax(total, np.finfo(Q.dtype).tiny, out=total)
    probs /= total
    out = np.matmul(probs, V)
    mask_input = attn_mask if isinstance(attn_mask, Tensor) and attn_mask._requires_grad else None
    inputs = (query, key, value, mask_input)

    def backward(g):
        if grad_mode.enabled:   # create_graph: differentiate the composition, which is differentiable again
            return replay_backward(lambda q, k, v, m: _attention_composite(q, k, v, attn_mask if m is None else m,
                                                                           is_causal, factor), inputs, g)
        G = g._array
        dP = np.matmul(G, V.swapaxes(-1, -2))
        dS = dP * probs
        dP -= last_axis_sums(dS)
        np.multiply(dP, probs, out=dS)                 # dS = P ∘ (dP - rowsum(dP ∘ P))
        return (_make(np.matmul(dS, K) * factor) if query._requires_grad else None,
                _make(np.matmul(dS.swapaxes(-1, -2), Q) * factor) if key._requires_grad else None,
                _make(np.matmul(probs.swapaxes(-1, -2), G)) if value._requires_grad else None,
                _make(dS) if mask_input is not None else None)
    return record(out, "ScaledDotProductFlashAttentionForCpuBackward0", inputs, backward,
                  saved=(query, key, value))


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """PyTorch's multi-head attention on (L, N, E) query and (S, N, E_k/E_v) key/value (or unbatched 2-D).

    Returns ``(attn_output (L, N, E), attn_weights)``; the weights are (N, L, S) averaged over heads,
    (N, num_heads, L, S) with ``average_attn_weights=False``, or None with ``need_weights=False``.
    """
    if static_k is not None or static_v is not None:
        raise NotImplementedError("multi_head_attention_forward: static_k / static_v are not supported")
    batched = query.ndim == 3
    if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
        raise RuntimeError(f"multi_head_attention_forward: expected query, key and value all 2-D (unbatched) or "
                           f"all 3-D (seq, batch, feature), got shapes {list(query.shape)}, {list(key.shape)}, "
                           f"{list(value.shape)}")
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    L, N, E = query.shape
    S = key.shape[0]
    if E != embed_dim_to_check:
        raise RuntimeError(f"multi_head_attention_forward: was expecting embedding dimension of {embed_dim_to_check}, "
                           f"but got query of shape {list(query.shape)}")
    if E % num_heads:
        raise RuntimeError(f"embed_dim {E} not divisible by num_heads {num_heads}")
    if key.shape[:2] != value.shape[:2]:
        raise RuntimeError(f"key shape {list(key.shape)} does not match value shape {list(value.shape)}")
    head_dim = E // num_heads
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                           "method `generate_square_subsequent_mask` to create this mask.")
    dtype = query._array.dtype

    # Input projections.
    if use_separate_proj_weight:
        wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        wq, wk, wv = in_proj_weight.chunk(3)
    bq = bk = bv = None
    if in_proj_bias is not None:
        bq, bk, bv = in_proj_bias.chunk(3)
    q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)

    # Masks as additive float masks; boolean True means "masked out" here.
    attn_mask = _float_mask(attn_mask, dtype, masked_value_is_true=True, name="attn_mask")
    key_padding_mask = _float_mask(key_padding_mask, dtype, masked_value_is_true=True, name="key_padding_mask")
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (L, S):
                raise RuntimeError(f"The shape of the 2D attn_mask is {list(attn_mask.shape)}, but should be "
                                   f"{[L, S]}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (N * num_heads, L, S):
                raise RuntimeError(f"The shape of the 3D attn_mask is {list(attn_mask.shape)}, but should be "
                                   f"{[N * num_heads, L, S]}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")

    if bias_k is not None and bias_v is not None:   # one extra learned key/value position
        k = cat([k, bias_k.expand(1, N, E)])
        v = cat([v, bias_v.expand(1, N, E)])
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)

    # (seq, N, E) -> (N*heads, seq, head_dim)
    q = q.reshape(L, N * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], N * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], N * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:   # one extra all-zero key/value position
        zeros = _make(np.zeros((N * num_heads, 1, head_dim), dtype))
        k, v = cat([k, zeros], 1), cat([v, zeros], 1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    S = k.shape[1]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (N, S):
            raise RuntimeError(f"expected key_padding_mask of shape {[N, S]}, but got {list(key_padding_mask.shape)}")
        kpm = key_padding_mask.reshape(N, 1, 1, S).expand(N, num_heads, 1, S).reshape(N * num_heads, 1, S)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0
    scores = (q * math.sqrt(1.0 / head_dim)) @ k.mT
    if attn_mask is not None:
        scores = scores + attn_mask
    if need_weights:
        weights = softmax(scores, -1)   # PyTorch's need_weights path: a plain softmax
    else:
        weights = _masked_softmax(scores)   # its fused path (scaled_dot_product_attention)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    out = (weights @ v).transpose(0, 1).reshape(L * N, E)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(L, N, E)
    if not batched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    weights = weights.reshape(N, num_heads, L, S)
    if average_attn_weights:
        weights = weights.mean(1)
    if not batched:
        weights = weights.squeeze(0)
    return out, weights


def _pad_last(mask):
    """Append one unmasked (0) column to an additive mask, for an extra key position."""
    if mask is None:
        return None
    zeros = _make(np.zeros(mask.shape[:-1] + (1,), mask._array.dtype))
    return cat([mask, zeros], -1)

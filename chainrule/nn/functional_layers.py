"""The functional forms of the layers: linear, dropout, embedding, layer_norm, batch_norm, pad, ...

``linear``, ``embedding``, ``layer_norm`` and constant ``pad`` are primitives of their own (NumPy
forward + a backward rule written in Tensor ops, attached with ``record``): each would otherwise be
a chain of 3-8 recorded ops, and they sit on the hot path of every model. Their backward rules are
Tensor ops, so gradients of gradients still work. The rest are compositions of core ops.
"""
import math
import numbers

import numpy as np

from ..autograd import grad_mode
from ..autograd.engine import record
from ..compiler import raise_if
from ..ops._common import c_order, floating_only, half_in_float32, keeps, last_axis_sums, no_bool
from ..ops._autocast import autocast_to_float32, autocast_to_lower_precision
from ..ops.activation import hardtanh
from ..ops.index import index_put_into_zeros
from ..ops.linalg import matmul_tn
from ..tensor import Tensor, _make


def _check_tensor(x, name, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(x).__name__}")


def _check_norm_dtypes(input, fn, kernel, **params):
    """A normalisation takes floating input only, and its parameters (weight, bias, running statistics)
    of the input's dtype: PyTorch refuses mixing them (half precision with float32 parameters, which
    PyTorch allows, arrives here as float32 through half_in_float32)."""
    for name, t in params.items():
        if t is not None and t._array.dtype != input._array.dtype:
            raise RuntimeError(f"mixed dtype (CPU): all inputs must share same datatype. ({fn}: input is "
                               f"{input.dtype} but {name} is {t.dtype})")
    floating_only(input, kernel)


# ----- linear -------------------------------------------------------------------------------------
@autocast_to_lower_precision
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``: input (*, in_features), weight (out_features, in_features).

    One primitive (why: a Linear layer is most of an MLP's or a transformer's time; as a composition it
    would record a transpose, a matmul and an add, three nodes, each with its own temporaries). The batch
    dims are flattened so that every product is one 2-D GEMM (a (B, T, C) input is one (B·T, C) matrix,
    not B small products). Backward, with g and x flattened the same way::

        d input  = g @ W                 (*, in)
        d weight = gᵀ @ x                (out, in)
        d bias   = g.sum(0)              (out,)

    computed on the arrays directly; under ``create_graph`` the same formulas in Tensor ops, so that
    the gradient can be differentiated again.
    """
    _check_tensor(input, "input", "linear")
    _check_tensor(weight, "weight", "linear")
    X, W = input._array, weight._array
    if W.ndim not in (1, 2):
        raise RuntimeError(f"linear(): weight must be 1-D or 2-D, got shape {list(W.shape)}")
    if X.dtype != W.dtype or (bias is not None and bias._array.dtype != X.dtype):
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {input.dtype} (input) and "
                           f"{weight.dtype} (weight)" + (f" and {bias.dtype} (bias)" if bias is not None else ""))
    no_bool(input, "addmm_impl_cpu_")
    if X.ndim == 0 or X.shape[-1] != W.shape[-1]:
        rows = int(np.prod(X.shape[:-1])) if X.ndim > 1 else 1
        cols = X.shape[-1] if X.ndim else 1
        wt = "x".join(map(str, W.T.shape)) if W.ndim == 2 else str(W.shape[0])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and {wt}): input of shape "
                           f"{list(X.shape)} has {cols} features but weight of shape {list(W.shape)} expects "
                           f"{W.shape[-1]}")
    if W.ndim == 1 or X.ndim == 1:   # a vector on either side: NumPy's matmul has the shapes right
        return _linear_vector(input, weight, bias)
    batch_shape = X.shape[:-1]
    rows = math.prod(batch_shape)                     # (not -1: a dim may be 0)
    X2 = X.reshape(rows, X.shape[-1])                 # a view when X is contiguous
    out = X2 @ W.T
    if bias is not None:
        out += bias._array   # out is a fresh array: add in place, no second (batch × out) buffer
    out = out.reshape(batch_shape + (W.shape[0],))
    need_x, need_w = input._requires_grad, weight._requires_grad
    need_b = bias is not None and bias._requires_grad

    def backward(g):
        if grad_mode.enabled:    # create_graph: the same formulas in differentiable ops
            g2 = g.reshape(rows, W.shape[0])
            return (g @ weight if need_x else None,
                    matmul_tn(g2, input.reshape(rows, W.shape[1])) if need_w else None,
                    g2.sum(0) if need_b else None)
        G2 = g._array.reshape(rows, W.shape[0])
        return (_make((G2 @ W).reshape(X.shape)) if need_x else None,
                _make(G2.T @ X2) if need_w else None,
                _make(G2.sum(0)) if need_b else None)
    saved = tuple(t for t, need in ((weight, need_x), (input, need_w)) if need)
    return record(out, "AddmmBackward0" if X.ndim == 2 else "UnsafeViewBackward0", (input, weight, bias), backward,
                  saved=saved)


def _linear_vector(input, weight, bias):
    """linear with a 1-D input or a 1-D weight: a composition of matmul and add (rare, not hot)."""
    out = input @ weight.mT if weight.ndim == 2 else input @ weight
    return out + bias if bias is not None else out


@half_in_float32
def bilinear(input1, input2, weight, bias=None):
    """``y_k = x1ᵀ W_k x2 + b_k``: input1 (*, in1), input2 (*, in2), weight (out, in1, in2)."""
    if input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(f"bilinear(): input1 and input2 must have the same batch dimensions, got "
                           f"{list(input1.shape)} and {list(input2.shape)}")
    if weight.ndim != 3 or weight.shape[1] != input1.shape[-1] or weight.shape[2] != input2.shape[-1]:
        raise RuntimeError(f"bilinear(): weight of shape {list(weight.shape)} does not fit inputs of shapes "
                           f"{list(input1.shape)} and {list(input2.shape)} (expected [out, "
                           f"{input1.shape[-1]}, {input2.shape[-1]}])")
    out_f, in1, in2 = weight.shape
    batch = input1.shape[:-1]
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # (B, in1) @ (in1, out*in2) -> (B, out, in2), then contract in2 against x2.
    t = (x1 @ weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(*batch, out_f)


# ----- dropout ------------------------------------------------------------------------------------
def _check_p(p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the survivors by 1/(1-p) (identity when not training).

    The scaling keeps each unit's expected value unchanged, so nothing needs rescaling at eval time.
    The mask comes from the global generator (``manual_seed`` makes it reproducible).
    """
    _check_p(p)
    if not training or p == 0.0:
        return input
    from ..random import default_generator
    A = input._array
    if p == 1.0:
        scale = np.zeros(A.shape, dtype=A.dtype)
    else:
        keep = default_generator().np.random(A.shape) >= p
        scale = keep.astype(A.dtype) * A.dtype.type(1.0 / (1.0 - p))
    if inplace:
        return input.mul_(_make(scale))
    return input * _make(scale)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout for SELU networks: dropped units take SELU's negative saturation value, then an affine fix-up."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    from ..random import default_generator
    alpha_p = -1.7580993408473766
    A = input._array
    keep = (default_generator().np.random(A.shape) >= p).astype(A.dtype)
    a = (1.0 / math.sqrt((alpha_p ** 2 * p + 1) * (1 - p))) if p < 1 else 0.0
    b = -a * alpha_p * p
    return (input * _make(keep) + alpha_p * _make(1 - keep)) * a + b


# ----- embedding ----------------------------------------------------------------------------------
def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Rows of ``weight`` picked by the integer tensor ``input``: out[..., :] = weight[input[...], :].

    A primitive (why: the gradient must scatter-add rows, and skip ``padding_idx``): the row at
    ``padding_idx`` gets no gradient, so a padding token's vector stays where it was put.
    """
    _check_tensor(input, "input", "embedding")
    I = input._array
    if I.dtype.kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)")
    W = weight._array
    n = W.shape[0]
    if I.size:   # a check on values that a captured step's replays make too
        raise_if((I < 0) | (I >= n), lambda flag, I: IndexError(
            f"index {int(I.max() if I.max() >= n else I.min())} is out of range for an Embedding with {n} rows "
            f"(indices must be in [0, {n - 1}])"), I)
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"Padding_idx must be within num_embeddings ({n}), got {padding_idx}")
        padding_idx = padding_idx % n
    if max_norm is not None:
        _embedding_renorm_(weight, I, max_norm, norm_type)
        W = weight._array
    out = W[I]
    shape = W.shape

    def backward(g):
        gw = index_put_into_zeros(g, shape, (I,), True)
        if scale_grad_by_freq:
            counts = np.bincount(I.ravel(), minlength=n).astype(W.dtype)
            gw = gw / _make(np.maximum(counts, 1).reshape(-1, 1))
        if padding_idx is not None:
            keep = np.ones((n, 1), dtype=W.dtype)
            keep[padding_idx] = 0
            gw = gw * _make(keep)
        return (gw,)
    return record(out, "EmbeddingBackward0", (weight,), backward)


def _embedding_renorm_(weight, indices, max_norm, norm_type):
    """Rescale, in place, the referenced rows whose norm exceeds ``max_norm`` (PyTorch's embedding_renorm_)."""
    rows = np.unique(indices)
    W = weight._array
    norms = np.linalg.norm(W[rows], ord=norm_type, axis=1)
    scale = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    W[rows] = W[rows] * scale[:, None].astype(W.dtype)
    weight._vc[0] += 1


def one_hot(tensor, num_classes=-1):
    """int64 tensor of shape ``tensor.shape + (num_classes,)`` with a 1 at each class index."""
    A = tensor._array
    if A.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor (got {tensor.dtype}).")
    if A.size and A.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        if A.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(A.max()) + 1
    elif A.size and A.max() >= num_classes:
        raise RuntimeError(f"Class values must be smaller than num_classes (got class {int(A.max())} with "
                           f"num_classes={num_classes}).")
    return _make((A[..., None] == np.arange(num_classes)).astype(np.int64, order="C"))


# ----- normalisation ------------------------------------------------------------------------------
# Layer norm's sums run along rows of a few hundred elements (one token's features), where NumPy's reductions
# pay a loop set-up per row (see last_axis_sums); its column sums (weight and bias gradients) are a
# vector-matrix product with ones: on W7's (768, 128), 7 us instead of 25 us.
def _row_means(A):
    """(rows, C) -> (rows, 1) means, from last_axis_sums."""
    C = A.shape[1]
    return last_axis_sums(A) / A.dtype.type(C) if C else A.mean(axis=1, keepdims=True)


def _column_sums(A):
    """(rows, C) -> (C,) sums over the rows, as a vector-matrix product."""
    return np.ones(A.shape[0], A.dtype) @ A if A.dtype in (np.float32, np.float64) else A.sum(0)


@half_in_float32
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last ``len(normalized_shape)`` dims to mean 0, variance 1 (biased), then scale and shift.

    One primitive (why: as a composition it records ~8 nodes, each with a full-size temporary).
    Backward, with x̂ = (x-μ)·rstd and ĝ = g·weight, averaging over the normalised dims::

        d x = rstd · (ĝ - mean(ĝ) - x̂ · mean(ĝ · x̂))
        d weight = sum over the batch dims of g · x̂,   d bias = sum of g

    The mean and rstd of each group are saved from the forward, x̂ rebuilt from ``input``; under
    ``create_graph`` all of it is recomputed from ``input`` with Tensor ops, so that the gradient itself
    can be differentiated.
    """
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    X = c_order(input._array)   # as PyTorch's kernel takes it: so the result is contiguous, as PyTorch's is
    if k == 0 or X.shape[X.ndim - k:] != normalized_shape or X.ndim < k:
        raise RuntimeError(f"Given normalized_shape={list(normalized_shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, normalized_shape))}], but got input of size{list(X.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise RuntimeError(f"layer_norm(): {name} of shape {list(p.shape)} must match normalized_shape "
                               f"{list(normalized_shape)}")
    _check_norm_dtypes(input, "layer_norm", "LayerNormKernelImpl", weight=weight, bias=bias)
    dims = tuple(range(X.ndim - k, X.ndim))
    batch_dims = tuple(range(X.ndim - k))
    C = math.prod(normalized_shape)                             # elements per normalised group
    groups = math.prod(X.shape[:X.ndim - k])                    # (not -1: C or a batch dim may be 0)
    X2 = X.reshape(groups, C)                                       # (groups, C): a view when X is contiguous
    mean = _row_means(X2)
    out = X2 - mean
    var = _row_means(out * out)
    var += eps
    rstd = 1.0 / np.sqrt(var)
    out *= rstd                                                 # x̂
    W2 = weight._array.reshape(C) if weight is not None else None
    if weight is not None:
        out *= W2
    if bias is not None:
        out += bias._array.reshape(C)
    out = out.reshape(X.shape)
    # Only the per-group mean and rstd are kept: x̂ is rebuilt from the input in the backward (two cheap
    # passes), so the op holds no activation-sized array of its own beyond the input PyTorch keeps too.
    need_x = input._requires_grad
    need_w = weight is not None and weight._requires_grad
    need_b = bias is not None and bias._requires_grad

    def backward(g):
        if grad_mode.enabled:   # create_graph: rebuild x̂ and rstd from input so they carry history
            c = input - input.mean(dims, keepdim=True)
            r = ((c * c).mean(dims, keepdim=True) + eps).rsqrt()
            xh = c * r
            gx = gw = gb = None
            if need_x:
                gh = g * weight if weight is not None else g
                gx = r * (gh - gh.mean(dims, keepdim=True) - xh * (gh * xh).mean(dims, keepdim=True))
            if need_w:
                gw = (g * xh).sum(batch_dims) if batch_dims else g * xh
            if need_b:
                gb = g.sum(batch_dims) if batch_dims else g
            return gx, gw, gb
        G2 = g._array.reshape(groups, C)
        xhat = X.reshape(groups, C) - mean
        xhat *= rstd
        gx = gw = gb = None
        if need_x or need_w:
            gxhat = G2 * xhat                                   # g·x̂, for d weight and mean(ĝ·x̂)
            if need_w:
                gw = _make(_column_sums(gxhat).reshape(weight._array.shape))
        if need_x:
            gh = G2 * W2 if weight is not None else G2          # ĝ = g·weight
            # mean(ĝ) and mean(ĝ·x̂) per group: with a weight, two matrix-vector products
            mean_gh = (G2 @ W2 if weight is not None else G2.sum(1)).reshape(-1, 1) / C
            mean_ghx = (gxhat @ W2 if weight is not None else gxhat.sum(1)).reshape(-1, 1) / C
            d = xhat * mean_ghx
            np.subtract(gh, d, out=d)
            d -= mean_gh
            d *= rstd
            gx = _make(d.reshape(X.shape))
        if need_b:
            gb = _make(_column_sums(G2).reshape(bias._array.shape))
        return gx, gw, gb
    return record(out, "NativeLayerNormBackward0", (input, weight, bias), backward,
                  saved=tuple(t for t in (input, weight) if t is not None))


@half_in_float32
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Normalise each channel (dim 1) over the batch and any trailing dims; input (N, C, *).

    Training: the batch's mean and *biased* variance normalise, and the running statistics are
    updated in place with the *unbiased* variance: ``running = (1-momentum)·running + momentum·batch``.
    Not training: the running statistics normalise (no batch dependence at all).
    """
    X = input._array
    if X.shape == (0,):   # PyTorch's kernel returns an empty input as it is, before reading dim 1
        return input.clone()
    if training and X.ndim and X.shape[0] * math.prod(X.shape[2:]) == 1:   # (PyTorch's test: C plays no part)
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    if X.ndim < 2:   # (PyTorch's error is an IndexError from reading the missing dim 1)
        raise IndexError(f"batch_norm(): expected input with at least 2 dimensions (N, C, ...), got "
                         f"shape {list(X.shape)}")
    C = X.shape[1]
    stat_shape = (1, C) + (1,) * (X.ndim - 2)
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None and t.numel() != C:
            raise RuntimeError(f"batch_norm(): {name} should contain {C} elements (one per channel of input "
                               f"of shape {list(X.shape)}), not {t.numel()}")
    dims = (0,) + tuple(range(2, X.ndim))
    if X.size:   # (PyTorch's kernel has nothing to refuse in an empty batch)
        _check_norm_dtypes(input, "batch_norm", "batch_norm", running_mean=running_mean, running_var=running_var,
                           weight=weight, bias=bias)
    if training and X.size == 0:
        out = input   # an empty batch: nothing to normalise, running statistics unchanged (as PyTorch)
    elif training:
        n = X.size // C
        mean = input.mean(dims, keepdim=True)
        centred = input - mean
        var = (centred * centred).mean(dims, keepdim=True)
        out = centred * (var + eps).rsqrt()
        if running_mean is not None or running_var is not None:
            m = momentum
            with grad_mode.no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - m).add_(mean.reshape(C).to(running_mean.dtype), alpha=m)
                if running_var is not None:
                    unbiased = var.reshape(C) * (n / (n - 1))
                    running_var.mul_(1 - m).add_(unbiased.to(running_var.dtype), alpha=m)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm(): running_mean and running_var must be given when training=False")
        out = (input - running_mean.reshape(stat_shape)) * (running_var.reshape(stat_shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(stat_shape)
    if bias is not None:
        out = out + bias.reshape(stat_shape)
    return out


@half_in_float32
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalise over groups of channels (and all spatial dims) per sample; input (N, C, *)."""
    _check_norm_dtypes(input, "group_norm", "GroupNormKernelImpl", weight=weight, bias=bias)
    N, C = input.shape[0], input.shape[1]
    if C % num_groups:
        raise RuntimeError(f"Expected number of channels in input ({C}) to be divisible by num_groups ({num_groups})")
    x = input.reshape(N, num_groups, (C // num_groups) * math.prod(input.shape[2:]))   # no -1: N may be 0
    mean = x.mean(-1, keepdim=True)
    c = x - mean
    out = (c * ((c * c).mean(-1, keepdim=True) + eps).rsqrt()).reshape(input.shape)
    stat_shape = (1, C) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(stat_shape)
    if bias is not None:
        out = out + bias.reshape(stat_shape)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(‖input‖_p, eps)`` along ``dim``: unit vectors (zero vectors stay zero)."""
    return input / input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine of the angle between ``x1`` and ``x2`` along ``dim`` (broadcast first), each norm at least
    ``eps``: Σ (x1 / max(‖x1‖, eps)) · (x2 / max(‖x2‖, eps))."""
    n1 = x1.norm(2, dim, keepdim=True).clamp_min(eps)
    n2 = x2.norm(2, dim, keepdim=True).clamp_min(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """‖x1 − x2 + eps‖_p along the last dim."""
    return (x1 - x2 + eps).norm(p, -1, keepdim)


# ----- padding ------------------------------------------------------------------------------------
def pad(input, pad, mode="constant", value=None):
    """Pad the last ``len(pad)//2`` dims: ``pad = (left_last, right_last, left_2nd_last, right_2nd_last, ...)``.

    PyTorch's order: the *last* dimension's pair comes first. Negative amounts crop. Modes:
    'constant' (with ``value``, default 0), 'reflect', 'replicate', 'circular'.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError(f"Padding length must be divisible by 2, got {len(pad)} values: {list(pad)}")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input dimension but "
                           f"got padding length {len(pad)} and input of dimension {input.ndim}")
    pairs = {input.ndim - 1 - i: (pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)}
    if mode == "constant":
        return _constant_pad(input, pairs, 0.0 if value is None else value)
    if value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if np_mode is None:
        raise NotImplementedError(f"pad(): unknown padding mode {mode!r}; expected 'constant', 'reflect', "
                                  f"'replicate' or 'circular'")
    # Each padded dim is an index gather (so the gradient scatter-adds back, via indexing's backward).
    out = input if mode == "circular" else _as_autocast_float32_op(input)
    for d, (lo, hi) in pairs.items():
        n = input.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding input dimension, "
                               f"but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}")
        idx = np.pad(np.arange(n), (max(lo, 0), max(hi, 0)), mode=np_mode)
        idx = idx[max(-lo, 0): len(idx) - max(-hi, 0)]
        out = out[(slice(None),) * d + (_make(idx),)]
    return out


@autocast_to_float32
def _as_autocast_float32_op(input):
    """``input``, in float32 inside an autocast region: PyTorch lists reflection and replication padding among
    its float32 ops."""
    return input


def _constant_pad(input, pairs, value):
    """Constant padding as one primitive whose backward is padding again with the amounts negated (a crop)."""
    A = input._array
    crop = tuple(slice(max(-pairs.get(d, (0, 0))[0], 0), A.shape[d] - max(-pairs.get(d, (0, 0))[1], 0))
                 for d in range(A.ndim))
    cropped = A[crop]
    if any(s < 0 for s in cropped.shape) or any(c.start > c.stop for c in crop):
        raise RuntimeError(f"The input size {list(A.shape)} cropped by the padding {pairs} would be negative")
    widths = [(max(pairs.get(d, (0, 0))[0], 0), max(pairs.get(d, (0, 0))[1], 0)) for d in range(A.ndim)]
    out = c_order(np.pad(cropped, widths, mode="constant", constant_values=value))
    negated = {d: (-lo, -hi) for d, (lo, hi) in pairs.items()}
    return record(out, "ConstantPadNdBackward0", (input,), lambda g: (_constant_pad(g, negated, 0.0),))


# ----- activations not in the core ----------------------------------------------------------------
def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return (-input).softmax(dim, dtype=dtype) if dtype is not None else (-input).softmax(dim)


def tanhshrink(input):
    return input - input.tanh()


def softsign(input):
    return input / (1 + input.abs())


def hardsigmoid(input, inplace=False):
    floating_only(input, "hardsigmoid_cpu")
    return keeps(hardtanh((input + 3) / 6, 0.0, 1.0), input)   # hardtanh: gradient 0 at x = ±3, as in PyTorch


def selu(input, inplace=False):
    from ..ops.activation import elu
    return 1.0507009873554804934193349852946 * elu(input, 1.6732632423543772848170429916717)


def celu(input, alpha=1.0, inplace=False):
    from ..ops.activation import elu
    return keeps(elu(input / alpha, 1.0) * alpha, input)


def glu(input, dim=-1):
    if input.shape[dim] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim} is size {input.shape[dim]}")
    a, b = input.chunk(2, dim)
    return a * b.sigmoid()


def threshold(input, threshold, value, inplace=False):
    from ..ops.elementwise import where
    return where(input > threshold, input, value)

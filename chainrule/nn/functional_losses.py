"""Loss functions with PyTorch's signatures, reductions and weighting rules.

Every loss takes ``reduction='mean' | 'sum' | 'none'`` (and the deprecated ``size_average`` /
``reduce`` flags, translated as PyTorch does). The weighted class losses (``nll_loss``,
``cross_entropy``) follow PyTorch exactly: a weighted *mean* divides by the sum of the weights of
the targets that were not ignored, not by the number of samples.

``cross_entropy`` with class indices, ``nll_loss`` and ``binary_cross_entropy`` are primitives
(NumPy forward, backward in Tensor ops): cross-entropy as log_softmax + gather + weighting would
record four nodes and keep the (N, C) log-probabilities twice; as one node its backward is the
familiar ``softmax - one_hot``. Everything else is a composition of core ops.
"""
import warnings

import numpy as np

from .. import dtypes
from ..ops import _parallel as parallel
from ..ops._autocast import autocast_to_float32
from ..autograd import grad_mode
from ..autograd.engine import record
from ..ops._common import _promote_arrays, broadcast_error, last_axis_sums
from ..ops.activation import log_softmax, logsigmoid
from ..ops.elementwise import where
from ..tensor import Tensor, _make
from ..compiler import is_compiling, raise_if


# ----- reductions ---------------------------------------------------------------------------------
def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's translation of the deprecated ``size_average``/``reduce`` flags into ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='"
                  + _legacy_string(size_average, reduce) + "' instead.", stacklevel=3)
    return _legacy_string(size_average, reduce)


def _legacy_string(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss, reduction):
    _check_reduction(reduction)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(input, target, fn):
    """PyTorch warns (and then broadcasts) when a regression target's shape differs from the input's."""
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
                      f"Please ensure they have the same size.", stacklevel=3)


def _as_tensor(x, name, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _refuse_integer_input(input, kernel):
    """PyTorch has no integer kernel for these losses: say so, as it does, rather than compute one."""
    if not dtypes.is_float_np(input._array.dtype):
        raise NotImplementedError(f'"{kernel}" not implemented for \'{dtypes.kernel_name(input.dtype)}\' '
                                  f"(the input must be floating point; convert it with .float())")


# ----- regression losses --------------------------------------------------------------------------
@autocast_to_float32
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error: ``(input - target)²``, reduced."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(_as_tensor(input, "input", "mse_loss"), _as_tensor(target, "target", "mse_loss"), "mse_loss")
    A, B = input._array, target._array
    if A.dtype != B.dtype:
        dt = _promote_arrays(A, B)
        A, B = A.astype(dt), B.astype(dt)
    if not dtypes.is_float_np(A.dtype):
        _refuse_integer_input(input if not dtypes.is_float_np(input._array.dtype) else target, "mse_cpu")
    if weight is not None:
        d = input - target
        return _reduce(d * d * weight, reduction)
    try:
        D = A - B
    except ValueError as exc:
        raise broadcast_error(A.shape, B.shape, exc) from None
    L = D * D
    axes = tuple(range(L.ndim))   # explicit axes keep a 0-d array (not a NumPy scalar): compile traces it
    if reduction == "mean":
        out = np.add.reduce(L, axis=axes) / L.size if L.size else np.asarray(np.nan, dtype=L.dtype)
    else:
        out = np.add.reduce(L, axis=axes) if reduction == "sum" else L
    scale = 2.0 / L.size if reduction == "mean" and L.size else 2.0

    def backward(g):
        # d/d input of (input - target)² is 2·(input - target); the engine sums it back to each shape.
        grad = (input - target) * (g * scale)
        return (grad, -grad)
    return record(out, "MseLossBackward0", (input, target), backward,
                  saved=(input, target))


@autocast_to_float32
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error: ``|input - target|``, reduced (the gradient at 0 is 0, as PyTorch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(_as_tensor(input, "input", "l1_loss"), _as_tensor(target, "target", "l1_loss"), "l1_loss")
    loss = (input - target).abs()
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_to_float32
def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Quadratic ``0.5·d²`` for ``|d| < delta``, linear ``delta·(|d| - 0.5·delta)`` beyond: robust to outliers."""
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got {delta}")
    _warn_size(_as_tensor(input, "input", "huber_loss"), _as_tensor(target, "target", "huber_loss"), "huber_loss")
    _refuse_integer_input(input, "huber_cpu")
    d = input - target
    ad = d.abs()
    loss = where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_to_float32
def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5·d²/beta`` for ``|d| < beta``, ``|d| - 0.5·beta`` beyond (Huber divided by beta); beta=0 is L1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got {beta}")
    _warn_size(_as_tensor(input, "input", "smooth_l1_loss"), _as_tensor(target, "target", "smooth_l1_loss"),
               "smooth_l1_loss")
    _refuse_integer_input(input, "smooth_l1_cpu")
    d = input - target
    ad = d.abs()
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta), reduction)


# ----- binary classification ----------------------------------------------------------------------
@autocast_to_float32
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-(t·log(x) + (1-t)·log(1-x))`` for probabilities ``x``; each log is clamped to >= -100, as PyTorch.

    A primitive: the clamp keeps the loss finite at x = 0 or 1, and the backward is PyTorch's
    ``(x - t) / max(x·(1-x), 1e-12)`` (a composition would give 0·∞ = nan there).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _as_tensor(input, "input", "binary_cross_entropy")
    _as_tensor(target, "target", "binary_cross_entropy")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input size "
                         f"({input.shape}) is deprecated. Please ensure they have the same size.")
    X, T = input._array, target._array
    _refuse_integer_input(input, "binary_cross_entropy")
    if X.dtype != T.dtype:
        raise RuntimeError(f"binary_cross_entropy(): expected input and target to have the same dtype, but got "
                           f"{input.dtype} and {target.dtype}")
    if X.size:   # checks on values that a captured step's replays make too (NaN fails them as well)
        raise_if(~((X >= 0) & (X <= 1)), lambda flag: RuntimeError("all elements of input should be between 0 and 1"))
        raise_if(~((T >= 0) & (T <= 1)), lambda flag: RuntimeError("all elements of target should be between 0 and 1"))
    with np.errstate(divide="ignore"):
        out = (T - 1) * np.maximum(np.log1p(-X), -100) - T * np.maximum(np.log(X), -100)

    def backward(g):
        gx = g * (input - target) / ((1 - input) * input).clamp_min(1e-12) if input.requires_grad else None
        gt = g * ((1 - input).log() - input.log()) if target.requires_grad else None
        return gx, gt
    loss = record(out, "BinaryCrossEntropyBackward0", (input, target), backward, saved=(input, target))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


@autocast_to_float32
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits, computed stably: ``(1-t)·x - lw·logsigmoid(x)`` with ``lw = 1 + (pos_weight-1)·t``.

    Never forms sigmoid(x) and its log separately, so large |x| neither overflows nor loses the
    gradient. ``pos_weight`` (broadcast along the last, class, dim) weighs the positive term.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _as_tensor(input, "input", "binary_cross_entropy_with_logits")
    _as_tensor(target, "target", "binary_cross_entropy_with_logits")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    _refuse_integer_input(input, "log_sigmoid_cpu")
    if not dtypes.is_float_np(target._array.dtype):
        raise RuntimeError(f"binary_cross_entropy_with_logits(): the target must be floating point like the "
                           f"input, got {target.dtype} (convert it with .float())")
    if pos_weight is None:
        loss = (1 - target) * input - logsigmoid(input)
    else:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input - log_weight * logsigmoid(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ----- multi-class classification -----------------------------------------------------------------
class _ClassTargets:
    """What nll_loss and cross_entropy need from integer class targets, checked and laid out once.

    cd: the class dim of the input (1, or 0 for an unbatched (C,) input); index: the target with a size-1
    class dim (ignored targets replaced by 0), for take/put_along_axis;
    w_t: each target's weight (0 where ignored); valid: target != ignore_index; W: class weights or None.
    """

    def __init__(self, input, target, weight, ignore_index, fn):
        X, T = input._array, target._array
        if X.ndim == 0:
            raise ValueError(f"{fn}(): input must have at least 1 dimension (C) or (N, C, ...), got a 0-d tensor")
        if T.dtype not in (np.int64, np.uint8):
            raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                               f"{dtypes.kernel_name(target.dtype)} ({fn}(): class-index target of shape "
                               f"{list(T.shape)}, input shape {list(X.shape)}; convert it with .long())")
        cd = 0 if X.ndim == 1 else 1
        expected = X.shape[:1] + X.shape[2:] if X.ndim > 1 else ()
        if T.shape != expected:
            if X.ndim > 1 and T.ndim >= 1 and T.shape[0] != X.shape[0]:
                raise ValueError(f"Expected input batch_size ({X.shape[0]}) to match target batch_size "
                                 f"({T.shape[0]}).")
            raise RuntimeError(f"{fn}(): expected target of shape {list(expected)} for input of shape "
                               f"{list(X.shape)}, got {list(T.shape)}")
        C = X.shape[cd]
        valid, safe = _checked_targets(T, C, ignore_index)
        if weight is not None and tuple(weight.shape) != (C,):
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                               f"weight tensor of shape: {list(weight.shape)}")
        self.W = weight._array.astype(X.dtype, copy=False) if weight is not None else None
        w = self.W[safe] if self.W is not None else np.ones(T.shape, X.dtype)
        self.w_t = w * valid
        self.valid = valid.astype(X.dtype)
        self.index = np.expand_dims(safe, cd)      # the target, with a size-1 class dim
        self.cd, self.C = cd, C

    def at_targets(self, base, values):
        """``base`` (an array of the input's shape) with ``values`` (one per target) added at each target class."""
        current = np.take_along_axis(base, self.index, axis=self.cd)
        np.put_along_axis(base, self.index, current + self.expand(values), axis=self.cd)
        return base

    def expand(self, a):
        """A per-target array with a size-1 class dim, to broadcast against the input."""
        return np.expand_dims(a, self.cd)

    def class_weights(self, ndim):
        return self.W.reshape((self.C,) + (1,) * (ndim - self.cd - 1))


def _reduced_grad(g, targets, reduction, denom):
    """The upstream gradient spread over the targets: per target ('none'), or one scalar ('sum'/'mean')."""
    if reduction == "none":
        return g.unsqueeze(targets.cd)
    if reduction == "mean":
        # All targets ignored: the loss is 0/0 = nan, but every coefficient is 0, so PyTorch's gradient
        # is 0: divide by 1 instead of 0 then. Array ops, not a Python `if`, so a captured step can
        # repeat it.
        return g / _make(np.where(denom != 0, denom, 1).astype(np.asarray(denom).dtype))
    return g


def _finish(loss_el, targets, reduction):
    """Reduce per-target losses; 'mean' divides by the summed target weights (non-ignored ones only)."""
    denom = targets.w_t.sum()
    if reduction == "none":
        return loss_el, denom
    if reduction == "sum":
        return np.asarray(loss_el.sum()), denom
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(loss_el.sum() / denom), denom


@autocast_to_float32
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log-likelihood of the target class: ``-weight[t]·input[n, t]``, for log-probability inputs.

    input (C), (N, C) or (N, C, d1, ...); target (), (N) or (N, d1, ...) of class indices.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _as_tensor(input, "input", "nll_loss")
    _as_tensor(target, "target", "nll_loss")
    tg = _ClassTargets(input, target, weight, ignore_index, "nll_loss")
    X = input._array
    picked = np.take_along_axis(X, tg.index, axis=tg.cd).squeeze(tg.cd)
    out, denom = _finish(-picked * tg.w_t, tg, reduction)
    shape, dtype = X.shape, X.dtype

    def backward(g):
        # The gradient is zero but at the targets: built in the backward (nothing of the input's size is kept
        # from the forward), as zeros with -weight·g put at the targets, not a full-size product (PyTorch's
        # kernel fills it the same way, so a NaN g stays at the targets).
        if not grad_mode.enabled:
            per_target = g._array if reduction == "none" else _reduced_grad(g, tg, reduction, denom)._array
            return (_make(tg.at_targets(np.zeros(shape, dtype), (-tg.w_t * per_target).astype(dtype))),)
        return (_reduced_grad(g, tg, reduction, denom) * _make(tg.at_targets(np.zeros(shape, dtype), -tg.w_t)),)
    return record(out, "NllLossBackward0", (input,), backward)


@autocast_to_float32
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` and a target of class indices or class probabilities.

    Class indices (integer target): ``-weight[t]·log_softmax(input)[t]`` per sample, with
    ``ignore_index`` skipped and optional ``label_smoothing`` ε mixing in the uniform distribution:
    ``(1-ε)·nll + ε/C·Σ_c -weight[c]·log p_c``. Class probabilities (float target, input's shape):
    ``-Σ_c weight[c]·t_c·log p_c``, and 'mean' divides by the number of samples.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _as_tensor(input, "input", "cross_entropy")
    _as_tensor(target, "target", "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if dtypes.is_float_np(target._array.dtype):
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    return _cross_entropy_indices(input, target, weight, ignore_index, reduction, label_smoothing)


def _cross_entropy_indices(input, target, weight, ignore_index, reduction, eps):
    """The fused primitive. With p = softmax(input) along the class dim, per target n::

        d loss_n / d input[n] = a_n·p - B_n,   a_n = (1-ε)·w_t + (ε/C)·valid·Σw,
                                                B_n = (1-ε)·w_t·onehot + (ε/C)·valid·w
    """
    X = input._array
    if not dtypes.is_float_np(X.dtype):
        raise RuntimeError(f"cross_entropy(): expected a floating-point input (logits), got {input.dtype}")
    T = target._array
    if (X.ndim == 2 and weight is None and eps == 0 and reduction == "mean" and T.shape == X.shape[:1]
            and T.dtype == np.int64 and X.shape[0]):   # (int32 targets: refused below)
        return _cross_entropy_batch(input, X, T, ignore_index)
    tg = _ClassTargets(input, target, weight, ignore_index, "cross_entropy")
    cd, C = tg.cd, tg.C
    # One exp pass: p = softmax (kept for backward); the log-probabilities are needed only at the
    # targets (and, with smoothing, summed over classes), so they are never formed in full.
    m = X.max(axis=cd, keepdims=True) if X.size else 0
    shifted = X - m
    e = parallel.unary(np.exp, shifted)
    total = e.sum(axis=cd, keepdims=True)
    log_total = np.log(total)
    p = e / total
    logp_t = (np.take_along_axis(shifted, tg.index, axis=cd) - log_total).squeeze(cd)
    loss_el = -logp_t * tg.w_t
    w_cls = tg.class_weights(X.ndim) if tg.W is not None else None
    if eps > 0:
        w_sum = tg.W.sum() if tg.W is not None else C
        weighted = (shifted * w_cls).sum(axis=cd) if w_cls is not None else shifted.sum(axis=cd)
        smooth = -(weighted - log_total.squeeze(cd) * w_sum)     # -Σ_c w_c·log p_c
        loss_el = (1 - eps) * loss_el + (eps / C) * smooth * tg.valid
    out, denom = _finish(loss_el, tg, reduction)

    w_sum = tg.W.sum() if tg.W is not None else C
    a = tg.expand((1 - eps) * tg.w_t + (eps / C) * tg.valid * w_sum).astype(X.dtype)
    if eps > 0:
        B = np.broadcast_to((eps / C) * tg.expand(tg.valid) * (w_cls if w_cls is not None else 1.0), X.shape)
        B = B.astype(X.dtype)
    else:
        B = np.zeros(X.shape, X.dtype)
    B = tg.at_targets(B, (1 - eps) * tg.w_t)
    a_t, B_t, p_t = _make(a), _make(B), _make(p)

    def backward(g):
        # Under create_graph p is recomputed from input (so it carries history); otherwise the forward's p serves.
        probs = input.softmax(cd) if grad_mode.enabled else p_t
        return (_reduced_grad(g, tg, reduction, denom) * (probs * a_t - B_t),)
    # PyTorch's name: its cross_entropy is nll_loss(log_softmax) (plus a smoothing term when ε > 0).
    return record(out, "NllLossBackward0" if eps == 0 else "AddBackward0", (input,), backward, saved=(input,))


def _cross_entropy_batch(input, X, T, ignore_index):
    """The common case on its own: logits (N, C), class indices, no weights or smoothing, mean.

    Why a second path: the general one handles every option through NumPy's generic
    take/put_along_axis helpers, whose Python overhead is most of the cost at classifier sizes (a learner's
    step spends more time here than in its matmuls). d loss / d input = (softmax(input) - onehot(target)) ·
    valid / count, count the targets not ignored (all of them ignored: the loss is 0/0 = nan, the gradient 0,
    as in PyTorch). When no target is ignored (the usual case) the mask passes are skipped; a captured step
    never asks, since no branch may read the values while it is traced.
    """
    N, C = X.shape
    rows = np.arange(N)
    # The usual case in one compare: every target a class index (a negative one reads as a huge unsigned
    # number) and none of them ignore_index.
    every = (not is_compiling() and not (T.view(np.uint64) >= C).any()
             and not (0 <= ignore_index < C and (T == ignore_index).any()))
    if every:
        safe = T
    else:
        valid, safe = _checked_targets(T, C, ignore_index)
    shifted = X - X.max(axis=1, keepdims=True)
    e = parallel.unary(np.exp, shifted)
    total = last_axis_sums(e)
    losses = np.log(total[:, 0]) - shifted[rows, safe]
    if every:
        out = np.asarray(losses.sum() / np.float64(N), dtype=X.dtype)
    else:
        mask = valid.astype(X.dtype)
        count = valid.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            # As .mean() would: a float32 sum, divided by the count in double precision.
            out = np.asarray((losses * mask).sum() / count, dtype=X.dtype)
    p = e / total
    # the targets counted (1 when all are ignored: the gradient is 0)
    scale_by = X.dtype.type(N) if every else np.maximum(count, 1).astype(X.dtype)

    def backward(g):
        if grad_mode.enabled:   # create_graph: p recomputed from input (so it carries history), in Tensor ops
            onehot = np.zeros(X.shape, X.dtype)
            onehot[rows, safe] = 1
            d = (g / _make(scale_by)) * (input.softmax(1) - _make(onehot))
            return (d if every else d * _make(mask[:, None]),)
        d = p.copy()
        d[rows, safe] -= 1
        d *= g._array / scale_by
        if not every:
            d *= mask[:, None]
        return (_make(d),)
    return record(out, "NllLossBackward0", (input,), backward, saved=(input,))


def _checked_targets(T, C, ignore_index):
    """``(valid, safe)``: which targets are not ``ignore_index``, and the targets with the ignored ones read as
    class 0 (masked out by the caller). Every target not ignored must be a class index: else IndexError (also on
    a captured step's replays). One compare finds both ends: a negative int64 read as unsigned is huge."""
    valid = T != ignore_index
    unsigned = T.view(np.uint64) if T.dtype == np.int64 else T
    raise_if(valid & (unsigned >= C), lambda flag, T: IndexError(f"Target {int(T[flag][0])} is out of bounds."), T)
    return valid, T * valid


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing):
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"cross_entropy(): a floating-point target holds class probabilities and must have the "
                           f"input's shape {list(input.shape)}, got {list(target.shape)}; for class indices pass "
                           f"an integer (long) target")
    cd = 0 if input.ndim == 1 else 1
    C = input.shape[cd]
    logp = log_softmax(input, cd)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    prod = logp * target
    if weight is not None:
        if tuple(weight.shape) != (C,):
            raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes but got "
                               f"weight tensor of shape: {list(weight.shape)}")
        prod = prod * weight.reshape((C,) + (1,) * (input.ndim - cd - 1))
    if reduction == "none":
        return -prod.sum(cd)
    if reduction == "sum":
        return -prod.sum()
    return -prod.sum() / (input.numel() / C)


@autocast_to_float32
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target ‖ p) for log-probabilities ``input``: ``target·(log target - input)``, 0 where target = 0."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not dtypes.is_float_np(input._array.dtype) or not dtypes.is_float_np(target._array.dtype):
        raise RuntimeError(f"kl_div: Integral inputs not supported (got input {input.dtype}, target "
                           f"{target.dtype}).")
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # target·log(target) with the log's argument replaced by 1 where target is 0: 0, and no 0·(-inf).
        loss = target * where(target > 0, target, 1.0).log() - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)

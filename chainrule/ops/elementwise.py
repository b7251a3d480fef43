"""Elementwise primitives, each forward beside its backward rule.

A backward rule receives ``g`` = dL/d(out) and returns dL/d(input) for each input (None where an
input needs no gradient). Rules are written in Tensor ops, so they are differentiable themselves
(double backward); the engine sums a gradient back to its input's shape where the op broadcast.
"""
import math
import warnings

from .._backend import xp as np

from .. import dtypes
from ..autograd.grad_mode import state as grad_state
from ..compiler import raise_if
from . import _parallel as parallel
from ._common import (Tensor, _make, broadcast_error, float_array, half_in_float32, keep_bfloat16, no_bool, operands,
                      record, requires, tensors, to_tensor)
from .erf_approx import erf_array


def _apply(ufunc, a, b, A, B):
    try:
        out = ufunc(A, B)
    except ValueError as exc:
        raise broadcast_error(np.shape(A), np.shape(B), exc) from None
    if type(b) is float:      # tensor (op) Python float: a bfloat16 tensor keeps its dtype
        return keep_bfloat16(out, a)
    if type(a) is float:
        return keep_bfloat16(out, b)
    return out


def _kind(X):
    """NumPy's dtype kind of an operand ('f', 'i', 'b', ...) without np.result_type (slow)."""
    if isinstance(X, np.ndarray):
        return "f" if dtypes.is_float_np(X.dtype) else X.dtype.kind   # bfloat16's NumPy kind is "V"
    return "b" if isinstance(X, bool) else "i" if isinstance(X, int) else "f"


def masked_grad(g, keep):
    """``g`` where the boolean array ``keep`` holds, else 0: selected, not multiplied, so an inf or
    NaN gradient stays out of the positions the op cut off (inf·0 would be NaN there), as in PyTorch."""
    return record(select_or_zero(keep, g._array), "MaskedGradBackward", (g,), lambda gg: (masked_grad(gg, keep),))


_SAME_SIZE_INT = {2: np.int16, 4: np.int32, 8: np.int64}


def select_or_zero(keep, G):
    """``np.where(keep, G, 0)`` for a boolean ``keep`` of G's shape, exactly (+0 where not kept).

    np.where runs ~10 ns an element on a mask without long runs (ReLU's), as slow as a transcendental
    function; so for IEEE floats it is G's bits ANDed with all-ones or all-zeros words made from the
    mask, about 8x faster.
    """
    ints = _SAME_SIZE_INT.get(G.itemsize) if G.dtype.kind == "f" else None
    if ints is None or keep.shape != G.shape:
        return np.where(keep, G, np.zeros((), G.dtype))
    out = np.empty(G.shape, G.dtype)         # owns its memory: a leaf's .grad can take it without a copy
    words = out.view(ints)
    np.negative(keep, out=words, dtype=ints)  # True -> -1 (all ones), False -> 0
    words &= G.view(ints)
    return out


def zero_grad(g, shape=None):
    """The gradient of a piecewise-constant op: zeros (not ``g * 0``, which is NaN where g is inf)."""
    return _make(np.zeros(g._array.shape if shape is None else shape, g._array.dtype))


# ----- arithmetic --------------------------------------------------------------------------------
_warned_alpha_first = []


def alpha_first(name, b, rest, alpha):
    """PyTorch still takes the old ``add(Number alpha, Tensor other)`` order (``p.data.add_(-lr, grad)`` in
    older training scripts), with a deprecation warning once per process: returns (other, alpha) in the
    current order."""
    if not rest:
        return b, alpha
    if isinstance(b, Tensor):
        raise TypeError(f"{name}() takes 1 positional argument but {1 + len(rest)} were given")
    if len(rest) > 1 or alpha != 1:
        raise TypeError(f"{name}() received an invalid combination of arguments - expected (Tensor other, *, "
                        f"Number alpha = 1)")
    if not _warned_alpha_first:
        _warned_alpha_first.append(name)
        warnings.warn(f"This overload of {name} is deprecated:\n\t{name}(Number alpha, Tensor other)\nConsider "
                      f"using one of the following signatures instead:\n\t{name}(Tensor other, *, Number alpha = 1)",
                      UserWarning, stacklevel=3)
    return rest[0], b


def add(a, b, *rest, alpha=1):
    b, alpha = alpha_first("add", b, rest, alpha)
    if alpha != 1:
        b = mul(b, alpha)
    a, b, A, B = operands(a, b)
    return record(_apply(np.add, a, b, A, B), "AddBackward0", (a, b), lambda g: (g, g))


def sub(a, b, *rest, alpha=1):
    b, alpha = alpha_first("sub", b, rest, alpha)
    if alpha != 1:
        b = mul(b, alpha)
    a, b, A, B = operands(a, b)
    if any(isinstance(t, Tensor) and t._array.dtype == np.bool_ for t in (a, b)):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    rb = requires(b)
    return record(_apply(np.subtract, a, b, A, B), "SubBackward0", (a, b),
                  lambda g: (g, -g if rb else None))


def rsub(a, b, *, alpha=1):
    return sub(b, a, alpha=alpha)


def mul(a, b):
    a, b, A, B = operands(a, b)
    out = _apply(np.multiply, a, b, A, B)
    if not grad_state.enabled:   # e.g. inside a backward pass: no rule to build (the hottest path)
        return _make(out)
    ra, rb = requires(a), requires(b)
    return record(out, "MulBackward0", (a, b),
                  lambda g: (g * b if ra else None, g * a if rb else None),
                  saved=tensors(b if ra else None, a if rb else None))


def _check_integer_divisor(A, B):
    """Integer division by zero raises in PyTorch (NumPy would quietly give 0)."""
    if _kind(A) in "iub" and _kind(B) in "iub" and np.size(A) and np.size(B):   # (nothing to divide: no error)
        raise_if(np.asarray(B) == 0, lambda flag: RuntimeError("ZeroDivisionError"))


def div(a, b, *, rounding_mode=None):
    a, b, A, B = operands(a, b)
    if rounding_mode is not None:
        return _rounded_div(a, b, A, B, rounding_mode)
    if _kind(A) != "f" and _kind(B) != "f":
        A = np.asarray(A).astype(dtypes.get_default_dtype().np)   # true division of integers is float
        if isinstance(B, np.ndarray):   # both sides: float32 / int64 would give float64 in NumPy
            B = B.astype(A.dtype)
    out = _apply(np.true_divide, a, b, A, B)
    if not grad_state.enabled:   # no rule to build (see mul)
        return _make(out)
    ra, rb = requires(a), requires(b)
    return record(out, "DivBackward0", (a, b),
                  # -g·(a/b)/b, PyTorch's form: b·b underflows to 0 for |b| < 1e-154 where this does not
                  lambda g: (g / b if ra else None, -g * ((a / b) / b) if rb else None),
                  saved=tensors(b, a if rb else None))


def rdiv(a, b):
    """``b / a`` for a number b: PyTorch computes it as ``a.reciprocal() * b`` (so the op keeps its result,
    not a, and the rounding is that of two steps)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and _kind(a._array) == "f":
        return mul(reciprocal(a), b)
    return div(b, a)


def _refuse_bools(A, B, message):
    """Two bool operands PyTorch has no kernel for: its error, once the shapes broadcast (which it checks
    first)."""
    if _kind(A) == "b" and _kind(B) == "b":
        try:
            np.broadcast_shapes(np.shape(A), np.shape(B))
        except ValueError as exc:
            raise broadcast_error(np.shape(A), np.shape(B), exc) from None
        raise NotImplementedError(message)


def _rounded_div(a, b, A, B, rounding_mode):
    """``div(a, b, rounding_mode='floor'|'trunc')``: piecewise constant, so its gradient is zero (as
    PyTorch's DivBackward2: the result still requires grad when an input does)."""
    if rounding_mode not in ("floor", "trunc"):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                         f"'{rounding_mode}'")
    _refuse_bools(A, B, f'"div_{rounding_mode}_cpu" not implemented for \'Bool\'')
    _check_integer_divisor(A, B)
    if rounding_mode == "floor":
        out = _apply(np.floor_divide, a, b, A, B)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.trunc(_apply(np.true_divide, a, b, A, B))
        kind = np.result_type(A, B)
        if not dtypes.is_float_np(kind):
            out = out.astype(kind)
    return record(out, "DivBackward2", (a, b), lambda g: (zero_grad(g), zero_grad(g)))


def floor_divide(a, b):
    """``a // b``, rounding toward minus infinity. PyTorch has no derivative for it: the result
    requires grad when an input does, and backward through it raises PyTorch's error."""
    a, b, A, B = operands(a, b)
    _refuse_bools(A, B, "\"div_floor_cpu\" not implemented for 'Bool'")
    _check_integer_divisor(A, B)
    return record(_apply(np.floor_divide, a, b, A, B), "NotImplemented", (a, b), _no_floor_divide_derivative)


def _no_floor_divide_derivative(g):
    raise RuntimeError("derivative for aten::floor_divide is not implemented")


def remainder(a, b):
    """Python's ``%``: the remainder with the sign of the divisor, a − floor(a / b)·b."""
    return _remainder_of(a, b, np.remainder, "remainder", "floor")


def fmod(a, b):
    """C's fmod: the remainder with the sign of the dividend, computed exactly (not a − trunc(a/b)·b,
    which loses it for large quotients and gives NaN for an infinite divisor)."""
    return _remainder_of(a, b, np.fmod, "fmod", "trunc")


def _remainder_of(a, b, ufunc, name, rounding_mode):
    """a − q·b for the quotient q rounded by ``rounding_mode`` (``ufunc`` computes it exactly). The gradient
    is 1 for a and −q for b."""
    a, b, A, B = operands(a, b)
    _refuse_bools(A, B, f"\"{name}_cpu\" not implemented for 'Bool'")
    _check_integer_divisor(A, B)
    rb = requires(b)
    return record(_apply(ufunc, a, b, A, B), f"{name.capitalize()}Backward0", (a, b),
                  lambda g: (g, -g * div(a, b, rounding_mode=rounding_mode) if rb else None),
                  saved=tensors(a, b) if rb else ())


def neg(x):
    if x._array.dtype == np.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")
    return record(-x._array, "NegBackward0", (x,), lambda g: (-g,))


def pow(a, b):
    """``a ** b``. For a tensor exponent, d/db = out·log(a), taken as 0 where a = 0 and b >= 0."""
    a, b, A, B = operands(a, b)
    ra, rb = requires(a), requires(b)
    if isinstance(a, Tensor) and not isinstance(b, Tensor):
        # A scalar exponent: integer tensors stay integer, negative integer powers are refused.
        if A.dtype.kind in "iub" and isinstance(b, int) and not isinstance(b, bool) and b < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if b in (0.5, -0.5) and A.dtype.kind == "f":   # PyTorch's sqrt and rsqrt: (-0.0) ** 0.5 is -0.0
            out = np.sqrt(A) if b == 0.5 else np.reciprocal(np.sqrt(A))
        else:
            out = keep_bfloat16(np.power(A, B), a)

        def backward(g):
            if b == 0:
                return (zero_grad(g),)
            if b == 2:   # the square in every MSE: one op fewer than the general rule
                return (g * (2 * a),)
            return (g * (b * a ** (b - 1)),)
        result = record(out, "PowBackward0", (a, b), backward, saved=(a,))
        if result.grad_fn is not None:
            result.grad_fn.exponent = b          # so a drawn graph can say (·)² instead of PowBackward0
        return result
    if not isinstance(a, Tensor):
        a = _make(np.asarray(A, dtype=B.dtype))
        A = a._array   # (a tensor's A is already promoted: int64 ** float32 is float32, not NumPy's float64)
    _refuse_bools(A, B, "\"pow\" not implemented for 'Bool'")
    with np.errstate(divide="ignore", invalid="ignore"):
        if A.dtype.kind in "iub" and B.dtype.kind in "iu" and (B < 0).any():
            out = _integer_power(a, b, A, B)
        else:
            out = _apply(np.power, a, b, A, B)

    def backward(g, out):
        # d/da = b·a^(b-1), taken as 0 where b = 0 (0·0^-1 would be NaN at a = 0: x ** x at 0).
        ga = where(b == 0, 0.0, g * (b * a ** (b - 1))) if ra else None
        gb = None
        if rb:
            zero_base = (a == 0) & (b >= 0)
            gb = g * where(zero_base, 0.0, out * log(where(zero_base, 1.0, a)))
        return ga, gb
    return record(out, "PowBackward1", (a, b), backward, saved=tensors(a, b), save_output=True)


def _integer_power(a, b, A, B):
    """Integers to tensor powers some of which are negative: PyTorch's integer result (1 and -1 keep
    their magnitude, anything else becomes 0), where NumPy would raise."""
    A = A.astype(np.int64) if A.dtype == np.bool_ else A
    out = _apply(np.power, a, b, A, np.maximum(B, 0))
    odd = np.abs(B) % 2 == 1
    unit = np.where(A == 1, 1, np.where(A == -1, np.where(odd, -1, 1), 0)).astype(out.dtype)
    return np.where(B < 0, unit, out)


def rpow(a, b):
    return pow(b, a)


def maximum(a, b):
    return _minmax(a, b, np.maximum, np.greater, "MaximumBackward0")


def minimum(a, b):
    return _minmax(a, b, np.minimum, np.less, "MinimumBackward0")


def _minmax(a, b, ufunc, wins, name):
    a, b, A, B = operands(a, b)
    ra, rb = requires(a), requires(b)
    out = _apply(ufunc, a, b, A, B)

    def backward(g):
        # PyTorch's rule: where the two are equal each gets half; a side gets nothing only where the
        # other one wins, so where either is NaN (no comparison holds) both get the whole gradient.
        A_, B_ = operands(a, b)[2:]
        shared = where(_make(np.broadcast_to(A_ == B_, out.shape)), g / 2, g)
        return (masked_grad(shared, ~wins(B_, A_)) if ra else None,
                masked_grad(shared, ~wins(A_, B_)) if rb else None)
    return record(out, name, (a, b), backward, saved=tensors(a, b))


def where(condition, a=None, b=None):
    """``a`` where ``condition`` holds, else ``b``; the gradient follows the chosen side.

    ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``: one index tensor per dimension.
    """
    cond = condition._array if isinstance(condition, Tensor) else np.asarray(condition)
    if a is None and b is None:
        return tuple(_make(i.astype(np.int64)) for i in np.nonzero(cond))
    if a is None or b is None:
        raise TypeError("where() takes a condition alone, or a condition and both input and other")
    if cond.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype {dtypes.from_numpy_dtype(cond.dtype)}")
    a, b, A, B = operands(a, b)
    try:
        out = np.where(cond, A, B)
    except ValueError as exc:
        raise broadcast_error(np.shape(A), np.shape(B), exc) from None
    # PyTorch's dtype: a Python scalar takes the tensor's (NumPy would widen bfloat16 with a float to float64)
    dtype = A.dtype if not isinstance(B, np.ndarray) else B.dtype if not isinstance(A, np.ndarray) else \
        np.result_type(A, B)
    if out.dtype != dtype:
        out = out.astype(dtype)
    mask = _make(cond)
    return record(out, "WhereBackward0", (a, b),
                  lambda g: (where(mask, g, 0.0) if requires(a) else None,
                             where(mask, 0.0, g) if requires(b) else None))


def clamp(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return _clamp_tensor(x, min, max)
    A = x._array
    if A.dtype == np.bool_:   # PyTorch: bool bounds have no kernel, number bounds promote
        if isinstance(min, bool) or isinstance(max, bool):
            raise NotImplementedError(f'"clamp_{"min" if min is not None else "max"}_scalar_cpu" not '
                                      f"implemented for 'Bool'")
        A = A.astype(np.int64)
    if not dtypes.is_float_np(A.dtype) and (isinstance(min, float) or isinstance(max, float)):
        A = A.astype(dtypes.get_default_dtype().np)
    out = np.clip(A, min, max)
    if out.dtype != A.dtype:
        out = out.astype(A.dtype)

    def backward(g):
        inside = np.ones(A.shape, dtype=bool)
        if min is not None:
            inside &= x._array >= min
        if max is not None:
            inside &= x._array <= max
        return (masked_grad(g, inside),)
    return record(out, "ClampBackward1", (x,), backward, saved=(x,))


def _clamp_tensor(x, min, max):
    """clamp with tensor bounds: ``minimum(maximum(x, min), max)``, NaN anywhere giving NaN.

    The gradient follows PyTorch's rule: x gets it where min <= x <= max; min where x < min < max;
    max where x > max, or wherever max < min (then max is the result).
    """
    A = x._array
    lo = None if min is None else operands(x, min)[3]
    hi = None if max is None else operands(x, max)[3]
    dt = A.dtype   # the type all three promote to (PyTorch's rule, not NumPy's: int64 with float32 is float32)
    for bound in (min, max):
        if bound is not None:
            dt = operands(_make(np.empty((1,) * A.ndim, dt)), bound)[2].dtype
    A, lo, hi = (None if v is None else np.asarray(v).astype(dt, copy=False) for v in (A, lo, hi))
    out = A
    if lo is not None:
        out = _apply(np.maximum, x, min, out, lo)
    if hi is not None:
        out = _apply(np.minimum, x, max, out, hi)
    if out is A:
        out = A.copy()
    shape = out.shape

    def backward(g):
        X = x._array
        keep_x = np.ones(shape, dtype=bool)
        if lo is not None:
            keep_x &= X >= lo
        if hi is not None:
            keep_x &= X <= hi
        g_min = g_max = None
        if requires(min):
            keep = X < lo if hi is None else (X < lo) & (lo < hi)
            g_min = masked_grad(g, np.broadcast_to(keep, shape))
        if requires(max):
            keep = X > hi if lo is None else (X > hi) | (hi < lo)
            g_max = masked_grad(g, np.broadcast_to(keep, shape))
        return (masked_grad(g, keep_x) if requires(x) else None, g_min, g_max)
    return record(out, "ClampBackward0", (x, min, max), backward, saved=tensors(x, min, max))


def clamp_min(x, min):
    return clamp(x, min=min)


def clamp_max(x, max):
    return clamp(x, max=max)


# ----- unary functions ---------------------------------------------------------------------------
def exp(x):
    return record(parallel.unary(np.exp, float_array(x)), "ExpBackward0", (x,), lambda g, out: (g * out,),
                  save_output=True)


def exp2(x):
    return record(np.exp2(float_array(x)), "Exp2Backward0", (x,),
                  lambda g, out: (g * out * math.log(2.0),), save_output=True)


def expm1(x):
    return record(np.expm1(float_array(x)), "Expm1Backward0", (x,), lambda g, out: (g * (out + 1),),
                  save_output=True)


def _outside_domain_quietly(fn, x):
    """``fn`` of x's floats, with NumPy's warnings silenced: PyTorch gives log(0) = -inf, log(-1) = nan,
    sqrt(-1) = nan and 1/sqrt(0) = inf without a word, and programs rely on it (a causal mask written as
    ``torch.log(torch.tril(ones))``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(float_array(x))


def log(x):
    return record(_outside_domain_quietly(np.log, x), "LogBackward0", (x,), lambda g: (g / x,), saved=(x,))


def log2(x):
    return record(_outside_domain_quietly(np.log2, x), "Log2Backward0", (x,),
                  lambda g: (g / (x * math.log(2.0)),), saved=(x,))


def log10(x):
    return record(_outside_domain_quietly(np.log10, x), "Log10Backward0", (x,),
                  lambda g: (g / (x * math.log(10.0)),), saved=(x,))


def log1p(x):
    return record(_outside_domain_quietly(np.log1p, x), "Log1PBackward0", (x,), lambda g: (g / (x + 1),),
                  saved=(x,))


def sqrt(x):
    return record(_outside_domain_quietly(np.sqrt, x), "SqrtBackward0", (x,),
                  lambda g, out: (g / (2 * out),), save_output=True)


def rsqrt(x):
    return record(_outside_domain_quietly(lambda a: 1 / np.sqrt(a), x), "RsqrtBackward0", (x,),
                  lambda g, out: (-0.5 * g * out * out * out,), save_output=True)


def reciprocal(x):
    # backward: -g·(out·out), PyTorch's order (out·out overflows to inf first: 0·inf is NaN, as there)
    return record(_outside_domain_quietly(lambda a: 1 / a, x), "ReciprocalBackward0", (x,), lambda g, out: (-g * (out * out),),
                  save_output=True)


def square(x):
    return pow(x, 2)


def abs(x):
    no_bool(x, "abs_cpu")
    return record(np.abs(x._array), "AbsBackward0", (x,), lambda g: (g * sign(x),), saved=(x,))


def sin(x):
    return record(np.sin(float_array(x)), "SinBackward0", (x,), lambda g: (sin_backward(g, x),), saved=(x,))


def sin_backward(g, x):
    """g·cos(x) as one op (fused for the reason given at tanh_backward)."""
    return record(g._array * np.cos(x._array), "SinBackwardBackward0", (g, x),
                  lambda gg: (gg * cos(x), -gg * g * sin(x)), saved=(g, x))


def cos(x):
    return record(np.cos(float_array(x)), "CosBackward0", (x,), lambda g: (cos_backward(g, x),), saved=(x,))


def cos_backward(g, x):
    """−g·sin(x) as one op (fused for the reason given at tanh_backward)."""
    return record(-g._array * np.sin(x._array), "CosBackwardBackward0", (g, x),
                  lambda gg: (-gg * sin(x), -gg * g * cos(x)), saved=(g, x))


def tan(x):
    return record(np.tan(float_array(x)), "TanBackward0", (x,),
                  lambda g, out: (g * (1 + out * out),), save_output=True)


def tanh(x):
    return record(parallel.unary(np.tanh, float_array(x)), "TanhBackward0", (x,),
                  lambda g, out: (tanh_backward(g, out),), save_output=True)


def tanh_backward(g, y):
    """g·(1 − y²) as one op: activations' backward rules run once per layer per step, so fusing
    them saves the bookkeeping of two ops each time. Its own backward keeps it differentiable."""
    G, Y = g._array, y._array
    return record(G * (1 - Y * Y), "TanhBackwardBackward0", (g, y),
                  lambda gg: (gg * (1 - y * y), gg * g * y * -2), saved=(g, y))


@half_in_float32
def sigmoid(x):
    """1 / (1 + e^-x), computed as exp(-log(1 + e^-x)): no overflow warning for very negative x."""
    return record(np.exp(-np.logaddexp(0, -float_array(x))), "SigmoidBackward0", (x,),
                  lambda g, out: (sigmoid_backward(g, out),), save_output=True)


def sigmoid_backward(g, y):
    """g·y·(1 − y) as one op (fused for the reason given at tanh_backward)."""
    G, Y = g._array, y._array
    return record(G * Y * (1 - Y), "SigmoidBackwardBackward0", (g, y),
                  lambda gg: (gg * y * (1 - y), gg * g * (1 - 2 * y)), saved=(g, y))


def relu(x):
    if x._array.dtype == np.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    return record(np.maximum(x._array, 0), "ReluBackward0", (x,), lambda g, out: (relu_backward(g, out),),
                  save_output=True)


def relu_backward(g, y):
    """g where the output is not <= 0 (positive, or NaN: PyTorch's threshold_backward), else 0, as
    one op (see tanh_backward)."""
    positive = ~(y._array <= 0)
    return record(select_or_zero(positive, g._array), "ThresholdBackwardBackward0", (g, y),
                  lambda gg: (masked_grad(gg, positive), None))


def erf(x):
    return record(erf_array(float_array(x)), "ErfBackward0", (x,),
                  lambda g: (g * (2 / math.sqrt(math.pi)) * exp(-(x * x)),), saved=(x,))


def _zero_grad_op(fn, name):
    """Piecewise-constant functions: their gradient is zero wherever it exists (as in PyTorch).

    On integers they are the identity (the same dtype, as in PyTorch); bool has no kernel but sign's.
    """
    kernel = name[:-len("Backward0")].lower()

    def op(x):
        A = x._array
        if not dtypes.is_float_np(A.dtype):
            if A.dtype == np.bool_ and kernel != "sign":
                raise NotImplementedError(f'"{kernel}_vml_cpu" not implemented for \'Bool\'')
            return _make(fn(A) if kernel == "sign" and A.dtype != np.bool_ else A.copy())
        return record(fn(A), name, (x,), lambda g: (zero_grad(g),))
    op.__name__ = name[:-len("Backward0")].lower()
    return op


def _sign(A):
    """-1, 0 or 1; NaN gives 0, as PyTorch's sign does (NumPy's gives NaN)."""
    out = np.sign(A)
    if dtypes.is_float_np(A.dtype):
        out = np.where(np.isnan(out), np.zeros((), A.dtype), out)
    return out


sign = _zero_grad_op(_sign, "SignBackward0")
floor = _zero_grad_op(np.floor, "FloorBackward0")
ceil = _zero_grad_op(np.ceil, "CeilBackward0")
trunc = _zero_grad_op(np.trunc, "TruncBackward0")


def round(x, *, decimals=0):
    if not dtypes.is_float_np(x._array.dtype):
        no_bool(x, "round_vml_cpu")
        return _make(x._array.copy())
    return record(np.round(x._array, decimals), "RoundBackward0", (x,), lambda g: (zero_grad(g),))


def cast(x, dtype):
    """``x.to(dtype)``: differentiable between floating types (the engine casts the gradient back)."""
    if x._array.dtype == dtype.np:
        return x
    out = x._array.astype(dtype.np)
    if not dtype.is_floating_point:
        return _make(out)
    return record(out, "ToCopyBackward0", (x,), lambda g: (g,))


def clone(x, *, memory_format=None):
    return record(x._array.copy(), "CloneBackward0", (x,), lambda g: (g,))


def lerp(start, end, weight):
    return start + weight * (end - start)


def addcmul(x, t1, t2, *, value=1):
    return x + value * t1 * t2


def addcdiv(x, t1, t2, *, value=1):
    return x + value * t1 / t2


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    out = np.nan_to_num(x._array, nan=nan, posinf=posinf, neginf=neginf)
    finite = _make(np.isfinite(x._array))
    return record(out, "NanToNumBackward0", (x,), lambda g: (g * finite,))


# ----- comparisons and logic: no gradient ----------------------------------------------------------
def _compare(ufunc):
    def op(a, b):
        a, b, A, B = operands(a, b)
        return _make(_apply(ufunc, a, b, A, B))
    op.__name__ = ufunc.__name__
    return op


eq = _compare(np.equal)
ne = _compare(np.not_equal)
lt = _compare(np.less)
le = _compare(np.less_equal)
gt = _compare(np.greater)
ge = _compare(np.greater_equal)
logical_and = _compare(np.logical_and)
logical_or = _compare(np.logical_or)
logical_xor = _compare(np.logical_xor)
bitwise_and = _compare(np.bitwise_and)
bitwise_or = _compare(np.bitwise_or)
bitwise_xor = _compare(np.bitwise_xor)


def logical_not(x):
    return _make(np.logical_not(x._array))


def bitwise_not(x):
    if dtypes.is_float_np(x._array.dtype):
        raise TypeError("bitwise_not (~) is only defined for integer and bool tensors, got " + str(x.dtype))
    return _make(np.invert(x._array))


def isnan(x):
    return _make(np.isnan(x._array))


def isinf(x):
    return _make(np.isinf(x._array))


def isfinite(x):
    return _make(np.isfinite(x._array))


def equal(a, b):
    """True if both tensors have the same shape and the same values."""
    a, b = to_tensor(a), to_tensor(b)
    return a._array.shape == b._array.shape and bool(np.array_equal(a._array, b._array))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = to_tensor(a), to_tensor(b)
    return bool(np.allclose(a._array, b._array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = to_tensor(a), to_tensor(b)
    return _make(np.isclose(a._array, b._array, rtol=rtol, atol=atol, equal_nan=equal_nan))

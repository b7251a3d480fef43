"""Activation functions beyond the elementwise primitives (relu, sigmoid and tanh live there).

softmax and log_softmax are primitives (stable forward, one fused backward); the others are
compositions of primitives, so their gradients (and gradients of gradients) come for free.
"""
import math

from .._backend import xp as np

from .. import dtypes
from ..autograd import grad_mode
from ..tensor import _check_dim
from . import _parallel as parallel
from ._common import _make, float_array, floating_only, half_in_float32, keeps, last_axis_sums, record
from .elementwise import erf, exp, expm1, masked_grad, sigmoid, tanh, where
from .erf_approx import erf_array


def _prepare(x, dim, dtype, name):
    """The input (cast to ``dtype``), its array viewed as at least 1-D, and ``dim`` checked.

    A 0-d input is softmaxed as one element (so NaN and inf give NaN, as in PyTorch); integer inputs
    are refused, as PyTorch refuses them (pass ``dtype=`` to convert).
    """
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    dim = _check_dim(dim, x.ndim)
    A = x._array
    if not dtypes.is_float_np(A.dtype) and A.size:   # (PyTorch only finds out in the kernel: an empty input passes)
        raise NotImplementedError(f'"{name}_lastdim_kernel_impl" not implemented for '
                                  f"'{dtypes.kernel_name(x.dtype)}' (pass dtype= to softmax a float copy)")
    return x, (A.reshape(1) if A.ndim == 0 else A), dim


def _along(kernel, inputs, out, dim):
    """``kernel(*inputs, out, axis)``, a softmax-like op along ``dim`` written as NumPy passes into ``out``.

    Over the last dim of C-contiguous arrays (the usual case: classes, vocabulary, attention keys) the rows are
    split between the threads and each thread runs every pass on its own rows, as PyTorch's kernels do; the
    rows are independent, so the result is the same as one call. Otherwise one call along ``dim``.
    """
    C = out.shape[dim]
    if out.size == 0:
        return out
    if dim == out.ndim - 1 and all(a.flags.c_contiguous for a in inputs):
        rows_in = [a.reshape(-1, C) for a in inputs]
        rows_out = out.reshape(-1, C)
        parallel.over_rows(lambda lo, hi: kernel(*(a[lo:hi] for a in rows_in), rows_out[lo:hi], 1),
                           rows_out.shape[0], out.size)
    else:
        kernel(*inputs, out, dim)
    return out


def _sums(A, axis):
    return last_axis_sums(A) if axis == A.ndim - 1 else A.sum(axis=axis, keepdims=True)


def _softmax_kernel(A, out, axis):
    np.subtract(A, A.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= _sums(out, axis)


def _softmax_backward_kernel(G, Y, out, axis):     # y·(g - Σ g·y)
    np.multiply(G, Y, out=out)
    np.subtract(G, _sums(out, axis), out=out)
    out *= Y


def _log_softmax_kernel(A, E, out, axis):
    """``out`` = log_softmax(A); ``E`` (an output too) = exp(A - max), kept for the backward pass."""
    np.subtract(A, A.max(axis=axis, keepdims=True), out=out)
    total = _sums(np.exp(out, out=E), axis)
    out -= np.log(total)     # (x - max) - log Σ: this order, as PyTorch's kernel (max + log Σ first loses digits)


def _log_softmax_backward_kernel(G, E, out, axis):   # g - softmax·Σ g, softmax = E / Σ E
    np.divide(E, _sums(E, axis), out=out)
    out *= _sums(G, axis)
    np.subtract(G, out, out=out)


@half_in_float32
def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, with the max subtracted first so nothing overflows.

    Backward ``y·(g - Σ g·y)``, on the arrays (in Tensor ops under create_graph).
    """
    x, A, dim = _prepare(x, dim, dtype, "softmax")
    # contiguous, as PyTorch's result
    out = A.copy() if A.size == 0 else _along(_softmax_kernel, (A,), np.empty(A.shape, A.dtype), dim)
    scalar = x.ndim == 0

    def backward(g, y):
        if grad_mode.enabled or scalar:
            return (y * (g - (g * y).sum(dim, keepdim=True)),)
        G, Y = g._array, y._array
        return (_make(_along(_softmax_backward_kernel, (G, Y), np.empty(Y.shape, np.result_type(G, Y)), dim)),)
    return record(out.reshape(x._array.shape), "SoftmaxBackward0", (x,), backward, save_output=True)


@half_in_float32
def log_softmax(x, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``: the log-probabilities, exact even where softmax underflows.

    Backward ``g - softmax(x)·Σ g``, on the arrays, softmax from the forward's kept exponentials (in Tensor ops
    under create_graph, as ``g - exp(y)·Σ g``).
    """
    x, A, dim = _prepare(x, dim, dtype, "log_softmax")
    # contiguous, as PyTorch's result. The exponentials the forward pass computes anyway stay alive with the
    # backward rule (freed at once when nothing is recorded): the backward pass then needs a division, not another
    # exp over the whole array (a language model's decoder output: 1.4M elements, ~1.9 ms of exp against ~0.3 ms).
    E = np.empty(A.shape, A.dtype)
    out = A.copy() if A.size == 0 else _along(_log_softmax_kernel, (A, E), np.empty(A.shape, A.dtype), dim)
    scalar = x.ndim == 0

    def backward(g, y):
        if grad_mode.enabled or scalar or A.size == 0:
            return (g - exp(y) * g.sum(dim, keepdim=True),)
        G, Y = g._array, y._array
        return (_make(_along(_log_softmax_backward_kernel, (G, E), np.empty(Y.shape, np.result_type(G, Y)), dim)),)
    return record(out.reshape(x._array.shape), "LogSoftmaxBackward0", (x,), backward, save_output=True)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    floating_only(x, "leaky_relu_cpu")
    return keeps(where(x > 0, x, x * negative_slope), x)


@half_in_float32
def elu(x, alpha=1.0, inplace=False):
    """x for x > 0, else alpha·(e^x − 1), with expm1 so that tiny negative x keep their value."""
    floating_only(x, "elu_cpu")
    return keeps(where(x > 0, x, alpha * expm1(where(x > 0, 0.0, x))), x)


@half_in_float32
def silu(x, inplace=False):
    floating_only(x, "silu_cpu")
    return x * sigmoid(x)


_SQRT_HALF = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_K = math.sqrt(2 / math.pi)   # the tanh form: Φ(x) ≈ (1 + tanh(k·(x + c·x³))) / 2
_TANH_C = 0.044715


@half_in_float32
def gelu(x, approximate="none"):
    """x·Φ(x) (the exact form, with erf), or PyTorch's tanh approximation when ``approximate='tanh'``.

    One primitive (why: it sits on an activation-sized array in every transformer MLP, where the
    composition recorded six ops and kept as many temporaries). Φ(x), or the tanh form's (1 + tanh)/2,
    is kept from the forward for the backward, ``g · gelu'(x)`` (see ``gelu_backward``).
    """
    floating_only(x, "GeluKernelImpl")
    if approximate not in ("none", "tanh"):
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    X = float_array(x).reshape(-1)   # 1-D: NumPy's in-place ops need arrays (a 0-d result is a scalar)
    cdf, out = np.empty(X.shape, X.dtype), np.empty(X.shape, X.dtype)

    def pieces(lo, hi):   # all ~18 passes on each thread's piece (one pass at a time would hand off each)
        Xp, c, o = X[lo:hi], cdf[lo:hi], out[lo:hi]
        if approximate == "tanh":
            _tanh_cdf(Xp, c)
        else:
            erf_array(Xp * _SQRT_HALF, c)
            c += 1
            c *= 0.5
        np.multiply(Xp, c, out=o)
    parallel.over_rows(pieces, X.size, X.size)
    return record(out.reshape(x._array.shape), "GeluBackward0", (x,),
                  lambda g: (gelu_backward(g, x, approximate, cdf),), saved=(x,))


def gelu_backward(g, x, approximate="none", cdf=None):
    """``g · gelu'(x)`` as one op, its own backward in Tensor ops (so gradients of any order work)::

        exact: gelu'(x) = Φ(x) + x·φ(x),  φ(x) = exp(-x²/2)/√(2π)
        tanh:  gelu'(x) = (1 + t)/2 + x·(1 - t²)·u'/2,  t = tanh(u), u = k(x + c·x³), u' = k(1 + 3c·x²)

    ``cdf`` is the forward's Φ(x) (or (1 + t)/2), reused instead of computed again.
    """
    X, G = x._array.reshape(-1), g._array.reshape(-1)
    slope = np.empty(X.shape, np.result_type(X, G))

    def pieces(lo, hi):
        Xp, s, Gp = X[lo:hi], slope[lo:hi], G[lo:hi]
        c = cdf[lo:hi] if cdf is not None else None
        if approximate == "tanh":
            if c is None:
                c = _tanh_cdf(Xp)
            np.subtract(1, c, out=s)                        # (1 - t²)/4 = cdf·(1 - cdf)
            s *= c
            s *= (1 + 3 * _TANH_C * Xp * Xp) * Xp           # · u'/k · x
            s *= 2 * _TANH_K
            s += c
        else:
            np.multiply(Xp, Xp, out=s)
            s *= -0.5
            np.exp(s, out=s)
            s *= Xp * _INV_SQRT_2PI
            s += c if c is not None else 0.5 * (1 + erf_array(Xp * _SQRT_HALF))
        s *= Gp
    parallel.over_rows(pieces, X.size, X.size)
    return record(slope.reshape(g._array.shape), "GeluBackwardBackward0", (g, x),
                  lambda gg: (gg * _gelu_slope(x, approximate), gg * g * _gelu_curvature(x, approximate)),
                  saved=(g, x))


def _tanh_cdf(X, out=None):
    """(1 + tanh(u))/2, u = k(x + c·x³), computed as 1/(1 + e^(-2u)): accurate to the last bit also where it is
    tiny (1 + tanh(u) itself would cancel away to rounding error for very negative x). Into ``out`` if given."""
    e = np.multiply(X + _TANH_C * X * X * X, -2 * _TANH_K, out=out)
    with np.errstate(over="ignore"):   # e^(-2u) = inf gives 1/(1 + inf) = 0, which is right
        parallel.unary(np.exp, e, e)
    e += 1
    return np.reciprocal(e, out=e)


def _gelu_slope(x, approximate):
    """gelu'(x) in Tensor ops (for gradients of the backward)."""
    if approximate == "tanh":
        t = tanh((x + _TANH_C * x * x * x) * _TANH_K)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * (_TANH_K * (1 + 3 * _TANH_C * x * x))
    return 0.5 * (1 + erf(x * _SQRT_HALF)) + x * exp(-0.5 * x * x) * _INV_SQRT_2PI


def _gelu_curvature(x, approximate):
    """gelu''(x) in Tensor ops: φ(x)·(2 - x²), or for the tanh form s·u' + x·s·(u'' - 2t·u'²)/2 with
    s = 1 - t², u'' = 6kc·x."""
    if approximate == "tanh":
        t = tanh((x + _TANH_C * x * x * x) * _TANH_K)
        s = 1 - t * t
        du = _TANH_K * (1 + 3 * _TANH_C * x * x)
        return s * du + 0.5 * x * s * (6 * _TANH_K * _TANH_C * x - 2 * t * du * du)
    return exp(-0.5 * x * x) * _INV_SQRT_2PI * (2 - x * x)


@half_in_float32
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold (as PyTorch does)."""
    floating_only(x, "softplus_cpu")
    A = x._array
    bA = A * beta
    with np.errstate(over="ignore"):
        out = np.where(bA > threshold, A, np.logaddexp(0, bA) / beta)

    def backward(g):   # 1 past the threshold, sigmoid(beta·x) below it
        bx = x * beta
        return (where(bx > threshold, g, g * sigmoid(bx)),)
    # One op that keeps x, as PyTorch's: an in-place change of x before backward is refused.
    return record(out.astype(A.dtype, copy=False), "SoftplusBackward0", (x,), backward, saved=(x,))


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val]; unlike clamp, the gradient is 0 at the two kinks (PyTorch's).

    At NaN PyTorch's own gradient depends on where the element falls: its vectorised kernel (all but
    the last few elements of a tensor) gives 0, its scalar one g. chainrule gives 0 everywhere."""
    if max_val < min_val:
        raise ValueError(f"min_val cannot be greater than max_val (got min_val={min_val}, max_val={max_val})")
    if x._array.dtype == np.bool_:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if inplace:
        from .inplace import apply_inplace
        return apply_inplace(x, lambda t: hardtanh(t, min_val, max_val))
    A = x._array
    out = np.clip(A, min_val, max_val).astype(A.dtype, copy=False)
    return record(out, "HardtanhBackward0", (x,),
                  lambda g: (masked_grad(g, (x._array > min_val) & (x._array < max_val)),), saved=(x,))


def relu6(x, inplace=False):
    return hardtanh(x, 0.0, 6.0, inplace)


@half_in_float32
def hardswish(x, inplace=False):
    """x·relu6(x + 3)/6, one op with PyTorch's gradient: 0 for x <= -3, 1 for x >= 3, x/3 + 1/2 between
    (NaN at NaN, as PyTorch's vectorised kernel gives it)."""
    floating_only(x, "hardswish_cpu")
    if inplace:
        from .inplace import apply_inplace
        return apply_inplace(x, hardswish)
    A = x._array
    out = A * np.clip(A + 3, 0, 6) / 6

    def backward(g):
        inner = where(x >= 3, g, g * (x / 3 + 0.5))
        return (where(x <= -3, 0.0, inner),)
    return record(out.astype(A.dtype, copy=False), "HardswishBackward0", (x,), backward, saved=(x,))


@half_in_float32
def mish(x, inplace=False):
    floating_only(x, "mish_cpu")
    return x * tanh(softplus(x))


@half_in_float32
def logsigmoid(x):
    floating_only(x, "log_sigmoid_cpu")
    return keeps(-softplus(-x), x)

"""Activation functions beyond the elementwise primitives (relu, sigmoid and tanh live there).

softmax and log_softmax are primitives (stable forward, one fused backward); the others are
compositions of primitives, so their gradients (and gradients of gradients) come for free.
"""
import math

from .._backend import xp as np

from .. import dtypes
from ..tensor import _check_dim
from ._common import c_order, floating_only, half_in_float32, record
from .elementwise import erf, exp, expm1, masked_grad, sigmoid, tanh, where


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


@half_in_float32
def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, with the max subtracted first so nothing overflows."""
    x, A, dim = _prepare(x, dim, dtype, "softmax")
    if A.size == 0:
        out = A.copy()
    else:
        e = np.exp(A - A.max(axis=dim, keepdims=True))
        out = c_order(e / e.sum(axis=dim, keepdims=True))
    return record(out.reshape(x._array.shape), "SoftmaxBackward0", (x,),
                  lambda g, y: (y * (g - (g * y).sum(dim, keepdim=True)),), save_output=True)


@half_in_float32
def log_softmax(x, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``: the log-probabilities, exact even where softmax underflows."""
    x, A, dim = _prepare(x, dim, dtype, "log_softmax")
    if A.size == 0:
        out = A.copy()
    else:
        shifted = A - A.max(axis=dim, keepdims=True)
        out = c_order(shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True)))
    return record(out.reshape(x._array.shape), "LogSoftmaxBackward0", (x,),
                  lambda g, y: (g - exp(y) * g.sum(dim, keepdim=True),), save_output=True)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    floating_only(x, "leaky_relu_cpu")
    return where(x > 0, x, x * negative_slope)


@half_in_float32
def elu(x, alpha=1.0, inplace=False):
    """x for x > 0, else alpha·(e^x − 1), with expm1 so that tiny negative x keep their value."""
    floating_only(x, "elu_cpu")
    return where(x > 0, x, alpha * expm1(where(x > 0, 0.0, x)))


@half_in_float32
def silu(x, inplace=False):
    floating_only(x, "silu_cpu")
    return x * sigmoid(x)


@half_in_float32
def gelu(x, approximate="none"):
    """x·Φ(x) (the exact form, with erf), or PyTorch's tanh approximation when ``approximate='tanh'``."""
    floating_only(x, "GeluKernelImpl")
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + tanh(inner))
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * x * (1 + erf(x * (1 / math.sqrt(2))))


@half_in_float32
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold (as PyTorch does)."""
    floating_only(x, "softplus_cpu")
    bx = x * beta
    A = bx._array
    smooth = record(np.logaddexp(0, A) / beta, "SoftplusBackward0", (bx,),
                    lambda g: (g * sigmoid(bx) / beta,), saved=(bx,))
    return where(bx > threshold, x, smooth)


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
    return -softplus(-x)

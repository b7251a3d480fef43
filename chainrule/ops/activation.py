"""Activation functions beyond the elementwise primitives (relu, sigmoid and tanh live there).

softmax and log_softmax are primitives (stable forward, one fused backward); the others are
compositions of primitives, so their gradients (and gradients of gradients) come for free.
"""
import math

from .._backend import xp as np

from ._common import c_order, float_array, half_in_float32, record
from .elementwise import erf, exp, sigmoid, tanh, where


def _dim(x, dim):
    if dim is None:  # PyTorch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return dim


@half_in_float32
def softmax(x, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, with the max subtracted first so nothing overflows."""
    if dtype is not None:
        x = x.to(dtype)
    dim = _dim(x, dim)
    A = float_array(x)
    if A.ndim == 0:
        out = np.ones_like(A)
    else:
        e = np.exp(A - A.max(axis=dim, keepdims=True))
        out = c_order(e / e.sum(axis=dim, keepdims=True))
    return record(out, "SoftmaxBackward0", (x,),
                  lambda g, y: (y * (g - (g * y).sum(dim, keepdim=True)),), save_output=True)


@half_in_float32
def log_softmax(x, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim``: the log-probabilities, exact even where softmax underflows."""
    if dtype is not None:
        x = x.to(dtype)
    dim = _dim(x, dim)
    A = float_array(x)
    if A.ndim == 0:
        out = np.zeros_like(A)
    else:
        shifted = A - A.max(axis=dim, keepdims=True)
        out = c_order(shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True)))
    return record(out, "LogSoftmaxBackward0", (x,),
                  lambda g, y: (g - exp(y) * g.sum(dim, keepdim=True),), save_output=True)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return where(x > 0, x, x * negative_slope)


@half_in_float32
def elu(x, alpha=1.0, inplace=False):
    return where(x > 0, x, alpha * (exp(where(x > 0, 0.0, x)) - 1))


@half_in_float32
def silu(x, inplace=False):
    return x * sigmoid(x)


@half_in_float32
def gelu(x, approximate="none"):
    """x·Φ(x) (the exact form, with erf), or PyTorch's tanh approximation when ``approximate='tanh'``."""
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + tanh(inner))
    if approximate != "none":
        raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")
    return 0.5 * x * (1 + erf(x * (1 / math.sqrt(2))))


@half_in_float32
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold (as PyTorch does)."""
    bx = x * beta
    A = bx._array
    smooth = record(np.logaddexp(0, A) / beta, "SoftplusBackward0", (bx,),
                    lambda g: (g * sigmoid(bx) / beta,), saved=(bx,))
    return where(bx > threshold, x, smooth)


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    return x.clamp(min_val, max_val)


def relu6(x, inplace=False):
    return x.clamp(0.0, 6.0)


@half_in_float32
def mish(x, inplace=False):
    return x * tanh(softplus(x))


@half_in_float32
def logsigmoid(x):
    return -softplus(-x)

"""Reductions (sum, mean, max, prod, logsumexp, ...) and ``sum_to``, the inverse of broadcasting."""
import builtins
import collections
import math

from .._backend import xp as np

from .. import dtypes
from ..autograd import engine
from ..autograd.grad_mode import state as grad_state
from ._autocast import autocast_to_float32
from ._common import (Tensor, _make, c_order, half_in_float32, keeps, normalize_dims, numpy_argument_names, record,
                      requires)
from .elementwise import exp, masked_grad, where

values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _keep_shape(in_shape, dims):
    """The shape a reduction over ``dims`` has with keepdim=True."""
    return tuple(1 if i in dims else s for i, s in enumerate(in_shape))


def _expand_back(g, in_shape, dims, keepdim):
    """Spread a reduced gradient back over the input's shape (the backward of every reduction)."""
    if not keepdim and g.ndim:   # a 0-d gradient (a full reduction) broadcasts as it is
        g = g.reshape(_keep_shape(in_shape, dims))
    return spread(g, in_shape)


def spread(x, shape):
    """``x`` broadcast to ``shape`` as a new array: the inverse of ``sum_to``.

    Unlike ``expand`` (a read-only view, with PyTorch's argument checks), this is the cheap
    primitive the engine's own rules use: one allocation and one copy, no Python-level broadcasting.
    """
    A = x._array
    if A.shape == shape:
        return x
    out = np.empty(shape, A.dtype)
    np.copyto(out, A)
    return record(out, "ExpandBackward0", (x,), lambda g: (sum_to(g, A.shape),))


def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (undo a broadcast): leading dims, then dims of size 1."""
    shape = tuple(shape)
    A = x._array
    lead = A.ndim - len(shape)
    in_shape = A.shape
    axes = list(range(lead))
    for i, s in enumerate(shape):
        if s == 1 and in_shape[lead + i] != 1:
            axes.append(lead + i)
    out = np.add.reduce(A, axis=tuple(axes), keepdims=True) if axes else A
    if lead:
        out = out.reshape(shape)
    return record(out, "SumToBackward", (x,), lambda g: (spread(g, in_shape),))


@numpy_argument_names
@half_in_float32
def sum(x, dim=None, keepdim=False, *, dtype=None):
    A = x._array
    dims = normalize_dims(dim, A.ndim)
    np_dtype = dtypes.to_dtype(dtype).np if dtype is not None else (np.int64 if A.dtype.kind in "biu" else None)
    out = A.sum(axis=dims, keepdims=keepdim, dtype=np_dtype)
    shape = A.shape
    return record(out, "SumBackward1" if dim is not None else "SumBackward0", (x,),
                  lambda g: (_expand_back(g, shape, dims, keepdim),))


@numpy_argument_names
@half_in_float32
def mean(x, dim=None, keepdim=False, *, dtype=None):
    A = x._array
    if dtype is not None:
        A = A.astype(dtypes.to_dtype(dtype).np)
    if not dtypes.is_float_np(A.dtype):
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating "
                           f"point or complex dtype. Got: {dtypes.from_numpy_dtype(A.dtype).name}")
    dims = normalize_dims(dim, A.ndim)
    shape = A.shape
    n = 1
    for d in dims:
        n *= shape[d]
    if A.dtype == np.float16:   # NumPy's mean accumulates half precision in float32
        out = A.mean(axis=dims, keepdims=keepdim)
    else:                       # a sum and a division: the same numbers, without np.mean's overhead
        out = np.add.reduce(A, axis=dims, keepdims=keepdim) / n
    return record(out, "MeanBackward1" if dim is not None else "MeanBackward0", (x,),
                  lambda g: (_expand_back(g / n, shape, dims, keepdim),))   # divide before spreading


@numpy_argument_names
@half_in_float32
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance with Bessel's correction by default (``correction=1``), as PyTorch computes it."""
    return _variance(x, dim, unbiased, keepdim, correction, root=False)


@numpy_argument_names
@half_in_float32
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return _variance(x, dim, unbiased, keepdim, correction, root=True)


def _variance(x, dim, unbiased, keepdim, correction, root):
    """Σ (x - mean)² / (N - correction), or its square root (std), as one op with PyTorch's backward::

        d var = 2 / (N - correction) · g · (x - mean)
        d std = the same with g / (2·std) for g (0 where std = 0)

    (A composition would also subtract the mean of the gradient, which is 0 in exact arithmetic but NaN
    once an inf is in x; and sqrt's backward would give NaN where std = 0.)
    """
    if isinstance(dim, bool):  # var(x, False): the old positional ``unbiased``
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not dtypes.is_float_np(x._array.dtype):
        raise RuntimeError(f"std and var only support floating point and complex dtypes (got {x.dtype})")
    A = x._array
    dims = normalize_dims(dim, x.ndim)
    n = math.prod(A.shape[d] for d in dims)
    denominator = np.asarray(builtins.max(n - correction, 0), A.dtype)
    with np.errstate(all="ignore"):
        centred = A - A.mean(axis=dims, keepdims=True)
        out = (centred * centred).sum(axis=dims, keepdims=keepdim) / denominator
        if root:
            out = np.sqrt(out)
        factor = float(np.divide(2.0, denominator, dtype=np.float64))
    shape = A.shape

    def backward(g, out=None):   # (out: std's result, kept; var keeps nothing of its own)
        g = _expand_back(g, shape, dims, keepdim)
        if root:
            out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
            g = where(out_k == 0, 0.0, g / (2 * out_k))
        return (factor * g * (x - mean(x, dims, keepdim=True)),)
    return record(out, "StdBackward0" if root else "VarBackward0", (x,), backward, saved=(x,), save_output=root)


@numpy_argument_names
@half_in_float32
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


@numpy_argument_names
@half_in_float32
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


def check_reduction_size(A, dims, name, explicit_dim):
    """PyTorch's errors for a reduction with no identity (max, argmax, ...) over nothing."""
    if A.size == 0 and not explicit_dim:
        raise (IndexError if name.startswith("arg") else RuntimeError)(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            + ("" if name.startswith("arg") else " Specify the reduction dim with the 'dim' argument."))
    for d in dims:
        if A.shape[d] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _extreme(x, dim, keepdim, np_reduce, name):
    """amax/amin: ties share the gradient evenly, as in PyTorch (its rule, (g / count)·mask, gives
    NaN to a group whose extreme is NaN)."""
    A = x._array
    dims = normalize_dims(dim, A.ndim)
    check_reduction_size(A, dims, name[:4].lower(), dim is not None)
    out = np_reduce(A, axis=dims, keepdims=keepdim)
    shape = A.shape

    def backward(g, out):
        out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
        hit = x == out_k
        count = hit.sum(dims, keepdim=True)
        return (_expand_back(g, shape, dims, keepdim) / count * hit,)
    return record(out, name, (x,), backward, saved=(x,), save_output=True)


@numpy_argument_names
def amax(x, dim=(), keepdim=False):
    return _extreme(x, None if dim == () else dim, keepdim, np.max, "AmaxBackward0")


@numpy_argument_names
def amin(x, dim=(), keepdim=False):
    return _extreme(x, None if dim == () else dim, keepdim, np.min, "AminBackward0")


def _extreme_all(x, np_reduce, name):
    """max()/min() of all elements: the gradient is shared evenly by the elements equal to the result
    (by the NaNs when it is NaN), and is exactly 0 elsewhere, as PyTorch's evenly_distribute_backward."""
    A = x._array
    check_reduction_size(A, (), name[:3].lower(), False)
    return record(np_reduce(A), name, (x,), lambda g, out: (evenly_distribute(g, x, out._array),), saved=(x,),
                  save_output=True)


def evenly_distribute(g, x, value):
    """g / k at each of the k elements of x equal to ``value`` (each NaN when it is NaN), 0 elsewhere."""
    X = x._array
    hit = np.where(np.isnan(value), np.isnan(X), X == value)   # array ops only: no value read in Python
    return masked_grad(g / _make(hit.sum(dtype=g._array.dtype)), hit)


def _extreme_along(x, dim, keepdim, np_arg, name):
    """max/min along one dim: ``(values, indices)``; the gradient goes to the chosen index."""
    A = x._array
    d = normalize_dims(dim, A.ndim)
    if A.ndim == 0:
        return values_indices(x.clone() if requires(x) else x, _make(np.array(0)))
    d = d[0]
    check_reduction_size(A, (d,), name[:3].lower(), True)
    idx = np_arg(A, axis=d, keepdims=True)
    values = np.take_along_axis(A, idx, axis=d)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    shape = A.shape
    idx_k = idx if keepdim else np.expand_dims(idx, d)

    def backward(g):
        positions = np.arange(shape[d]).reshape([-1 if i == d else 1 for i in range(len(shape))])
        # Scattered to the chosen index (selected, as PyTorch's scatter): a NaN or inf gradient stays there.
        return (masked_grad(_expand_back(g, shape, (d,), keepdim), positions == idx_k),)
    return values_indices(record(values, name, (x,), backward), _make(idx.astype(np.int64)))


@numpy_argument_names
def max(x, dim=None, keepdim=False, *, other=None):
    """``max(x)``, ``max(x, dim)`` -> (values, indices), or ``max(x, other)`` (elementwise)."""
    if isinstance(dim, Tensor) or other is not None:
        from .elementwise import maximum
        return maximum(x, dim if other is None else other)
    if dim is None:
        return _extreme_all(x, np.max, "MaxBackward1")
    return _extreme_along(x, dim, keepdim, np.argmax, "MaxBackward0")


@numpy_argument_names
def min(x, dim=None, keepdim=False, *, other=None):
    if isinstance(dim, Tensor) or other is not None:
        from .elementwise import minimum
        return minimum(x, dim if other is None else other)
    if dim is None:
        return _extreme_all(x, np.min, "MinBackward1")
    return _extreme_along(x, dim, keepdim, np.argmin, "MinBackward0")


def _arg(np_arg, name):
    def op(x, dim=None, keepdim=False):
        A = x._array
        if A.dtype == np.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if dim is None:
            check_reduction_size(A, (), name, False)
            out = np_arg(A.reshape(-1))
            return _make(np.array(out, dtype=np.int64).reshape((1,) * A.ndim if keepdim else ()))
        d = normalize_dims(dim, A.ndim)
        check_reduction_size(A, d, name, True)
        d = d[0] if d else 0
        out = np_arg(A, axis=d, keepdims=keepdim) if A.ndim else np.array(0)
        return _make(np.asarray(out, dtype=np.int64))
    op.__name__ = name
    return numpy_argument_names(op)


argmax = _arg(np.argmax, "argmax")
argmin = _arg(np.argmin, "argmin")


@numpy_argument_names
@autocast_to_float32
def prod(x, dim=None, keepdim=False, *, dtype=None):
    A = x._array if dtype is None else x._array.astype(dtypes.to_dtype(dtype).np)
    dims = normalize_dims(dim, A.ndim)
    if A.dtype.kind in "biu" and dtype is None:
        A = A.astype(np.int64)
    out = A.prod(axis=dims, keepdims=keepdim)
    shape = A.shape

    def backward(g, out):
        out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
        g_k = _expand_back(g, shape, dims, keepdim)
        if not (x._array == 0).any():
            return (g_k * out_k / x,)
        # With zeros, out / x is undefined: use the product of all the other elements instead
        # (as Tensor ops when building a graph for double backward, else straight in NumPy).
        if grad_state.enabled:
            return (g_k * _prod_of_others_differentiable(x, dims),)
        return (g_k * _make(_prod_of_others(x._array, dims)),)
    return record(out, "ProdBackward1" if dim is not None else "ProdBackward0", (x,), backward,
                  saved=(x,), save_output=True)


def _prod_of_others(A, dims):
    """For each element, the product of the other elements of its reduction group (zeros allowed)."""
    moved = np.moveaxis(A, dims, tuple(range(A.ndim - len(dims), A.ndim)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(dims)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), dtype=A.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return np.moveaxis(others, tuple(range(A.ndim - len(dims), A.ndim)), dims)


def _prod_of_others_differentiable(x, dims):
    """``_prod_of_others`` in Tensor ops, so its own gradient exists: per group of n elements an
    (n, n) matrix of the group with ones on the diagonal, multiplied along its rows. O(n²), so
    only used for double backward through a product that contains zeros."""
    rest = [d for d in range(x.ndim) if d not in dims]
    moved = x.permute(rest + list(dims))
    flat = moved.reshape(tuple(moved.shape[:len(rest)]) + (-1,))
    n = flat.shape[-1]
    rows = flat.unsqueeze(-2).expand(*flat.shape[:-1], n, n)   # rows[..., i, j] = flat[..., j]
    others = where(_make(np.eye(n, dtype=bool)), 1.0, rows).prod(-1)
    return others.reshape(moved.shape).permute(tuple(int(i) for i in np.argsort(rest + list(dims))))


@numpy_argument_names
@half_in_float32
def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) without overflow: the max is taken out first."""
    A = x._array if dtypes.is_float_np(x._array.dtype) else x._array.astype(dtypes.get_default_dtype().np)
    dims = normalize_dims(dim, A.ndim)
    if A.size == 0:
        out = np.log(np.exp(A).sum(axis=dims, keepdims=keepdim))
    else:
        m = A.max(axis=dims, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        out = np.log(np.exp(A - m).sum(axis=dims, keepdims=True)) + m
        if not keepdim:
            out = out.squeeze(dims)
    shape = A.shape

    def backward(g, out):
        out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
        return (_expand_back(g, shape, dims, keepdim) * exp(x - out_k),)
    return record(out, "LogsumexpBackward0", (x,), backward, saved=(x,), save_output=True)


@half_in_float32
def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector p-norm (2 by default) over ``dim`` (all elements by default); p = 0 counts the nonzero
    elements, p = ±inf takes the largest (smallest) magnitude."""
    if not dtypes.is_float_np(x._array.dtype):
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
                           f"{dtypes.kernel_name(x.dtype)}")
    if not isinstance(p, str) and p is not None and (p < 0 or math.isinf(p)):
        _check_norm_identity(x, p, dim)
    if p != 0 and 1 == math.prod(x._array.shape[d] for d in normalize_dims(dim, x.ndim)):
        # Every group holds one element: PyTorch's norm is then |x| (no power taken, so 1e300 stays
        # finite where a group of two overflows to inf).
        return _keeps_input_and_result(sum(x.abs(), () if dim is None else dim, keepdim), x)
    if p in ("fro", 2, 2.0, None):
        dims = normalize_dims(dim, x.ndim)
        A = x._array
        with np.errstate(over="ignore", under="ignore"):   # as PyTorch's: sqrt(Σ a²), which may overflow
            out = np.sqrt((A * A).sum(axis=dims, keepdims=keepdim))
        shape = A.shape

        def backward(g, out):
            out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
            scale = where(out_k == 0, 0.0, _expand_back(g, shape, dims, keepdim) / where(out_k == 0, 1.0, out_k))
            return (x * scale,)
        return record(out, "NormBackward1", (x,), backward, saved=(x,), save_output=True)
    if p in (float("inf"), "inf"):
        return _keeps_input_and_result(amax(x.abs(), dim=() if dim is None else dim, keepdim=keepdim), x)
    if p in (-float("inf"), "-inf"):
        return _keeps_input_and_result(amin(x.abs(), dim=() if dim is None else dim, keepdim=keepdim), x)
    if p == 0:   # how many elements are nonzero: PyTorch's backward gives x no gradient at all
        A = x._array
        count = (A != 0).sum(axis=normalize_dims(dim, A.ndim), keepdims=keepdim).astype(A.dtype)
        return _keeps_input_and_result(record(count, "LinalgVectorNormBackward0", (x,), lambda g: (None,)), x)
    if p == 1:
        return _keeps_input_and_result(sum(x.abs(), dim, keepdim), x)
    return _p_norm(x, p, normalize_dims(dim, x.ndim), keepdim)


def _keeps_input_and_result(out, x):
    """PyTorch's norm is one op keeping x and its result: in-place changes of either are refused in backward."""
    return keeps(keeps(out, x), out)


def _p_norm(x, p, dims, keepdim):
    """(Σ |x|^p)^(1/p) as one op, with PyTorch's backward (it keeps the result, and gives zeros where
    the norm is 0, or, for p < 1, where x is 0, instead of the composition's NaN)::

        p < 1:  sign(x)·|x|^(p-1)·g·norm^(1-p)      (0 where x = 0)
        p ≥ 1:  sign(x)·|x|^(p-1)·g / norm^(p-1)    (0 where norm = 0; x·|x|^(p-2) for p ≥ 2, keeping -0)
    """
    A = x._array
    with np.errstate(all="ignore"):
        out = (np.abs(A) ** p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
    shape = A.shape

    def backward(g, out):
        out_k = out if keepdim else out.reshape(_keep_shape(shape, dims))
        g = _expand_back(g, shape, dims, keepdim)
        scaled = x * x.abs() ** (p - 2) if p >= 2 else x.sign() * x.abs() ** (p - 1)
        if p < 1:
            return (where(x == 0, 0.0, scaled) * g * out_k ** (1 - p),)
        return (scaled * where(out_k == 0, 0.0, g / out_k ** (p - 1)),)
    return record(out, "LinalgVectorNormBackward0", (x,), backward, saved=(x,), save_output=True)


def _check_norm_identity(x, p, dim):
    """A max, min or negative-power norm over nothing has no value: PyTorch raises."""
    A = x._array
    if dim is None and A.size == 0:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on an empty tensor because the "
                           f"operation does not have an identity")
    for d in (normalize_dims(dim, A.ndim) if dim is not None else ()):
        if A.shape[d] == 0:
            raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on the dimension {d} because "
                               f"this dimension is empty and the operation does not have an identity")


def _scan_operand(x, dim, dtype):
    """The array a running sum or product walks (cast to ``dtype``; bools and integers as int64, as PyTorch
    accumulates them) and the one dim it walks along."""
    A = x._array if dtype is None else x._array.astype(dtypes.to_dtype(dtype).np)
    d = normalize_dims(dim, A.ndim)
    d = d[0] if d else 0
    if A.dtype.kind in "biu":
        A = A.astype(np.int64)
    return A, d


@half_in_float32
def cumsum(x, dim, *, dtype=None):
    A, d = _scan_operand(x, dim, dtype)
    out = c_order(np.cumsum(A, axis=d)) if A.ndim else A.copy()
    # The gradient of a running sum is the running sum of the gradient taken from the end.
    return record(out, "CumsumBackward0", (x,), lambda g: (g.flip(d).cumsum(d).flip(d) if g.ndim else g,))


@half_in_float32
def cumprod(x, dim, *, dtype=None):
    A, d = _scan_operand(x, dim, dtype)
    out = c_order(np.cumprod(A, axis=d)) if A.ndim else A.copy()

    def backward(g, out):
        if not g.ndim:
            return (g,)
        return (_cumprod_grad(x.to(g.dtype), out.to(g.dtype), g, d),)
    return record(out, "CumprodBackward0", (x,), backward, saved=(x,), save_output=True)


def _cumprod_grad(x, y, g, d, past_the_zero=True):
    """dL/dx of ``y = x.cumprod(d)``, written in Tensor ops so that it can be differentiated again.

    dL/dx_k = sum_{i>=k} g_i * prod_{j<=i, j!=k} x_j. Where x_k is not zero that is (the reversed running sum
    of g * y)_k / x_k. Along a line with a zero that formula holds before its first zero z; at z the gradient
    is prod_{j<z} x_j * sum_{i>=z} g_i * prod_{z<j<=i} x_j; past z every product holds x_z, so the gradient
    is x_z times the same gradient taken with x_z set to 1: zero, with the right derivative in x_z (the
    second derivative PyTorch also gets right). ``past_the_zero=False`` leaves that term at 0: past a second
    zero both the gradient and its derivative are 0.
    """
    def reversed_cumsum(t):
        return t.flip(d).cumsum(d).flip(d)

    is_zero = x == 0
    if not bool(is_zero._array.any()):
        return reversed_cumsum(g * y) / x
    zeros_so_far = is_zero.long().cumsum(d)
    before = zeros_so_far == 0
    first = (zeros_so_far == 1) & is_zero
    one, zero = x.new_ones(()), x.new_zeros(())
    plain = reversed_cumsum(g * y) / where(before, x, one)
    product_before = where(before, x, one).cumprod(d)                      # prod_{j<z} x_j, read at z
    products_after = where(before | first, one, x).cumprod(d)              # prod_{z<j<=i} x_j
    at_first = product_before * reversed_cumsum(g * products_after)
    past = zero
    if past_the_zero:
        without_it = where(first, one, x)
        x_at_zero = where(first, x, zero).sum(d, keepdim=True)
        past = x_at_zero * _cumprod_grad(without_it, without_it.cumprod(d), g, d, past_the_zero=False)
    return where(before, plain, where(first, at_first, past))


@numpy_argument_names
def all(x, dim=None, keepdim=False):
    return _make(np.all(x._array, axis=normalize_dims(dim, x.ndim) if dim is not None else None, keepdims=keepdim))


@numpy_argument_names
def any(x, dim=None, keepdim=False):
    return _make(np.any(x._array, axis=normalize_dims(dim, x.ndim) if dim is not None else None, keepdims=keepdim))


def count_nonzero(x, dim=None):
    return _make(np.asarray(np.count_nonzero(x._array, axis=dim), dtype=np.int64))


engine._bind(sum_to=sum_to)

"""Sorting and selection: sort, argsort, topk, median, unique, bincount.

The indices come from NumPy; the values are ``gather(x, dim, indices)``, so their gradient is gather's
(scatter back to the chosen positions) and needs no rule of its own.
"""
import collections

from .._backend import xp as np

from .. import dtypes
from ..tensor import _check_dim
from ._common import _make, no_bool, normalize_dims, numpy_argument_names, record, to_tensor
from .index import gather
from .reduce import evenly_distribute

values_indices = collections.namedtuple("values_indices", ["values", "indices"])


def _dim(x, dim):
    return _check_dim(dim, x._array.ndim)   # a 0-d tensor accepts dim 0 and -1 only


def _order(A, d, descending):
    """Stable sorting indices along ``d``; equal elements keep their order (also when descending)."""
    if A.ndim == 0:
        return np.zeros((), dtype=np.int64)
    if not descending:
        return np.argsort(A, axis=d, kind="stable").astype(np.int64)
    n = A.shape[d]
    flipped = np.argsort(np.flip(A, d), axis=d, kind="stable")
    return (n - 1 - np.flip(flipped, d)).astype(np.int64)


def argsort(x, dim=-1, descending=False, stable=False):
    return _make(_order(x._array, _dim(x, dim), descending))


def sort(x, dim=-1, descending=False, stable=False):
    """``(values, indices)`` sorted along ``dim``."""
    d = _dim(x, dim)
    idx = _order(x._array, d, descending)
    if x._array.ndim == 0:
        return values_indices(x.clone(), _make(idx))
    indices = _make(idx)
    return values_indices(gather(x, d, indices), indices)


def topk(x, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (or smallest) elements along ``dim``: ``(values, indices)``."""
    d = _dim(x, dim)
    n = x._array.shape[d] if x._array.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range: k={k} for a dimension of size {n}")
    idx = _order(x._array, d, largest)
    if x._array.ndim == 0:
        return values_indices(x.clone(), _make(idx))
    indices = _make(np.take(idx, np.arange(k), axis=d))
    return values_indices(gather(x, d, indices), indices)


@numpy_argument_names
def median(x, dim=None, keepdim=False):
    """The lower median (PyTorch's: no averaging of the middle two), NaN if any element is NaN;
    with ``dim``, ``(values, indices)`` per slice.

    Without ``dim`` the gradient is shared evenly by every element equal to the median (all the NaNs
    when it is NaN), as PyTorch shares it; with ``dim`` it goes to the chosen index.
    """
    A = x._array
    if dim is None:
        no_bool(x, "median_cpu")
        flat = A.reshape(-1)
        if flat.size == 0:   # NaN; an integer type has none, and PyTorch gives its smallest value
            value = np.array(np.nan if dtypes.is_float_np(A.dtype) else np.iinfo(A.dtype).min, dtype=A.dtype)
        elif dtypes.is_float_np(A.dtype) and np.isnan(flat).any():
            value = np.array(np.nan, dtype=A.dtype)
        else:
            value = np.array(np.partition(flat, (flat.size - 1) // 2)[(flat.size - 1) // 2])
        # The result is saved (as PyTorch saves it): an in-place change to it makes backward refuse.
        return record(value, "MedianBackward0", (x,), lambda g, out: (evenly_distribute(g, x, out._array),),
                      saved=(x,), save_output=True)
    d = _dim(x, dim)
    no_bool(x, "median_cpu")
    if A.ndim and A.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    if A.ndim == 0:
        return values_indices(x.clone(), _make(np.zeros((), dtype=np.int64)))
    order = _order(A, d, False)
    idx = np.take(order, [(A.shape[d] - 1) // 2], axis=d)
    if dtypes.is_float_np(A.dtype):   # a slice holding NaN has median NaN, at its first NaN (as in PyTorch)
        nan = np.isnan(A)
        idx = np.where(nan.any(axis=d, keepdims=True), np.argmax(nan, axis=d, keepdims=True), idx)
    indices = _make(idx)
    values = gather(x, d, indices)
    if not keepdim:
        values, indices = values.squeeze(d), indices.squeeze(d)
    return values_indices(values, indices)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (sorted), optionally with the inverse indices and the counts."""
    A = x._array
    if dim is None:
        values, inverse, counts = np.unique(A.reshape(-1), return_inverse=True, return_counts=True)
        inverse = inverse.reshape(A.shape)
    else:
        d = normalize_dims(dim, A.ndim)[0]
        values, inverse, counts = np.unique(A, axis=d, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
    out = [_make(values)]
    if return_inverse:
        out.append(_make(inverse.astype(np.int64)))
    if return_counts:
        out.append(_make(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(x, weights=None, minlength=0):
    """How often each non-negative integer occurs in the 1-D ``x`` (summed ``weights`` if given)."""
    A = x._array
    if A.ndim != 1 or A.dtype.kind not in "iu":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs (got a {A.ndim}-d "
                           f"{x.dtype} tensor)")
    if A.size and A.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs (got a negative value)")
    if weights is None:
        return _make(np.bincount(A, minlength=minlength).astype(np.int64))
    W = to_tensor(weights)._array
    out = np.bincount(A, weights=W, minlength=minlength)
    return _make(out.astype(W.dtype if dtypes.is_float_np(W.dtype) else np.float64))

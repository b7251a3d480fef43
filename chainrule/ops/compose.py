"""Ops that PyTorch scripts use and that are compositions of primitives (so they need no backward
rule of their own): tile, repeat_interleave, meshgrid, addmm, baddbmm, nansum, diff,
index_add, and the in-place scatter/index forms that optimizers and one-hot code use.
"""
from .._backend import xp as np

from .. import dtypes

from ._autocast import autocast_to_lower_precision
from ._common import Tensor, _make, numpy_argument_names, to_tensor
from .elementwise import isnan, where
from .index import checked_positions, index_put_into_zeros, index_select, scatter, scatter_add
from .inplace import apply_inplace
from .linalg import matmul
from .reduce import sum
from .shape import _shape_args, narrow, repeat


def tile(x, *dims):
    """Like ``repeat``, but fewer dims than the tensor has mean leading 1s (NumPy's ``tile``)."""
    dims = _shape_args(dims)
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


def repeat_interleave(x, repeats, dim=None, *, output_size=None):
    """Each element repeated ``repeats`` times in place: [1, 2] -> [1, 1, 2, 2]."""
    if not isinstance(x, Tensor):
        # repeat_interleave(repeats_tensor): the index of each element, repeated by its value
        counts = to_tensor(x)._array
        return _make(np.repeat(np.arange(counts.size), counts).astype(np.int64))
    if dim is None:
        x, dim = x.reshape(-1), 0
    n = x.shape[dim]
    counts = to_tensor(repeats)._array if isinstance(repeats, Tensor) else np.full(n, int(repeats))
    if counts.size == 1 and n != 1:
        counts = np.full(n, int(counts.reshape(-1)[0]))
    index = np.repeat(np.arange(n), counts)
    return index_select(x, dim, _make(index.astype(np.int64)))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors; ``indexing='xy'`` swaps the first two axes, as NumPy's."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    tensors = [to_tensor(t).reshape(-1) for t in tensors]
    sizes = [t.shape[0] for t in tensors]
    if indexing == "xy" and len(tensors) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for i, t in enumerate(tensors):
        axis = i if indexing == "ij" or len(tensors) < 2 or i > 1 else 1 - i
        shape = [1] * len(tensors)
        shape[axis] = t.shape[0]
        grids.append(t.reshape(shape).expand(sizes))
    return tuple(grids)


@autocast_to_lower_precision
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta·input + alpha·(mat1 @ mat2)."""
    product = matmul(mat1, mat2)
    return (input if beta == 1 else input * beta) + (product if alpha == 1 else product * alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta·input + alpha·(batch1 @ batch2), for batches of matrices."""
    return addmm(input, batch1, batch2, beta=beta, alpha=alpha)


@numpy_argument_names
def nansum(x, dim=None, keepdim=False, *, dtype=None):
    """``sum`` treating NaN as zero (and passing no gradient to NaN positions)."""
    if not dtypes.is_float_np(x._array.dtype):   # integers hold no NaN: a plain sum, of PyTorch's integer dtype
        return sum(x, dim, keepdim, dtype=dtype)
    return sum(where(isnan(x), 0.0, x), dim, keepdim, dtype=dtype)


def diff(x, n=1, dim=-1, prepend=None, append=None):
    """Differences of neighbours along ``dim``, ``n`` times."""
    from .shape import cat
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    parts = [t for t in (prepend, x, append) if t is not None]
    out = cat(parts, dim) if len(parts) > 1 else x
    for _ in range(n):
        length = out.shape[dim]
        out = narrow(out, dim, 1, length - 1) - narrow(out, dim, 0, length - 1)
    return out


def index_add(x, dim, index, source, *, alpha=1):
    """A copy of ``x`` with ``alpha·source`` added at ``index`` along ``dim`` (repeats accumulate)."""
    from ..tensor import _check_dim
    d = _check_dim(dim, x.ndim)
    idx = (slice(None),) * d + (checked_positions(x, d, index, "index_add").reshape(-1),)
    return x + index_put_into_zeros(source * alpha if alpha != 1 else source, x._array.shape, idx, True)


def index_fill(x, dim, index, value):
    d = dim % max(x.ndim, 1)
    mask = np.zeros(x._array.shape, dtype=bool)
    mask[(slice(None),) * d + (to_tensor(index)._array.astype(np.int64),)] = True
    return where(_make(mask), value, x)


# ----- in-place forms --------------------------------------------------------------------------------
def scatter_(x, dim, index, src=None, value=None, *, reduce=None):
    if reduce is not None:
        raise NotImplementedError("scatter_ with reduce= is not supported; use scatter_add_ for 'add'")
    if isinstance(src, Tensor):
        return apply_inplace(x, lambda t, s: scatter(t, dim, index, s), src)
    fill = value if src is None else src   # scatter_(dim, index, 1.0): a number in src's place
    return apply_inplace(x, lambda t: scatter(t, dim, index, value=fill))


def scatter_add_(x, dim, index, src):
    return apply_inplace(x, lambda t, s: scatter_add(t, dim, index, s), src)


def index_add_(x, dim, index, source, *, alpha=1):
    return apply_inplace(x, lambda t, s: index_add(t, dim, index, s, alpha=alpha), source)


def index_fill_(x, dim, index, value):
    return apply_inplace(x, lambda t: index_fill(t, dim, index, value))


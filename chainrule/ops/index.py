"""Indexing: ``x[idx]`` with ints, slices, steps, None, ..., integer arrays and boolean masks.

The backward of indexing scatters the gradient into zeros of the input's shape; with integer
arrays the same element may be picked twice, so the scatter *adds* (``np.add.at``): the gradient of
a repeated index accumulates. That scatter is itself an op whose backward is indexing again.
"""
from .._backend import xp as np

from .. import dtypes
from ..compiler import is_compiling
from ._common import Tensor, _make, c_order, record, to_tensor
from .elementwise import where


def normalize_index(idx):
    """``(index for NumPy, is_advanced)``: Tensors and lists inside ``idx`` become arrays."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out, advanced = [], False
    for i in idx:
        if isinstance(i, Tensor):
            a = i._array
            if dtypes.is_float_np(a.dtype):
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors "
                                 f"(got {i.dtype})")
            out.append(a)
            advanced = True
        elif isinstance(i, (list, range, np.ndarray)):
            a = np.asarray(i, dtype=np.int64) if isinstance(i, range) else np.asarray(i)   # an empty range too
            if a.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(a)
            advanced = True
        elif isinstance(i, slice):
            out.append(slice(*(int(v) if isinstance(v, Tensor) else v for v in (i.start, i.stop, i.step))))
        elif isinstance(i, bool):
            out.append(np.asarray(i))
            advanced = True
        elif i is None or i is Ellipsis or isinstance(i, (int, np.integer)):
            out.append(i)
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                             f"Variables are valid indices (got {type(i).__name__})")
    return tuple(out), advanced


def getitem(x, idx):
    index, advanced = normalize_index(idx)
    A = x._array
    try:
        out = c_order(A[index]) if advanced else A[index]
    except IndexError as exc:
        raise IndexError(str(exc).replace("axis", "dimension")) from None
    shape = A.shape
    result = record(out, "IndexBackward0" if advanced else _basic_name(index), (x,),
                    lambda g: (index_put_into_zeros(g, shape, index, advanced),))
    if not advanced:   # basic indexing gives a view: it shares the version counter
        result._vc = x._vc
        result._is_view = True
    return result


def _basic_name(index):
    """PyTorch's grad_fn name for basic indexing: that of the last step it applies (full slices
    and ``...`` are no steps): ``x[0]`` SelectBackward0, ``x[:1]`` SliceBackward0."""
    name = "AliasBackward0"
    for i in index:
        if i is None:
            name = "UnsqueezeBackward0"
        elif isinstance(i, slice):
            if i != slice(None):
                name = "SliceBackward0"
        elif i is not Ellipsis:
            name = "SelectBackward0"
    return name


def index_put_into_zeros(g, shape, index, advanced):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated positions accumulate)."""
    G = g._array
    if advanced and _rows_index(index, G, shape) and not is_compiling():
        z = _add_rows(shape, index[0], G)
    else:
        z = np.zeros(shape, dtype=G.dtype)
        if advanced:
            np.add.at(z, index, G)
        else:
            z[index] = G
    return record(z, "IndexPutBackward0", (g,), lambda gg: (gg[index],))


# Below this many gradient elements np.add.at is as fast as sorting first.
_SORTED_ADD_MIN = 4096


def _rows_index(index, G, shape):
    """Whether ``index`` picks whole rows by one integer array (an embedding lookup, ``x[idx]``)."""
    return (len(index) == 1 and isinstance(index[0], np.ndarray) and index[0].dtype.kind in "iu"
            and G.size >= _SORTED_ADD_MIN and G.ndim == index[0].ndim + len(shape) - 1)


def _add_rows(shape, idx, G):
    """Zeros of ``shape`` with row ``G[i]`` added into row ``idx[i]``, as sorted segment sums.

    Sorting the row numbers puts repeats side by side, so each output row is one contiguous sum
    (``np.add.reduceat``) and is written once: much faster than ``np.add.at``'s element-by-element
    scatter once there are more than a few thousand values.
    """
    rows = idx.reshape(-1)
    rows = np.where(rows < 0, rows + shape[0], rows)
    values = G.reshape((rows.size,) + tuple(shape[1:]))
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    z = np.zeros(shape, dtype=G.dtype)
    if rows.size:
        z[rows[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return z


def _along_dim_index(index_array, dim):
    """The full NumPy index that picks ``input[..., index[i, j, k], ...]`` along ``dim`` (for gather)."""
    nd = index_array.ndim
    grids = [np.arange(n).reshape([-1 if k == j else 1 for k in range(nd)])
             for j, n in enumerate(index_array.shape)]
    grids[dim] = index_array
    return tuple(grids)


def gather(x, dim, index):
    """``out[i][j] = x[i][index[i][j]]`` for dim=1 (and likewise for other dims)."""
    I = to_tensor(index)._array
    if I.ndim != x._array.ndim:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input tensor "
                           f"(got {I.ndim} and {x._array.ndim})")
    d = dim % max(I.ndim, 1)
    return getitem(x, _along_dim_index(I.astype(np.int64, copy=False), d))


def scatter_add(x, dim, index, src):
    I = to_tensor(index)._array.astype(np.int64, copy=False)
    d = dim % max(I.ndim, 1)
    src = src[tuple(slice(0, n) for n in I.shape)] if src.shape != I.shape else src
    return x + index_put_into_zeros(src, x._array.shape, _along_dim_index(I, d), True)


def scatter(x, dim, index, src=None, value=None):
    """Write ``src`` (or ``value``) into a copy of ``x`` at ``index`` along ``dim``."""
    I = to_tensor(index)._array.astype(np.int64, copy=False)
    d = dim % max(I.ndim, 1)
    full = _along_dim_index(I, d)
    mask = np.zeros(x._array.shape, dtype=bool)
    mask[full] = True
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        return where(_make(mask), src, x)
    src = src[tuple(slice(0, n) for n in I.shape)] if src.shape != I.shape else src
    # Where an index repeats, the last write wins (as on PyTorch's CPU; its docs leave it undefined);
    # every src element still gets the gradient of the position it was written to.
    out = x._array.copy()
    out[full] = src._array
    kept = _make(~mask)
    return record(out, "ScatterBackward0", (x, src), lambda g: (g * kept, g[full]), saved=())


def index_select(x, dim, index):
    d = dim % max(x._array.ndim, 1)
    return getitem(x, (slice(None),) * d + (to_tensor(index)._array,))


def masked_fill(x, mask, value):
    x = x.contiguous()   # PyTorch fills a contiguous copy: the result is contiguous whatever x's layout
    return where(mask, value, x).to(x.dtype) if not isinstance(value, Tensor) else where(mask, value, x)


def masked_select(x, mask):
    return getitem(x, to_tensor(mask))


def take(x, index):
    return getitem(x.reshape(-1), to_tensor(index))


def nonzero(x, *, as_tuple=False):
    nz = np.nonzero(x._array)
    if as_tuple:
        return tuple(_make(a.astype(np.int64)) for a in nz)
    return _make(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))

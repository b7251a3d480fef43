"""Indexing: ``x[idx]`` with ints, slices, steps, None, ..., integer arrays and boolean masks.

The backward of indexing scatters the gradient into zeros of the input's shape; with integer
arrays the same element may be picked twice, so the scatter *adds* (``np.add.at``): the gradient of
a repeated index accumulates. That scatter is itself an op whose backward is indexing again.
"""
import re

from .._backend import xp as np

from .. import dtypes
from ..autograd.grad_mode import state as grad_state
from ..compiler import is_compiling, raise_if
from ..autograd.views import make_view
from ._common import Tensor, _make, c_order, check_fits, record, to_tensor
from .elementwise import where


def normalize_index(idx, ndim=None):
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
            if isinstance(i, list) and a.size == 0:
                a = a.astype(np.int64)   # [] picks nothing (PyTorch reads it as an empty long tensor)
            if dtypes.is_float_np(a.dtype):
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            out.append(a)
            advanced = True
        elif isinstance(i, slice):
            i = slice(*(int(v) if isinstance(v, Tensor) else v for v in (i.start, i.stop, i.step)))
            if i.step is not None and i.step < 0:   # NumPy would reverse; PyTorch refuses (use flip)
                _check_index_count(idx, ndim)
                raise ValueError(f"step must be greater than zero (got the slice step {i.step}; use flip() "
                                 f"to reverse)")
            out.append(i)
        elif isinstance(i, bool):
            out.append(np.asarray(i))
            advanced = True
        elif i is None or i is Ellipsis or isinstance(i, (int, np.integer)):
            out.append(i)
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                             f"Variables are valid indices (got {type(i).__name__})")
    return tuple(out), advanced


def _check_index_count(idx, ndim):
    """PyTorch reports too many indices before anything else about them."""
    used = sum(1 for i in idx if i is not None and i is not Ellipsis
               and not (isinstance(i, (Tensor, np.ndarray)) and getattr(i, "dtype", None) == bool))
    if ndim is not None and used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")


def _refuse_a_0d_tensor_index(idx):
    """PyTorch's own words for indexing a 0-d tensor with a bare number or slice (``loss.data[0]`` in older
    scripts: they point to ``item()``); a tuple of them is "too many indices", as below."""
    if isinstance(idx, int) and not isinstance(idx, bool) and idx != 0:
        raise IndexError(f"index {idx} is out of bounds for dimension 0 with size 0")
    if isinstance(idx, int) and not isinstance(idx, bool):
        raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` "
                         "in C++ to convert a 0-dim tensor to a number")
    if isinstance(idx, slice):
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    if isinstance(idx, tuple) and any(isinstance(i, (int, slice)) and not isinstance(i, bool) for i in idx):
        raise IndexError("too many indices for tensor of dimension 0")


_NONE = type(None)


def _plain_slice(s):
    """A slice of plain ints (or None) with a positive step: NumPy reads it exactly as PyTorch does."""
    step = s.step
    return (type(s.start) in (int, _NONE) and type(s.stop) in (int, _NONE)
            and (step is None or (type(step) is int and step > 0)))


def _plain_basic(idx):
    """Whether ``idx`` is an int, a plain slice, or a tuple of ints, plain slices and Nones: the indices of
    ``x[i]``, ``x[a:b]``, ``x[:, -1]`` in a training loop, which need none of ``normalize_index``'s work."""
    t = type(idx)
    if t is int:
        return True
    if t is slice:
        return _plain_slice(idx)
    if t is not tuple:
        return False
    for i in idx:
        ti = type(i)
        if not (ti is int or i is None or (ti is slice and _plain_slice(i))):
            return False
    return True


def getitem(x, idx):
    A = x._array
    if A.ndim and _plain_basic(idx):
        # The common case, straight to NumPy (a view); anything NumPy refuses (an index out of range, too
        # many indices) goes the general way below, which words the error as PyTorch does.
        index = (idx + (Ellipsis,)) if type(idx) is tuple else (idx, Ellipsis)
        try:
            out = A[index]
        except IndexError:
            pass
        else:
            if x._requires_grad and grad_state.enabled:
                shape = A.shape
                result = record(out, _walk_basic(index[:-1], shape, type(idx) is not tuple), (x,),
                                lambda g: (index_put_into_zeros(g, shape, index, False),))
            else:
                result = _make(out)
            return make_view(x, result)
    if A.ndim == 0:
        _refuse_a_0d_tensor_index(idx)
    try:
        index, advanced = normalize_index(idx, A.ndim)
    except (IndexError, ValueError):
        raise_as_pytorch(A.shape, idx)
        raise
    if advanced:
        index, advanced = _ints_from_0d_arrays(index)
        split = _ints_first(index)
        if split is not None:
            return getitem(getitem(x, split[0]), split[1])
    basic = index
    if not advanced and Ellipsis not in index:
        # A trailing ``...`` changes nothing but makes NumPy return a 0-d *view* where integers pick one
        # element (not a copied scalar), so x[0].zero_() writes into x.
        index = index + (Ellipsis,)
    try:
        out = c_order(A[index]) if advanced else A[index]
    except IndexError as exc:
        raise_as_pytorch(A.shape, idx)
        _raise_broadcast_error(exc)
        if advanced:
            _raise_array_index_error(exc, index, A.ndim)
        if str(exc).startswith("too many indices"):
            raise IndexError(f"too many indices for tensor of dimension {A.ndim}") from None
        raise IndexError(str(exc).replace("axis", "dimension")) from None
    except ValueError:   # a zero step
        raise_as_pytorch(A.shape, idx)
        raise
    shape = A.shape
    if advanced:
        name = "IndexBackward0"
    else:   # (the name only matters when the op is recorded)
        recorded = x._requires_grad and grad_state.enabled
        name = _walk_basic(basic, shape, type(idx) is not tuple) if recorded else "AliasBackward0"
    result = record(out, name, (x,), lambda g: (index_put_into_zeros(g, shape, index, advanced),))
    if not advanced:   # basic indexing gives a view
        make_view(x, result)
    return result


def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _ints_from_0d_arrays(index):
    """A 0-d integer tensor in an index is an int to PyTorch (it selects, and alone gives a view)."""
    out = tuple(int(i) if isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu" else i for i in index)
    return out, any(isinstance(i, np.ndarray) for i in out)


def _index_width(i):
    """How many dims an index item (not None or ``...``) takes: a boolean mask one per dim, anything else one."""
    return i.ndim if isinstance(i, np.ndarray) and i.dtype == np.bool_ else 1


def _ints_first(index):
    """``(first, then)`` for an index with ints beside index arrays, split as PyTorch applies it; else None.

    PyTorch selects with the ints first (basic indexing) and then indexes the rest, where NumPy would count the
    ints as advanced indices too: x[0, :, [1, 2]] is (3, 2) for a (2, 3, 4) x in PyTorch, (2, 3) in NumPy
    (advanced indices split by a slice put their dims first). ``first`` keeps the ints and the Nones (select,
    unsqueeze) and takes every other dim whole; ``then`` indexes what is left, the ints' dims gone and each
    None's new dim taken whole."""
    if not (any(_is_int(i) for i in index) and any(isinstance(i, np.ndarray) for i in index)):
        return None
    first, then = [], []
    for i in index:
        if _is_int(i):
            first.append(i)
        elif i is None:
            first.append(None)
            then.append(slice(None))
        elif i is Ellipsis:
            first.append(Ellipsis)
            then.append(Ellipsis)
        else:   # a slice, an index array, or a mask
            first.extend([slice(None)] * _index_width(i))
            then.append(i)
    return tuple(first), tuple(then)


def _raise_broadcast_error(exc):
    """NumPy's "shape mismatch" for index arrays that do not broadcast, in PyTorch's words."""
    message = str(exc)
    if message.startswith("shape mismatch: indexing arrays could not be broadcast together"):
        shapes = re.findall(r"\(([^)]*)\)", message)
        listed = ", ".join("[" + ", ".join(d.strip() for d in shape.split(",") if d.strip()) + "]" for shape in shapes)
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together with shapes "
                         f"{listed}") from None


def _raise_array_index_error(exc, index, ndim):
    """NumPy's "index 9 is out of bounds for axis 1" from an index array, as PyTorch words it: the dimension it
    names is the index tensor's place among the index tensors (a mask counts one per dim)."""
    found = re.match(r"index (-?\d+) is out of bounds for axis (\d+) with size (\d+)", str(exc))
    if not found:
        return
    value, axis, size = (int(v) for v in found.groups())
    consumed = sum(_index_width(i) for i in index if i is not None and i is not Ellipsis)
    dim = tensors = 0
    for i in index:
        if i is None:
            continue
        if i is Ellipsis:
            dim += ndim - consumed
            continue
        width = _index_width(i)
        if isinstance(i, np.ndarray) and dim <= axis < dim + width:
            raise IndexError(f"index {value} is out of bounds for dimension {tensors + axis - dim} with size "
                             f"{size}") from None
        tensors += width if isinstance(i, np.ndarray) else 0
        dim += width


def raise_as_pytorch(shape, idx):
    """After NumPy (or ``normalize_index``) refused ``idx``: if it is a basic index, raise PyTorch's error for it
    (its words, and the first bad item in PyTorch's order); else return, and the caller raises what it has."""
    items = _basic_items(idx)
    if items is not None and len(shape):
        _walk_basic(items, shape, False)


def _basic_items(idx):
    """The items of an index made only of ints, slices (of ints), None and ``...``, as a tuple; else None."""
    items = idx if type(idx) is tuple else (idx,)
    for i in items:
        if isinstance(i, slice):
            if not all(v is None or _is_int(v) for v in (i.start, i.stop, i.step)):
                return None
        elif not (i is None or i is Ellipsis or _is_int(i)):
            return None
    return items if sum(i is Ellipsis for i in items) <= 1 else None


def _walk_basic(items, shape, bare):
    """A basic index read as PyTorch applies it, item by item: its errors, in PyTorch's order and words, and
    the grad_fn name of the last step it takes (``x[0]`` SelectBackward0, ``x[:1]`` SliceBackward0). Inside a
    tuple a slice from 0 (or None) to the end or past it, step 1, is no step (``x[:, 0]`` is a select), but a
    bare ``x[:]`` is a slice. An out-of-range int names its position in the index, as PyTorch does."""
    ndim = len(shape)
    real = sum(1 for i in items if i is not None and i is not Ellipsis)
    if real > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    name, dim = "AliasBackward0", 0
    for position, item in enumerate(items):
        if item is None:
            name = "UnsqueezeBackward0"
        elif item is Ellipsis:
            dim += ndim - real
        elif isinstance(item, slice):
            size = shape[dim]
            dim += 1
            if item.step == 0:
                raise ValueError("slice step cannot be zero")
            if item.step is not None and item.step < 0:   # NumPy would reverse; PyTorch refuses (use flip)
                raise ValueError(f"step must be greater than zero (got the slice step {item.step}; use flip() "
                                 f"to reverse)")
            # PyTorch skips a slice that starts at 0 (or None) and stops at or past the end, with step 1
            if bare or item.start not in (None, 0) or not (item.stop is None or item.stop >= size) \
                    or item.step not in (None, 1):
                name = "SliceBackward0"
        else:
            size = shape[dim]
            dim += 1
            if not -size <= item < size:
                raise IndexError(f"index {item} is out of bounds for dimension {position} with size {size}")
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


def _dim_index(x, dim, index, name):
    """``(dim, index array)`` for gather/scatter: same number of dims as x, every index in range."""
    from ..tensor import _check_dim
    I = to_tensor(index)._array
    A = x._array
    if I.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index (got {dtypes.from_numpy_dtype(I.dtype)})")
    if I.ndim != A.ndim and not (I.ndim <= 1 and A.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input tensor "
                           f"(got {I.ndim} and {A.ndim})")
    d = _check_dim(dim, A.ndim)
    n = A.shape[d] if A.ndim else 1
    # (value checks, made by a captured step's replays too)
    raise_if((I < 0) | (I >= n), lambda flag, I: RuntimeError(
        f"index {int(I[flag].reshape(-1)[0])} is out of bounds for dimension {d} with size {n}"), I)
    if A.ndim == 0:   # a 0-d input behaves as one element (index 0)
        return d, I.reshape(()).astype(np.int64, copy=False)
    return d, I.astype(np.int64, copy=False)


def gather(x, dim, index):
    """``out[i][j] = x[i][index[i][j]]`` for dim=1 (and likewise for other dims)."""
    d, I = _dim_index(x, dim, index, "gather")
    if x._array.ndim == 0:
        return x.reshape(1)[_make(I.reshape(-1))].reshape(I.shape)   # a copy, as every gather (never a view)
    return getitem(x, _along_dim_index(I, d))


def scatter_add(x, dim, index, src):
    d, I = _dim_index(x, dim, index, "scatter_add")
    src = src[tuple(slice(0, n) for n in I.shape)] if src.shape != I.shape else src
    return x + index_put_into_zeros(src, x._array.shape, _along_dim_index(I, d), True)


def scatter(x, dim, index, src=None, value=None):
    """Write ``src`` (or ``value``) into a copy of ``x`` at ``index`` along ``dim``."""
    d, I = _dim_index(x, dim, index, "scatter")
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
    """The slices of ``x`` along ``dim`` at the positions in the 1-D ``index`` (each in [0, size))."""
    from ..tensor import _check_dim
    d = _check_dim(dim, x._array.ndim)
    I = checked_positions(x, d, index, "index_select")
    if x._array.ndim == 0:
        return x.reshape(1)[_make(I)].reshape(())
    return getitem(x, (slice(None),) * d + (I,))


def checked_positions(x, d, index, name):
    """``index`` as an int64 array of positions along dim ``d`` of x: 0-d or 1-D, integer, in range
    (index_select, index_add and embeddings refuse negative positions, unlike x[i])."""
    I = to_tensor(index)._array
    if I.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int32 or int64 for index (got "
                           f"{dtypes.from_numpy_dtype(I.dtype)})")
    if I.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector (got shape {list(I.shape)})")
    if x._array.ndim == 0 and I.size > 1:
        raise RuntimeError(f"{name}(): Index to scalar can have only 1 value, got {I.size} value(s)")
    n = x._array.shape[d] if x._array.ndim else 1
    if I.size and n == 0 and name == "index_select" and x._array.ndim > 1:   # (1-D: PyTorch's IndexError below)
        raise RuntimeError(f"index_select(): self indexing axis dim should be positive (dimension {d} is empty)")
    raise_if((I < 0) | (I >= n), lambda flag, I: IndexError(
        f"index out of range in self ({name}: position {int(I[flag].reshape(-1)[0])} along dimension {d} of size {n})"),
        I)
    return I.astype(np.int64, copy=False).reshape(-1) if I.ndim else I.astype(np.int64)


def masked_fill(x, mask, value):
    """x with ``value`` (a number or a 0-d tensor, cast to x's dtype) where ``mask`` holds."""
    check_fits(value, x._array.dtype)
    x = x.contiguous()   # PyTorch fills a contiguous copy: the result is contiguous whatever x's layout
    if isinstance(value, Tensor):
        if value._array.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value._array.ndim} dimension(s).")
        if value._array.dtype != x._array.dtype:
            if value.requires_grad and not dtypes.is_float_np(x._array.dtype) and grad_state.enabled:
                raise RuntimeError(f"Autograd not support dtype: {dtypes.kernel_name(x.dtype)}")
            value = value.to(x.dtype)
        return where(mask, value, x)
    # The number cast straight to x's dtype, as PyTorch does (through float32, 1e-300 would become 0,
    # and a bool tensor would get False for it)
    return where(mask, _make(np.asarray(value).astype(x._array.dtype)), x)


def masked_select(x, mask):
    return getitem(x, to_tensor(mask))


def take(x, index):
    return getitem(x.reshape(-1), to_tensor(index))


def nonzero(x, *, as_tuple=False):
    nz = np.nonzero(x._array)
    if as_tuple:
        return tuple(_make(a.astype(np.int64)) for a in nz)
    return _make(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64))

"""Shape ops: reshape, transpose/permute, expand, repeat, cat/stack, split/chunk, flip.

Ops whose result shares memory with the input (reshape of contiguous data, transpose, expand)
return views: they share the input's version counter, so an in-place change through either is seen
by any backward rule that saved the other.
"""
import math

from .._backend import xp as np

from ..autograd.views import make_view, mark_multi_output, memory_root
from ..tensor import _check_dim
from ._common import _make, _promote_arrays, c_order, record, to_tensor


def _as_view(x, out):
    """Mark ``out`` as a view of ``x`` when NumPy made its array a view of x's (zero-size ones too,
    which share no bytes but are views all the same, as in PyTorch)."""
    if memory_root(out._array) is memory_root(x._array):
        make_view(x, out)
    return out


def _shape_args(shape):
    """``f(2, 3)`` and ``f((2, 3))`` both mean the shape (2, 3)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return tuple(int(s) for s in shape)


def reshape(x, *shape):
    shape = _shape_args(shape)
    A = x._array
    try:
        out = A.reshape(shape)
    except ValueError:
        if A.size == 0 and -1 in shape:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape {list(shape)} because the "
                               f"unspecified dimension size -1 can be any value and is ambiguous") from None
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {A.size}") from None
    in_shape = A.shape
    return _as_view(x, record(out, "ViewBackward0", (x,), lambda g: (g.reshape(in_shape),)))


def view(x, *shape):
    """``reshape`` that refuses, as PyTorch's ``view`` does, when the result cannot share the input's memory:
    when a new dim would have to span dims that are not laid out one after the other (after a transpose)."""
    out = reshape(x, *shape)
    A = x._array
    if A.size and not A.flags.c_contiguous and not _strides_allow_view(
            A.shape, [s // A.itemsize for s in A.strides], out._array.shape):
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one "
                           "dimension spans across two contiguous subspaces). Use .reshape(...) instead.")
    return out


def _strides_allow_view(shape, strides, new_shape):
    """Can ``new_shape`` be given strides over the memory of an array of ``shape`` and ``strides`` (in
    elements)? PyTorch's rule (which it took from NumPy): group the dims into runs that are contiguous with one
    another (each dim's stride is the next one's size times its stride; dims of size 1 are free), then each
    run must be exactly a product of consecutive new dims. A new dim may not straddle two runs."""
    runs = []   # [number of elements, stride of the innermost dim] per run
    for n, stride in zip(shape, strides):
        if n == 1:
            continue
        if runs and runs[-1][1] == n * stride:
            runs[-1] = [runs[-1][0] * n, stride]
        else:
            runs.append([n, stride])
    sizes = iter(n for n in new_shape if n != 1)
    for elements, _ in runs:
        covered = 1
        while covered < elements:
            covered *= next(sizes, elements + 1)   # past the last new dim: cannot cover the run
        if covered != elements:
            return False
    return next(sizes, None) is None


def view_as(x, other):
    return view(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


def flatten(x, start_dim=0, end_dim=-1):
    shape = x._array.shape
    if not shape:
        return reshape(x, 1)
    s, e = _check_dim(start_dim, len(shape)), _check_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    # The flattened size itself, not -1: with a zero-size dim elsewhere, -1 would be ambiguous.
    return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def unflatten(x, dim, sizes):
    """Split dim ``dim`` into ``sizes``; a -1 there is inferred from that dim's size alone."""
    shape = x._array.shape
    d = _check_dim(dim, len(shape))
    sizes = [int(n) for n in sizes]
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    known = math.prod(n for n in sizes if n != -1)
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in sizes:
        if known == 0 or shape[d] % known:
            raise RuntimeError(f"unflatten: cannot infer the -1 in sizes {sizes} from the size of dim {d} "
                               f"({shape[d]}) of the input of shape {list(shape)}")
        sizes[sizes.index(-1)] = shape[d] // known
    elif known != shape[d]:
        raise RuntimeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} "
                           f"({shape[d]}) in the input tensor")
    return reshape(x, shape[:d] + tuple(sizes) + shape[d + 1:])


def squeeze(x, dim=None):
    shape = x._array.shape
    if dim is None:
        return reshape(x, tuple(s for s in shape if s != 1))
    dims = {_check_dim(d, len(shape)) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    return reshape(x, tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    shape = x._array.shape
    d = _check_dim(dim, len(shape) + 1)
    return reshape(x, shape[:d] + (1,) + shape[d:])


def permute(x, *dims):
    if not dims:
        raise TypeError('permute() missing 1 required positional arguments: "dims"')
    dims = _shape_args(dims)
    n = x._array.ndim
    if len(dims) != n:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = {n} is not "
                           f"equal to len(dims) = {len(dims)}")
    dims = tuple(_check_dim(d, n) for d in dims)
    inverse = tuple(np.argsort(dims))
    return _as_view(x, record(x._array.transpose(dims), "PermuteBackward0", (x,),
                              lambda g: (g.permute(inverse),)))


def transpose(x, dim0, dim1):
    n = x._array.ndim
    if n == 0:
        _check_dim(dim0, 0), _check_dim(dim1, 0)
        return x
    order = list(range(n))
    d0, d1 = _check_dim(dim0, n), _check_dim(dim1, n)
    order[d0], order[d1] = order[d1], order[d0]
    return permute(x, order)


swapaxes = transpose


def t(x):
    if x._array.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x._array.ndim == 2 else x


def T(x):
    """``x.T``: all dimensions reversed."""
    n = x._array.ndim
    return permute(x, tuple(range(n - 1, -1, -1))) if n > 1 else x


def mT(x):
    """``x.mT``: the last two dimensions swapped (a batch of matrices transposed).

    A primitive of its own, not a permute: matmul's backward calls it twice per product.
    """
    A = x._array
    if A.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got {A.ndim}-D tensor.")
    return make_view(x, record(A.swapaxes(-1, -2), "TransposeBackward0", (x,), lambda g: (mT(g),)))


def expand(x, *sizes):
    if not sizes:
        raise TypeError('expand() missing 1 required positional arguments: "size"')
    sizes = _shape_args(sizes)
    A = x._array
    lead = len(sizes) - A.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({A.ndim})")
    target = tuple(A.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    if target == A.shape:
        return x
    for i, s in enumerate(A.shape):
        if s != 1 and s != target[lead + i]:
            raise RuntimeError(f"The expanded size of the tensor ({target[lead + i]}) must match the existing "
                               f"size ({s}) at non-singleton dimension {lead + i}.  Target sizes: "
                               f"{list(sizes)}.  Tensor sizes: {list(A.shape)}")
    from .reduce import sum_to
    in_shape = A.shape
    return _as_view(x, record(np.broadcast_to(A, target), "ExpandBackward0", (x,),
                              lambda g: (sum_to(g, in_shape),)))


def broadcast_to(x, shape):
    return expand(x, tuple(shape))


def expand_as(x, other):
    return expand(x, other.shape)


def broadcast_tensors(*tensors):
    shape = np.broadcast_shapes(*(t._array.shape for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


def repeat(x, *sizes):
    """Tile ``x``: ``repeat(2, 1)`` stacks two copies along dim 0 (NumPy's ``tile``)."""
    sizes = _shape_args(sizes)
    A = x._array
    if len(sizes) < A.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of "
                           "dimensions of tensor")
    shape = (1,) * (len(sizes) - A.ndim) + A.shape
    in_shape = A.shape

    def backward(g):
        # Split every dim into (copies, size) and sum over the copies.
        interleaved = [n for pair in zip(sizes, shape) for n in pair]
        return (g.reshape(interleaved).sum(tuple(range(0, 2 * len(sizes), 2))).reshape(in_shape),)
    return record(np.tile(A.reshape(shape), sizes), "RepeatBackward0", (x,), backward)


def flip(x, dims):
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    dims = tuple(_check_dim(d, x._array.ndim) for d in dims)
    if x._array.ndim == 0:
        dims = ()   # dim 0 (or -1) of a 0-d tensor: nothing to flip
    return record(np.flip(x._array, dims).copy(), "FlipBackward0", (x,), lambda g: (g.flip(dims),))


def roll(x, shifts, dims=None):
    if dims is not None:
        for d in (dims if isinstance(dims, (tuple, list)) else (dims,)):
            if x._array.ndim == 0:
                raise IndexError(f"Dimension specified as {d} but tensor has no dimensions")
            _check_dim(d, x._array.ndim)
    out = c_order(np.roll(x._array, shifts, dims))
    back = tuple(-s for s in shifts) if isinstance(shifts, (tuple, list)) else -shifts
    return record(out, "RollBackward0", (x,), lambda g: (g.roll(back, dims),))


# ----- joining and splitting ----------------------------------------------------------------------
def _common_arrays(tensors):
    tensors = [to_tensor(t) for t in tensors]
    if not tensors:
        raise RuntimeError("expected a non-empty list of Tensors")
    arrays = [t._array for t in tensors]
    dt = arrays[0].dtype
    for a in arrays[1:]:
        if a.dtype != dt:
            dt = _promote_arrays(np.empty((1,), dt), np.empty((1,), a.dtype))
    return tensors, [a.astype(dt, copy=False) for a in arrays]


def cat(tensors, dim=0):
    tensors, arrays = _common_arrays(tensors)
    # PyTorch skips 1-D empty tensors in cat (a legacy rule scripts rely on).
    keep = [i for i, a in enumerate(arrays) if not (a.ndim == 1 and a.size == 0)]
    if not keep:   # every input is skipped: an empty result, each input's gradient empty too
        out = np.concatenate(arrays)
        return record(out, "CatBackward0", tensors, lambda g: tuple(_make(np.zeros(0, out.dtype)) for _ in tensors))
    ref = arrays[keep[0]]
    for i in keep:
        if arrays[i].ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    d = _check_dim(dim, ref.ndim)
    for i in keep:
        a = arrays[i]
        if a.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and {a.ndim}")
        for k in range(ref.ndim):
            if k != d and a.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{ref.shape[k]} but got size {a.shape[k]} for tensor number {i} in the list.")
    out = c_order(np.concatenate([arrays[i] for i in keep], axis=d))
    # Each input's extent along d; a skipped 1-D empty input still gets its (empty) gradient.
    sizes = [arrays[i].shape[d] if i in keep else None for i in range(len(arrays))]

    def backward(g):
        pieces, start = [], 0
        for n in sizes:
            if n is None:
                pieces.append(_make(np.zeros(0, g._array.dtype)))
                continue
            pieces.append(g.narrow(d, start, n))
            start += n
        return tuple(pieces)
    return record(out, "CatBackward0", tensors, backward)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = [to_tensor(t) for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tensors[0]._array.shape
    d = _check_dim(dim, len(shape) + 1)   # (the dim first, as PyTorch checks it)
    for i, t in enumerate(tensors):
        if t._array.shape != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shape)} at entry 0 "
                               f"and {list(t._array.shape)} at entry {i}")
    return cat([unsqueeze(t, d) for t in tensors], d)


def hstack(tensors):
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


def narrow(x, dim, start, length):
    """``length`` elements of dim ``dim`` from ``start`` (a negative start counts from the end), a view."""
    if x._array.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = _check_dim(dim, x._array.ndim)
    n = x._array.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return x[(slice(None),) * d + (slice(start, start + length),)]


def select(x, dim, index):
    d = _check_dim(dim, x._array.ndim)
    return x[(slice(None),) * d + (index,)]


def split(x, split_size_or_sections, dim=0):
    if x._array.ndim == 0:
        raise RuntimeError("split expects at least a 1-dimensional tensor")
    d = _check_dim(dim, x._array.ndim)
    n = x._array.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0 or (step == 0 and n):
            raise RuntimeError(f"split expects split_size be non-negative, and non-zero unless the dimension "
                               f"is empty, but got split_size={step} for a dimension of size {n}")
        step = step or 1
        sizes = [min(step, n - s) for s in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(narrow(x, d, start, s))
        start += s
    return mark_multi_output(tuple(out), "Split")


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if x._array.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = _check_dim(dim, x._array.ndim)
    n = x._array.shape[d]
    if n == 0:   # PyTorch's rule: `chunks` empty pieces
        return mark_multi_output(tuple(narrow(x, d, 0, 0) for _ in range(chunks)), "Split")
    return split(x, -(-n // chunks), dim)


def unbind(x, dim=0):
    if x._array.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    d = _check_dim(dim, x._array.ndim)
    return mark_multi_output(tuple(select(x, d, i) for i in range(x._array.shape[d])), "Unbind")


def _diagonal_view(A, offset, d1, d2):
    """The diagonal of A's dims (d1, d2) as a NumPy view, last, writable when A is (np.diagonal's is not)."""
    start = [slice(None)] * A.ndim
    if offset >= 0:
        start[d2] = slice(offset, None)
    else:
        start[d1] = slice(-offset, None)
    B = A[tuple(start)]
    other = [i for i in range(A.ndim) if i not in (d1, d2)]
    shape = [B.shape[i] for i in other] + [min(B.shape[d1], B.shape[d2])]
    strides = [B.strides[i] for i in other] + [B.strides[d1] + B.strides[d2]]
    return np.lib.stride_tricks.as_strided(B, shape, strides, writeable=B.flags.writeable)


def diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal of dims ``dim1``, ``dim2`` (moved last), a view as in PyTorch; ``offset`` > 0 above."""
    A = x._array
    d1, d2 = _check_dim(dim1, A.ndim), _check_dim(dim2, A.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    in_shape, dtype = A.shape, A.dtype

    def backward(g):
        z = np.zeros(in_shape, dtype)
        _diagonal_view(z, offset, d1, d2)[...] = g._array
        return (record(z, "DiagonalBackwardBackward0", (g,), lambda gg: (diagonal(gg, offset, d1, d2),)),)
    return _as_view(x, record(_diagonal_view(A, offset, d1, d2), "DiagonalBackward0", (x,), backward))


def _check_matrix(x, name):
    if x._array.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions (got {x._array.ndim})")


def tril(x, diagonal=0):
    """The lower triangle; its gradient is the gradient's lower triangle (zeros selected, not
    multiplied in, so an inf gradient above the diagonal does not become NaN)."""
    _check_matrix(x, "tril")
    return record(np.tril(x._array, diagonal), "TrilBackward0", (x,), lambda g: (tril(g, diagonal),))


def triu(x, diagonal=0):
    _check_matrix(x, "triu")
    return record(np.triu(x._array, diagonal), "TriuBackward0", (x,), lambda g: (triu(g, diagonal),))


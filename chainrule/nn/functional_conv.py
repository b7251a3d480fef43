"""Convolution: ``conv1d``, ``conv2d``, ``conv_transpose1d/2d``, and ``unfold``/``fold`` (im2col, col2im).

Three primitives carry everything here, each with its backward rule next to its forward:

* ``pad``: zero-pad the spatial dims; backward crops (a slice).
* ``im2col``: every kernel-sized window of the input laid out as a column, built by one strided
  view of the input and one copy (no Python loop over pixels or batch items); backward is col2im.
* ``col2im``: the adjoint, adding each column back into the window it came from (a loop over the
  kh*kw kernel offsets, each one vectorised over the whole batch); backward is im2col.

A convolution is then a composition: ``pad -> im2col -> one (batched) matmul with the weight``,
and a transposed convolution is ``matmul -> col2im -> crop``. Their gradients come from the
pieces: the input gradient of a convolution is col2im of ``W^T @ g`` (a transposed convolution),
its weight gradient is ``g @ cols^T`` (a correlation of input and output gradient). Because every
backward rule is itself written in these differentiable ops, gradients of gradients work.

A stride-1 convolution with enough GEMM rows (C_in/groups * kh*kw >= 64) takes a faster route
with the same maths, on the "grid" layout (C, N, *padded spatial): ``to_grid`` (pad + swap batch
and channels) -> ``grid_conv`` (``grid_im2col``, whose copies run along whole flattened rows, and
one large GEMM instead of one per image) -> ``from_grid`` (crop + swap back + bias). Its pieces are
primitives too, each the adjoint of another (to_grid/from_grid, grid_im2col/grid_col2im,
grid_conv/grid_conv_transpose), so double backward works the same way. On the W6 benchmark
(64x32x16x16 -> 64 channels, 3x3) it takes forward+backward from ~39 to ~27 ms.

Spatial dims are handled generically (1-D and 2-D share the code), so ``conv1d`` is ``conv2d``'s
code with one spatial dim.
"""
import itertools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd import grad_mode
from ..autograd.engine import record
from ..ops._autocast import autocast_to_lower_precision
from ..tensor import Tensor, _make


# ----- argument normalisation ---------------------------------------------------------------------
def _ntuple(value, n, name):
    """``value`` (an int or a sequence of n ints) as a tuple of n ints; a clear error otherwise."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(out) == 1 and n > 1:
        out = out * n
    if len(out) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    return out


def _prod(items):
    n = 1
    for v in items:
        n *= v
    return n


def _out_size(size, kernel, stride, dilation):
    """Number of windows along one dim of an (already padded) input of ``size``."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


# ----- primitive: zero padding --------------------------------------------------------------------
def pad(x, pads):
    """Pad the trailing ``len(pads)`` dims of ``x`` with zeros: ``pads[i] = (before, after)``.

    Backward crops the gradient back to ``x``'s extent (a slice, itself differentiable).
    """
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    A = x._array
    lead = A.ndim - len(pads)
    shape = A.shape[:lead] + tuple(n + lo + hi for (lo, hi), n in zip(pads, A.shape[lead:]))
    crop = (slice(None),) * lead + tuple(slice(lo, lo + n) for (lo, _), n in zip(pads, A.shape[lead:]))
    out = np.zeros(shape, dtype=A.dtype)   # zeros + one assignment: faster than np.pad
    out[crop] = A
    return record(out, "ConstantPadNdBackward0", (x,), lambda g: (g[crop],))


# ----- primitives: im2col and col2im --------------------------------------------------------------
def _windows(A, kernel, stride, dilation):
    """A read-only strided view of ``A`` (N, C, *S) with shape (N, C, *kernel, *out): no copy."""
    spatial = A.shape[2:]
    out = tuple(_out_size(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
    sp = A.strides[2:]
    strides = A.strides[:2] + tuple(a * d for a, d in zip(sp, dilation)) + tuple(a * s for a, s in zip(sp, stride))
    return as_strided(A, A.shape[:2] + tuple(kernel) + out, strides, writeable=False), out


def im2col(x, kernel, stride, dilation):
    """(N, C, *S) -> (N, C*prod(kernel), L): column l holds the window at output position l.

    The rows are ordered (channel, kernel offsets) like PyTorch's ``unfold``; no padding is added
    here (pad first). One strided view, one contiguous copy.
    """
    A = x._array
    view, out = _windows(A, kernel, stride, dilation)
    N, C = A.shape[:2]
    cols = np.ascontiguousarray(view).reshape(N, C * _prod(kernel), _prod(out))
    spatial = A.shape[2:]
    return record(cols, "Im2ColBackward0", (x,),
                  lambda g: (col2im(g, spatial, kernel, stride, dilation),))


def col2im(cols, spatial, kernel, stride, dilation):
    """The adjoint of ``im2col``: sum every column back into its window of a zero (N, C, *spatial).

    Overlapping windows add up. The loop runs over the kernel offsets only (kh*kw iterations),
    each one a strided add over the whole batch.
    """
    A = cols._array
    spatial, kernel = tuple(spatial), tuple(kernel)
    out = tuple(_out_size(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
    K, L = _prod(kernel), _prod(out)
    if A.ndim != 3 or A.shape[1] % K or A.shape[2] != L:
        raise RuntimeError(
            f"col2im: expected input of shape (N, C*{K}, {L}) for kernel_size={kernel}, output_size="
            f"{spatial}, stride={tuple(stride)}, dilation={tuple(dilation)} ({L} blocks), but got "
            f"shape {list(A.shape)}")
    N, C = A.shape[0], A.shape[1] // K
    blocks = A.reshape((N, C) + kernel + out)
    result = np.zeros((N, C) + spatial, dtype=A.dtype)
    for offset in itertools.product(*(range(k) for k in kernel)):
        where = tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                      for o, d, n, s in zip(offset, dilation, out, stride))
        result[(slice(None), slice(None)) + where] += blocks[(slice(None), slice(None)) + offset]
    return record(result, "Col2ImBackward0", (cols,),
                  lambda g: (im2col(g, kernel, stride, dilation),))


# ----- primitives for stride-1 convolution on the padded grid -------------------------------------
# A stride-1 convolution reads, for output pixel p and kernel offset k, the padded input at p + shift_k.
# Flatten the padded image row-major and compute the output at *every* column of the padded width (the
# few columns past the true output width are thrown away at the end): then each kernel offset is one
# fixed shift of the flat image, so im2col copies and col2im adds whole contiguous rows, never the
# short ones of width W. Channels go first and the batch second, (C, N, *grid): the columns of all
# images then sit side by side and each matmul of the convolution is one large GEMM, not N small
# ones, and the layout change to and from (N, C, ...) rides on the padding copy and the crop copy
# that are needed anyway.
def to_grid(x, before, after):
    """(N, C, *S) -> (C, N, *(before + S + after)): zero-padded, batch and channel dims swapped.

    Backward is ``from_grid`` (crop and swap back), its adjoint.
    """
    A = x._array
    N, C = A.shape[:2]
    spatial = A.shape[2:]
    grid = tuple(b + n + a for b, n, a in zip(before, spatial, after))
    out = np.zeros((C, N) + grid, dtype=A.dtype)
    out[(slice(None), slice(None)) + tuple(slice(b, b + n) for b, n in zip(before, spatial))] = A.swapaxes(0, 1)
    return record(out, "ConvGridBackward0", (x,), lambda g: (from_grid(g, before, spatial),))


def from_grid(y, before, size, bias=None):
    """(C, N, *grid) -> (N, C, *size): the window at ``before`` of extent ``size``, dims swapped back,
    plus ``bias`` (C,) per channel if given (added during the copy, not in a pass of its own).

    One contiguous copy. Backward is ``to_grid`` (zero-pad and swap), its adjoint; the bias gets
    the gradient summed over everything but the channel dim.
    """
    A = y._array
    grid = A.shape[2:]
    window = A[(slice(None), slice(None)) + tuple(slice(b, b + n) for b, n in zip(before, size))].swapaxes(0, 1)
    if bias is None:
        out = np.ascontiguousarray(window)
    else:   # a copy even when the window is contiguous already, then the bias added in place
        out = window.copy(order="C")
        out += bias._array.reshape((-1,) + (1,) * len(size))
    after = tuple(g - b - n for g, b, n in zip(grid, before, size))
    reduce_dims = (0,) + tuple(range(2, 2 + len(size)))
    return record(out, "ConvCropBackward0", (y, bias),
                  lambda g: (to_grid(g, before, after) if y._requires_grad else None,
                             g.sum(reduce_dims) if bias is not None and bias._requires_grad else None))


def _grid_shifts(grid, kernel, dilation):
    """Flat offsets (row-major over ``grid``) of every kernel offset, in (k_0, k_1, ...) order."""
    row_strides = [_prod(grid[i + 1:]) for i in range(len(grid))]
    return [sum(o * d * r for o, d, r in zip(offset, dilation, row_strides))
            for offset in itertools.product(*(range(k) for k in kernel))]


def grid_im2col(x, kernel, dilation, rows):
    """(C, N, *grid) -> (C, K, N, L): entry [c, k, n, l] is the flat image x[c, n] at shift_k + l.

    L = rows * prod(grid[1:]): ``rows`` output rows, each the full grid width. One strided view
    (kernel offsets as extra dims), one copy whose inner runs are L contiguous elements.
    Backward is ``grid_col2im``.
    """
    A = np.ascontiguousarray(x._array)
    grid = A.shape[2:]
    row = _prod(grid[1:])
    cols = _grid_cols(A, tuple(kernel), tuple(dilation), rows)
    return record(cols, "ConvIm2ColBackward0", (x,),
                  lambda g: (grid_col2im(g, grid, kernel, dilation),))


def _grid_cols(A, kernel, dilation, rows):
    """``grid_im2col`` on a contiguous (C, N, *grid) array (or a slice of its images): the (C, K, N, L) copy."""
    C, N = A.shape[:2]
    grid = A.shape[2:]
    L = rows * _prod(grid[1:])
    if _grid_shifts(grid, kernel, dilation)[-1] + L > _prod(grid):
        raise RuntimeError(f"grid_im2col: grid {grid} too small for kernel {kernel} with {rows} rows")
    item = A.itemsize
    elem = [r * item for r in (_prod(grid[i + 1:]) for i in range(len(grid)))]
    view = as_strided(A, (C,) + kernel + (N, L),
                      (A.strides[0],) + tuple(e * d for e, d in zip(elem, dilation)) + (A.strides[1], item),
                      writeable=False)
    return np.ascontiguousarray(view).reshape(C, _prod(kernel), N, L)


def grid_col2im(cols, grid, kernel, dilation):
    """The adjoint of ``grid_im2col``: (C, K, N, L) -> (C, N, *grid), each kernel offset's block added
    at its shift (one contiguous-row add per offset, over all channels and images at once).
    Backward is ``grid_im2col``.
    """
    A = cols._array
    C, K, N, L = A.shape
    grid, kernel, dilation = tuple(grid), tuple(kernel), tuple(dilation)
    row = _prod(grid[1:])
    result = np.zeros((C, N, _prod(grid)), dtype=A.dtype)
    for k, shift in enumerate(_grid_shifts(grid, kernel, dilation)):
        result[:, :, shift:shift + L] += A[:, k]
    result = result.reshape((C, N) + grid)
    return record(result, "ConvCol2ImBackward0", (cols,),
                  lambda g: (grid_im2col(g, kernel, dilation, L // row),))


def grid_conv(x, w, kernel, dilation, rows):
    """The convolution on the grid: (C, N, *grid) input, (G, O/G, C/G*K) weight -> (G, O/G, N*L).

    ``w @ grid_im2col(x)`` as one op, a few images at a time: the column matrix of the whole batch
    (C·K rows by N·L columns, nine times the input for a 3x3 kernel) is never held, only a few MiB of
    it, and the weight gradient ``g @ colsᵀ`` rebuilds each piece (computed as ``(cols @ gᵀ)ᵀ``, which
    BLAS runs faster when the contraction, every output pixel, is long). The input gradient is
    ``grid_conv_transpose``. Under ``create_graph`` the weight gradient is taken through the
    differentiable ``grid_im2col`` instead, so it can be differentiated again.
    """
    W = w._array
    G = W.shape[0]
    A = np.ascontiguousarray(x._array)
    C, N = A.shape[:2]
    grid = A.shape[2:]
    kernel, dilation = tuple(kernel), tuple(dilation)
    L = rows * _prod(grid[1:])
    chunks = _image_chunks(N, C * _prod(kernel) * L * A.itemsize)
    out = np.empty((G, W.shape[1], N * L), np.result_type(W, A))
    for n0, n1 in chunks:
        cols = _grid_cols(A[:, n0:n1], kernel, dilation, rows).reshape(G, -1, (n1 - n0) * L)
        np.matmul(W, cols, out=out[:, :, n0 * L:n1 * L])

    def backward(g):
        gx = grid_conv_transpose(g, w, grid, kernel, dilation, rows) if x._requires_grad else None
        if not w._requires_grad:
            return gx, None
        if grad_mode.enabled:   # create_graph: through differentiable ops
            cols = grid_im2col(x, kernel, dilation, rows).reshape(G, -1, N * L)
            return gx, (cols @ g.mT).mT
        Gr = g._array
        gw = np.zeros(W.shape, Gr.dtype)
        for n0, n1 in chunks:
            cols = _grid_cols(A[:, n0:n1], kernel, dilation, rows).reshape(G, -1, (n1 - n0) * L)
            gw += np.matmul(cols, Gr[:, :, n0 * L:n1 * L].swapaxes(1, 2)).swapaxes(1, 2)
        return gx, _make(gw)
    return record(out, "ConvolutionBackward0", (x, w), backward, saved=(x, w))


# Bytes of column matrix per piece in grid_conv and grid_conv_transpose: a few MiB keep each GEMM long
# (thousands of columns, every row of the weight) and the piece in cache between its GEMM and its copy or
# adds, while the whole batch's columns (tens of MiB) are never held at once. On the W9 benchmark's second
# convolution, 4 MiB pieces took 0.8x the time of 8 MiB ones forward, and cutting the input gradient by
# images instead of by channels (whose GEMMs had 45 rows instead of 288) took it from 1.0 to 0.8.
_COLS_BYTES = 4 * 2**20


def _image_chunks(n, bytes_per_image):
    """(start, stop) ranges of images with about ``_COLS_BYTES`` of columns each."""
    step = max(1, _COLS_BYTES // max(1, bytes_per_image))
    return [(i, min(n, i + step)) for i in range(0, n, step)]


def grid_conv_transpose(g, w, grid, kernel, dilation, rows):
    """The adjoint of ``grid_conv`` in its input: ``grid_col2im(wᵀ @ g)``, (G, O/G, N*L) -> (C, N, *grid).

    Done a few images at a time: one GEMM for their column gradient (every input channel and kernel
    offset, a few MiB, reused), then its kernel offsets added at their shifts, so the whole (C*K, N*L)
    product is never held in memory. (A loop over image pieces and kernel offsets, never over pixels.)
    """
    A, W = g._array, w._array
    G, Og, NL = A.shape
    grid, kernel, dilation = tuple(grid), tuple(kernel), tuple(dilation)
    K = _prod(kernel)
    Cg = W.shape[2] // K
    L = rows * _prod(grid[1:])
    C, N = G * Cg, NL // L
    shifts = _grid_shifts(grid, kernel, dilation)
    result = np.zeros((G, Cg, N, _prod(grid)), dtype=A.dtype)
    chunks = _image_chunks(N, Cg * K * L * A.itemsize)
    buffer = np.empty((G, Cg * K, (chunks[0][1] - chunks[0][0]) * L if chunks else 0), dtype=A.dtype)
    Wt = W.swapaxes(1, 2)
    for n0, n1 in chunks:
        part = buffer[:, :, :(n1 - n0) * L]
        np.matmul(Wt, A[:, :, n0 * L:n1 * L], out=part)                  # (G, Cg*K, images*L)
        blocks = part.reshape(G, Cg, K, n1 - n0, L)
        target = result[:, :, n0:n1]
        for k, shift in enumerate(shifts):
            target[:, :, :, shift:shift + L] += blocks[:, :, k]
    result = result.reshape((C, N) + grid)

    def backward(h):
        cols = grid_im2col(h, kernel, dilation, rows).reshape(G, Cg * K, NL)
        return (w @ cols if g._requires_grad else None,
                (cols @ g.mT).mT if w._requires_grad else None)
    return record(result, "ConvolutionBackward1", (g, w), backward, saved=(g, w))


# The grid path pays an extra copy of the output (and of its gradient) for its layout change; with
# few rows in the GEMM (first layers on RGB images, depthwise convolutions) that copy outweighs the
# gain, and the general path is faster.
_GRID_MIN_ROWS = 64


def _conv_stride1(input, weight, bias, pads, dilation, groups):
    """Stride-1 convolution on the padded grid: to_grid, grid_im2col, one GEMM per group,
    from_grid. Same result as the general path (pad, im2col, batched matmul), fewer and longer copies."""
    N, C = input.shape[:2]
    O, Cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    padded = tuple(lo + n + hi for (lo, hi), n in zip(pads, input.shape[2:]))
    out = tuple(p - d * (k - 1) for p, k, d in zip(padded, kernel, dilation))
    # The last kernel offset reads past the padded image by the extra columns of the wide rows: a
    # few more zero rows at the bottom keep every shifted read inside the buffer.
    row = _prod(padded[1:])
    overrun = _grid_shifts(padded, kernel, dilation)[-1] + out[0] * row - _prod(padded)
    extra_rows = -(-overrun // row) if overrun > 0 else 0
    after = (pads[0][1] + extra_rows,) + tuple(hi for _, hi in pads[1:])
    xg = to_grid(input, tuple(lo for lo, _ in pads), after)              # (C, N, *grid)
    w = weight.reshape(groups, O // groups, Cg * _prod(kernel))
    y = grid_conv(xg, w, kernel, dilation, out[0])                       # (G, O/G, N*L)
    y = y.reshape((O, N, out[0]) + padded[1:])                           # (O, N, rows, *grid width)
    return from_grid(y, (0,) * len(out), out, bias)


# ----- unfold / fold (PyTorch's names for im2col / col2im) ----------------------------------------
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks: (N, C, H, W) -> (N, C*kh*kw, L), as ``torch.nn.functional.unfold``."""
    if input.ndim not in (3, 4):
        raise RuntimeError(f"unfold: expected a 3-D (unbatched) or 4-D input, got shape {list(input.shape)}")
    if input.ndim == 3:
        return unfold(input.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    k, d = _ntuple(kernel_size, 2, "kernel_size"), _ntuple(dilation, 2, "dilation")
    p, s = _ntuple(padding, 2, "padding"), _ntuple(stride, 2, "stride")
    _check_positive(k, d, s, "unfold")
    xp = pad(input, [(pi, pi) for pi in p])
    _check_fits(xp.shape[2:], k, d, "unfold", input.shape, p)
    return im2col(xp, k, s, d)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding blocks back into an image: (N, C*kh*kw, L) -> (N, C, H, W), as ``F.fold``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(f"fold: expected a 2-D (unbatched) or 3-D input, got shape {list(input.shape)}")
    if input.ndim == 2:
        return fold(input.unsqueeze(0), output_size, kernel_size, dilation, padding, stride).squeeze(0)
    size = _ntuple(output_size, 2, "output_size")
    k, d = _ntuple(kernel_size, 2, "kernel_size"), _ntuple(dilation, 2, "dilation")
    p, s = _ntuple(padding, 2, "padding"), _ntuple(stride, 2, "stride")
    _check_positive(k, d, s, "fold")
    if input.shape[1] % _prod(k):
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the product of "
                           f"kernel_size ({_prod(k)}), but got input.size(1)={input.shape[1]}")
    padded = tuple(n + 2 * pi for n, pi in zip(size, p))
    out = col2im(input, padded, k, s, d)
    crop = (slice(None), slice(None)) + tuple(slice(pi, pi + n) for pi, n in zip(p, size))
    return out[crop] if any(p) else out


def _check_positive(kernel, dilation, stride, op):
    for name, values in (("kernel_size", kernel), ("dilation", dilation), ("stride", stride)):
        if any(v <= 0 for v in values):
            raise RuntimeError(f"{op}: {name} should be greater than zero, but got {name}={values}")


def _check_fits(padded, kernel, dilation, op, in_shape, padding):
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(e > s for e, s in zip(effective, padded)):
        raise RuntimeError(
            f"{op}: calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, effective))}) (with dilation). Kernel size can't be "
            f"greater than actual input size (input shape {list(in_shape)}, padding {tuple(padding)})")


# ----- convolution --------------------------------------------------------------------------------
def _same_padding(kernel, dilation, stride, op):
    """PyTorch's padding='same': total d*(k-1) per dim, the odd one extra on the right."""
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
    pads = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    return pads


def _check_ranks(input, weight, nd, op, weight_layout):
    """The checks convolution and transposed convolution share: batched input, weight rank, one dtype."""
    if input.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, but got "
                           f"input of size: {list(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{op}: expected weight to be {nd + 2}-D ({weight_layout}, *kernel), but got "
                           f"weight of size {list(weight.shape)}")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"{op}: input type ({input.dtype}) and weight type ({weight.dtype}) should be the "
                           f"same; convert one with .to(...)")


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, op):
    """Convolution over ``nd`` spatial dims: pad, im2col, one batched matmul, add the bias."""
    _check_tensor(input, "input", op)
    _check_tensor(weight, "weight", op)
    if input.ndim == nd + 1:   # unbatched (C, *S)
        return _conv(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups, nd, op).squeeze(0)
    _check_ranks(input, weight, nd, op, "out_channels, in_channels/groups")
    stride, dilation = _ntuple(stride, nd, "stride"), _ntuple(dilation, nd, "dilation")
    N, C = input.shape[:2]
    O, Cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (groups={groups})")
    if C != Cg * groups or O % groups:
        raise RuntimeError(f"{op}: given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {Cg * groups} channels, but got {C} channels instead"
                           + ("" if O % groups == 0 else
                              f" (and out_channels={O} must be divisible by groups)"))
    if bias is not None and tuple(bias.shape) != (O,):
        raise RuntimeError(f"{op}: expected bias of shape [{O}] (one per output channel), but got "
                           f"{list(bias.shape)}")
    _check_positive(kernel, dilation, stride, op)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            pads = _same_padding(kernel, dilation, stride, op)
        else:
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of 'valid', 'same'")
    else:
        pads = [(p, p) for p in _ntuple(padding, nd, "padding")]
        if any(p < 0 for p, _ in pads):
            raise RuntimeError(f"{op}: negative padding is not supported (padding={padding})")
    padded = tuple(lo + n + hi for (lo, hi), n in zip(pads, input.shape[2:]))
    _check_fits(padded, kernel, dilation, op, input.shape, [p for p, _ in pads])
    if all(s == 1 for s in stride) and Cg * _prod(kernel) >= _GRID_MIN_ROWS:
        fused = bias is None or bias.dtype == input.dtype     # else the add below promotes, as before
        out = _conv_stride1(input, weight, bias if fused else None, pads, dilation, groups)
        return out if fused else out + bias.reshape((1, O) + (1,) * nd)
    xp = pad(input, pads)
    cols = im2col(xp, kernel, stride, dilation)                     # (N, C*K, L)
    L = cols.shape[2]
    cols = cols.reshape(N, groups, Cg * _prod(kernel), L)
    w = weight.reshape(groups, O // groups, Cg * _prod(kernel))
    out = (w @ cols).reshape((N, O) + tuple(_out_size(s, k, st, d) for s, k, st, d in
                                            zip(xp.shape[2:], kernel, stride, dilation)))
    if bias is not None:
        out = out + bias.reshape((1, O) + (1,) * nd)
    return out


def _check_tensor(t, name, op):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(t).__name__}")
    if not t.is_floating_point():
        raise RuntimeError(f"{op}: expected a floating-point {name}, got {t.dtype}")


@autocast_to_lower_precision
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) of (N, C_in, L) with weight (C_out, C_in/groups, k)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


@autocast_to_lower_precision
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) of (N, C_in, H, W) with weight (C_out, C_in/groups, kh, kw).

    padding: an int, a pair, 'valid' (none) or 'same' (output as large as the input; stride 1 only).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


# ----- transposed convolution ---------------------------------------------------------------------
def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd, op):
    """The adjoint of a convolution: batched matmul ``W^T @ x``, col2im, crop the padding."""
    _check_tensor(input, "input", op)
    _check_tensor(weight, "weight", op)
    if input.ndim == nd + 1:
        return _conv_transpose(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                               dilation, nd, op).squeeze(0)
    _check_ranks(input, weight, nd, op, "in_channels, out_channels/groups")
    stride, dilation = _ntuple(stride, nd, "stride"), _ntuple(dilation, nd, "dilation")
    padding, output_padding = _ntuple(padding, nd, "padding"), _ntuple(output_padding, nd, "output_padding")
    N, C = input.shape[:2]
    Cin, Og = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if groups <= 0 or C != Cin or Cin % groups:
        raise RuntimeError(f"{op}: given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {Cin} channels (divisible by groups), but got {C} "
                           f"channels instead")
    O = Og * groups
    if bias is not None and tuple(bias.shape) != (O,):
        raise RuntimeError(f"{op}: expected bias of shape [{O}] (one per output channel), but got "
                           f"{list(bias.shape)}")
    _check_positive(kernel, dilation, stride, op)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ < 0 or op_ >= max(s, d):
            raise RuntimeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                               f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
    if any(p < 0 for p in padding):
        raise RuntimeError(f"{op}: negative padding is not supported (padding={padding})")
    spatial_in = tuple(input.shape[2:])
    full = tuple((n - 1) * s + d * (k - 1) + 1 + o
                 for n, s, d, k, o in zip(spatial_in, stride, dilation, kernel, output_padding))
    final = tuple(f - 2 * p for f, p in zip(full, padding))
    if any(f <= 0 for f in final):
        raise RuntimeError(f"{op}: given input size {list(input.shape)}, kernel {kernel}, stride {stride}, "
                           f"padding {padding}: the calculated output size {final} is too small")
    L = _prod(spatial_in)
    K = _prod(kernel)
    w = weight.reshape(groups, Cin // groups, Og * K).mT           # (G, Og*K, Cin/G)
    cols = (w @ input.reshape(N, groups, Cin // groups, L)).reshape(N, O * K, L)
    out = col2im(cols, full, kernel, stride, dilation)
    if any(padding):
        out = out[(slice(None), slice(None)) + tuple(slice(p, p + f) for p, f in zip(padding, final))]
    if bias is not None:
        out = out + bias.reshape((1, O) + (1,) * nd)
    return out


@autocast_to_lower_precision
def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution of (N, C_in, L) with weight (C_in, C_out/groups, k)."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                           "conv_transpose1d")


@autocast_to_lower_precision
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution ("deconvolution") of (N, C_in, H, W) with weight (C_in, C_out/groups, kh, kw).

    Output size per dim: (in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1.
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                           "conv_transpose2d")

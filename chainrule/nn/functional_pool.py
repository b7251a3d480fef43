"""Pooling and resizing: ``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d``, ``interpolate``.

Max pooling without padding (``max_pool2d(x, 2)``, the usual case) is a primitive: a loop over the kernel
offsets keeps each window's running maximum and which offset holds it (PyTorch's rule: the first maximum,
NaN wins), and the backward scatters the gradient to those offsets (``_pool_scatter``), whose own
backward gathers (``_pool_gather``) and vice versa, so gradients of any order work. The rest are
compositions of differentiable pieces:

* padded max pooling finds each window's argmax in NumPy (a strided view, no copy per window) and then
  *gathers* those input elements (``take``): its backward scatters the gradient to the winners,
  and its double backward gathers again.
* average pooling is a window sum (im2col, then a sum over the kernel rows) divided by a constant
  per-window count, so ``count_include_pad`` and ``ceil_mode`` only change that constant.
* adaptive average pooling is a product with two constant averaging matrices (rows, columns).
* nearest-neighbour interpolation is indexing with a constant index per output row and column.
"""
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import dtypes
from ..autograd.engine import record
from ..ops._autocast import autocast_runs_as_is
from ..ops._common import floating_only, no_bool
from ..tensor import Tensor, _make
from .functional_conv import _ntuple, _prod, im2col, pad


def _check_input(input, nd, op, empty_dims=False):
    """input: (N, C, *spatial) or (C, *spatial); only N may be 0 (PyTorch's adaptive pools: any dim)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (nd + 1, nd + 2) or (not empty_dims and 0 in input.shape[input.ndim - nd - 1:]):
        raise RuntimeError(f"{op}: expected {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input with optional 0 "
                           f"dim batch size (no other dim of size 0), but got input of size: {list(input.shape)}")


def _pool_geometry(spatial, kernel, stride, padding, dilation, ceil_mode, op):
    """Output size per dim and the extra right padding that ceil_mode's last window needs."""
    for name, values, low in (("kernel_size", kernel, 1), ("stride", stride, 1), ("dilation", dilation, 1),
                              ("padding", padding, 0)):
        if any(v < low for v in values):
            raise RuntimeError(f"{op}: {name} must be {'positive' if low else 'non-negative'}, got {values}")
    out, extra = [], []
    for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        if p > k // 2:
            raise RuntimeError(f"{op}: pad should be smaller than or equal to half of kernel size, but got "
                               f"padding={p} and kernel_size={k}")
        span = n + 2 * p - d * (k - 1) - 1
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:   # the last window must start inside input or left pad
            o -= 1
        if o <= 0:
            raise RuntimeError(f"{op}: given input size {tuple(spatial)}, kernel {tuple(kernel)}, padding "
                               f"{tuple(padding)}, dilation {tuple(dilation)}: the calculated output size "
                               f"would be {o}, which is too small")
        out.append(o)
        extra.append(max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)))
    return tuple(out), tuple(extra)


# ----- max pooling --------------------------------------------------------------------------------
def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd, op):
    _check_input(input, nd, op)
    if input.ndim == nd + 1:
        out = _max_pool(input.unsqueeze(0), kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                        nd, op)
        return (out[0].squeeze(0), out[1].squeeze(0)) if return_indices else out.squeeze(0)
    kernel = _ntuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _ntuple(stride, nd, "stride")
    padding, dilation = _ntuple(padding, nd, "padding"), _ntuple(dilation, nd, "dilation")
    A = input._array
    N, C = A.shape[:2]
    spatial = A.shape[2:]
    out, extra = _pool_geometry(spatial, kernel, stride, padding, dilation, ceil_mode, op)
    if nd == 1:
        floating_only(input, "max_pool1d_impl")   # (PyTorch's 1-D kernel has no integer form; its 2-D one has)
    else:
        no_bool(input, op)
    if not any(padding) and not any(extra) and A.dtype.kind == "f":
        return _max_pool_unpadded(input, kernel, stride, dilation, out, return_indices)
    # Pad with -inf so padding never wins; find each window's argmax on a strided view.
    fill = -np.inf if dtypes.is_float_np(A.dtype) else np.iinfo(A.dtype).min
    padded = np.full((N, C) + tuple(n + 2 * p + e for n, p, e in zip(spatial, padding, extra)), fill, A.dtype)
    padded[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(padding, spatial))] = A
    st = padded.strides
    windows = as_strided(padded, (N, C) + out + kernel,
                         st[:2] + tuple(a * s for a, s in zip(st[2:], stride))
                         + tuple(a * d for a, d in zip(st[2:], dilation)), writeable=False)
    flat = windows.reshape((N, C) + out + (_prod(kernel),))
    arg = np.argmax(flat, axis=-1)                      # first maximum (NaN counts as maximum)
    # A window whose elements all equal the fill (-inf) would pick padding: PyTorch picks the first
    # element inside the input then.
    inside = np.zeros(padded.shape[2:], bool)
    inside[tuple(slice(p, p + n) for p, n in zip(padding, spatial))] = True
    inside = as_strided(inside, out + kernel, tuple(a * s for a, s in zip(inside.strides, stride))
                        + tuple(a * d for a, d in zip(inside.strides, dilation)), writeable=False)
    inside = inside.reshape(out + (_prod(kernel),))
    picked_inside = np.take_along_axis(np.broadcast_to(inside, flat.shape), arg[..., None], -1)[..., 0]
    arg = np.where(picked_inside, arg, np.argmax(inside, axis=-1))
    # The winner's coordinates in the unpadded input, per spatial dim.
    offsets = np.unravel_index(arg, kernel)
    coords = []
    for i, (s, d, p, o) in enumerate(zip(stride, dilation, padding, out)):
        pos = np.arange(o).reshape([-1 if j == i else 1 for j in range(nd)]) * s
        coords.append(pos + offsets[i] * d - p)
    indices = np.ravel_multi_index(tuple(coords), spatial)          # PyTorch's flat per-plane index
    plane = _prod(spatial)
    base = (np.arange(N * C) * plane).reshape((N, C) + (1,) * nd)
    values = input.reshape(-1)[_make(indices + base)]               # a gather: backward scatters
    if return_indices:
        return values, _make(indices.astype(np.int64))
    return values


def _offset_slices(kernel, stride, dilation, out):
    """Per kernel offset (row-major), the basic index that picks, for every window, the element at that offset."""
    return [(slice(None), slice(None)) + tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                                               for o, d, n, s in zip(offset, dilation, out, stride))
            for offset in itertools.product(*(range(k) for k in kernel))]


def _max_pool_unpadded(input, kernel, stride, dilation, out, return_indices):
    """Max pooling of (N, C, *S) without padding as one primitive: a running maximum over the kernel
    offsets, each an (N, C, *out) array of the element at that offset of every window.

    An offset takes over where its value is larger than the maximum so far, or NaN: PyTorch's rule, so ties
    keep the first maximum and a NaN wins. ``which`` records the winning offset per window for the backward.
    All of it is arithmetic (compare, maximum), never a masked copy, which NumPy runs many times slower.
    """
    A = input._array
    offsets = _Offsets(A.shape, kernel, stride, dilation, out)
    views = offsets.split(A)
    best = views[0].copy()
    wide = len(views) > 127
    which = np.zeros(best.shape, np.int64 if wide else np.int8)
    for k, value in enumerate(views[1:], 1):
        wins = np.greater(value, best)
        wins |= np.isnan(value)
        np.maximum(best, value, out=best)    # the winner's value (NaN if any): ties keep the first
        # k is larger than every offset before it: where it wins, max(which, k) is k, elsewhere which.
        np.maximum(which, np.multiply(wins, k, dtype=which.dtype), out=which)
    values = record(best, "MaxPool2DWithIndicesBackward0", (input,),
                    lambda g: (_pool_scatter(g, which, offsets),))
    if not return_indices:
        return values
    # PyTorch's indices: the winner's flat position h·W + w in its (unpadded) input plane.
    spatial = A.shape[2:]
    at = np.unravel_index(which, kernel)
    coords = [np.arange(o).reshape([-1 if j == i else 1 for j in range(len(out))]) * s + off * d
              for i, (o, s, d, off) in enumerate(zip(out, stride, dilation, at))]
    return values, _make(np.ravel_multi_index(tuple(coords), spatial).astype(np.int64))


class _Offsets:
    """The elements at each kernel offset of every window, as K arrays of shape (N, C, *out), and back.

    Windows that tile the input (stride = kernel, no dilation: ``max_pool2d(x, 2)``) are de-interleaved by one
    copy into a (K, N, C, *out) block, so that every later pass reads contiguous memory; otherwise each
    offset is a strided view of the input (windows may overlap, and the gradient adds up).
    """

    def __init__(self, shape, kernel, stride, dilation, out):
        self.shape, self.kernel, self.out = tuple(shape), tuple(kernel), tuple(out)
        self.tiled = all(s == k for s, k in zip(stride, kernel)) and all(d == 1 for d in dilation)
        self.slices = _offset_slices(kernel, stride, dilation, out)
        self.crop = (slice(None), slice(None)) + tuple(slice(0, o * k) for o, k in zip(out, kernel))

    def _blocked(self):
        """(N, C, o1, k1, o2, k2, ...) and the axis order that puts the kernel offsets first."""
        nd = len(self.out)
        split = self.shape[:2] + tuple(v for o, k in zip(self.out, self.kernel) for v in (o, k))
        order = tuple(3 + 2 * i for i in range(nd)) + (0, 1) + tuple(2 + 2 * i for i in range(nd))
        return split, order

    def split(self, A):
        if not self.tiled:
            return [A[index] for index in self.slices]
        split, order = self._blocked()
        blocks = np.ascontiguousarray(A[self.crop].reshape(split).transpose(order))
        blocks = blocks.reshape((math.prod(self.kernel),) + self.shape[:2] + self.out)   # (not -1: N may be 0)
        return [blocks[k] for k in range(blocks.shape[0])]

    def merge(self, part, dtype):
        """The inverse of ``split`` for a gradient: ``part(k, out)`` writes the k-th array of window shape into
        ``out``; the K of them are put into a zero input, adding where windows overlap."""
        if not self.tiled:
            result = np.zeros(self.shape, dtype)
            for k, index in enumerate(self.slices):
                target = result[index]
                target += part(k, None)
            return result
        # Tiled windows cover the input once: each offset's array is written straight to its strided place in
        # the (N, C, o1, k1, o2, k2, ...) view of the result (one pass each), with no transposing copy after.
        split, _ = self._blocked()
        exact = all(o * k == n for o, k, n in zip(self.out, self.kernel, self.shape[2:]))
        result = np.empty(self.shape, dtype) if exact else np.zeros(self.shape, dtype)
        blocked = np.reshape(result if exact else result[self.crop], split, copy=False)   # a view: refuses to copy
        for k, offset in enumerate(itertools.product(*(range(n) for n in self.kernel))):
            part(k, blocked[(slice(None), slice(None)) + tuple(x for i in offset for x in (slice(None), i))])
        return result


def _pool_scatter(g, which, offsets):
    """The gradient of max pooling: each window's gradient put at its winning offset of a zero input."""
    G = g._array
    return record(offsets.merge(lambda k, out: np.multiply(G, which == k, out=out), G.dtype),
                  "MaxPool2DWithIndicesBackwardBackward0", (g,), lambda h: (_pool_gather(h, which, offsets),))


def _pool_gather(h, which, offsets):
    """The adjoint of ``_pool_scatter``: per window, ``h`` at its winning offset."""
    parts = offsets.split(h._array)
    result = parts[0] * (which == 0)
    for k, part in enumerate(parts[1:], 1):
        result += part * (which == k)
    return record(result, "MaxPool2DGatherBackward0", (h,), lambda g: (_pool_scatter(g, which, offsets),))


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over sliding windows of (N, C, L); ``return_indices`` also gives each max's flat position."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1, "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over sliding windows of (N, C, H, W); stride defaults to kernel_size (no overlap).

    With ``return_indices`` also returns, per output, the flat index ``h * W + w`` of the maximum in
    its input plane (what ``max_unpool2d`` takes). Padding counts as -inf: it never wins.
    """
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2, "max_pool2d")


# ----- average pooling ----------------------------------------------------------------------------
def _window_counts(n, k, s, p, o, include_pad):
    """How many elements each of the ``o`` windows along one dim averages over (PyTorch's divisor)."""
    start = np.arange(o) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd, op):
    _check_input(input, nd, op)
    if input.ndim == nd + 1:
        return _avg_pool(input.unsqueeze(0), kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override, nd, op).squeeze(0)
    kernel = _ntuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _ntuple(stride, nd, "stride")
    padding = _ntuple(padding, nd, "padding")
    N, C = input.shape[:2]
    spatial = tuple(input.shape[2:])
    out, extra = _pool_geometry(spatial, kernel, stride, padding, (1,) * nd, ceil_mode, op)
    integer = input._array.dtype == np.int64   # PyTorch averages int64 (rounding toward 0), no other integers
    if not integer:
        floating_only(input, "avg_pool2d")
    xp = pad(input, [(p, p + e) for p, e in zip(padding, extra)])
    sums = im2col(xp, kernel, stride, (1,) * nd).reshape(N, C, _prod(kernel), _prod(out)).sum(2)
    if divisor_override:
        divisor = np.asarray(divisor_override, input._array.dtype)
    else:
        counts = [_window_counts(n, k, s, p, o, count_include_pad)
                  for n, k, s, p, o in zip(spatial, kernel, stride, padding, out)]
        grid = counts[0]
        for c in counts[1:]:
            grid = np.multiply.outer(grid, c)
        divisor = grid.reshape(-1).astype(input._array.dtype)
    if integer:   # C's integer division: the quotient truncated toward zero
        S = sums._array
        return _make((np.sign(S) * (np.abs(S) // divisor)).reshape((N, C) + out))
    return (sums / _make(divisor)).reshape((N, C) + out)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over sliding windows of (N, C, L)."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1, "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over sliding windows of (N, C, H, W).

    count_include_pad: whether zero padding counts in the divisor (True, PyTorch's default) or
    only real input elements do. divisor_override: a fixed divisor instead.
    """
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2,
                     "avg_pool2d")


# ----- adaptive average pooling -------------------------------------------------------------------
def _averaging_matrix(n, o, dtype):
    """(o, n): row i averages input bins floor(i*n/o) .. ceil((i+1)*n/o) - 1, as PyTorch does."""
    m = np.zeros((o, n), dtype=dtype)
    for i in range(o):
        lo, hi = (i * n) // o, -(-((i + 1) * n) // o)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return _make(m)


def _adaptive_avg_pool(input, output_size, nd, op):
    _check_input(input, nd, op, empty_dims=True)
    sizes = (output_size,) * nd if isinstance(output_size, (int, type(None))) else tuple(output_size)
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size must be an int or a tuple of {nd} ints (or None), got {output_size!r}")
    spatial = tuple(input.shape[-nd:])
    sizes = tuple(n if s is None else int(s) for s, n in zip(sizes, spatial))
    if any(s <= 0 for s in sizes):
        raise RuntimeError(f"{op}: output_size must be positive, got {sizes}")
    dtype = input._array.dtype
    if not dtypes.is_float_np(dtype):
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype}")
    out = input
    if nd == 2:   # average the rows: (oh, H) @ (..., H, W)
        out = _averaging_matrix(spatial[0], sizes[0], dtype) @ out
    return out @ _averaging_matrix(spatial[-1], sizes[-1], dtype).mT   # then the columns


@autocast_runs_as_is
def adaptive_avg_pool1d(input, output_size):
    """Average (N, C, L) down (or up) to exactly ``output_size`` positions."""
    return _adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


@autocast_runs_as_is
def adaptive_avg_pool2d(input, output_size):
    """Average (N, C, H, W) into exactly ``output_size`` (an int, a pair, None keeps that dim) bins."""
    return _adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


# ----- interpolation ------------------------------------------------------------------------------
def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of (N, C, L), (N, C, H, W) or (N, C, D, H, W); mode='nearest'.

    Exactly one of ``size`` and ``scale_factor``. Output index i reads input index
    floor(i * scale) (scale = in/out, or 1/scale_factor), computed in float32 as PyTorch does, so
    the same pixels are picked.
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"interpolate(): argument 'input' must be Tensor, not {type(input).__name__}")
    if mode != "nearest":
        raise NotImplementedError(f"interpolate: mode={mode!r} is not implemented in chainrule; "
                                  f"only mode='nearest' is")
    if align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    nd = input.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape "
                         f"{list(input.shape)}")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    spatial = tuple(input.shape[2:])
    if size is not None:
        sizes = _ntuple(size, nd, "size")
        scales = [None] * nd
    else:
        factors = (scale_factor,) * nd if isinstance(scale_factor, (int, float)) else tuple(scale_factor)
        if len(factors) != nd:
            raise ValueError(f"interpolate: scale_factor must be a number or a tuple of {nd} numbers, got "
                             f"{scale_factor!r}")
        sizes = tuple(int(math.floor(n * f)) for n, f in zip(spatial, factors))
        scales = [None] * nd if recompute_scale_factor else list(factors)
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: output size {sizes} must be positive (input spatial size {spatial})")
    index = [slice(None), slice(None)]
    for i, (n, o, f) in enumerate(zip(spatial, sizes, scales)):
        scale = np.float32(1.0 / f) if f is not None and f > 0 else np.float32(n) / np.float32(o)
        src = np.minimum(np.floor(np.arange(o, dtype=np.float32) * scale).astype(np.int64), n - 1)
        index.append(src.reshape([-1 if j == i else 1 for j in range(nd)]))
    return input[tuple(index)]

"""Histograms: ``histc`` (equal bins over [min, max]) and ``histogram`` (equal bins, or given edges).

Neither is differentiable (a count has no gradient), as in PyTorch: the results never require grad.
Bin placement follows PyTorch's: an element's bin is ``(x - min) / (max - min) * bins`` rounded down, the
right edge belongs to the last bin, and elements outside the range (and NaNs) are not counted.
"""
import collections

from .._backend import xp as np

from .. import dtypes
from ._common import Tensor, _make

histogram_result = collections.namedtuple("histogram", ["hist", "bin_edges"])


def _check_float(x, name):
    if not dtypes.is_float_np(x._array.dtype):
        raise NotImplementedError(f'"{name}" not implemented for \'{x.dtype.scalar_type_name}\'')


def _data_range(A, lo, hi, name):
    """``(lo, hi)``, from the data where both are unset (equal); widened by 1 each way if they coincide."""
    if lo == hi and A.size:
        lo, hi = float(A.min()), float(A.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"{name}: range of [{lo}, {hi}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def _linear_bins(A, lo, hi, bins):
    """Each in-range element's bin index under ``bins`` equal bins on [lo, hi] (the others dropped)."""
    flat = A.reshape(-1)
    inside = flat[(flat >= lo) & (flat <= hi)]   # NaN compares False: never counted
    pos = ((inside - lo) / (hi - lo) * bins).astype(np.int64)
    pos[pos == bins] = bins - 1
    return inside, pos


def histc(x, bins=100, min=0, max=0):
    """Counts of ``x`` in ``bins`` equal bins over [min, max] (the data's range when min == max)."""
    _check_float(x, "histogram_cpu")
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for dimension 0")
    if min > max:
        raise RuntimeError("torch.histc: max must be larger than min")
    A = x._array
    lo, hi = _data_range(A, float(min), float(max), "torch.histc")
    _, pos = _linear_bins(A, lo, hi, bins)
    return _make(np.bincount(pos, minlength=bins).astype(A.dtype))


def histogram(x, bins=100, *, range=None, weight=None, density=False):
    """``(hist, bin_edges)``: ``bins`` equal bins over ``range`` (default: the data's), or the edges in the
    1-D tensor ``bins``; ``weight`` weighs each element, ``density`` scales the histogram to integrate to 1."""
    _check_float(x, "histogramdd")
    A = x._array
    W = None if weight is None else weight._array.reshape(-1)
    if isinstance(bins, Tensor):
        edges = bins._array.astype(A.dtype)
        flat = A.reshape(-1)
        keep = (flat >= edges[0]) & (flat <= edges[-1])
        pos = np.searchsorted(edges, flat[keep], side="right") - 1
        pos[pos == len(edges) - 1] = len(edges) - 2   # the right edge belongs to the last bin
    else:
        lo, hi = (float(range[0]), float(range[1])) if range is not None else _data_range(A, 0.0, 0.0, "torch.histogram()")
        if lo > hi:
            raise RuntimeError(f"torch.histogram(): min should not exceed max, but got min {lo} max {hi}")
        edges = np.linspace(lo, hi, int(bins) + 1).astype(A.dtype)
        flat = A.reshape(-1)
        keep = (flat >= lo) & (flat <= hi)
        _, pos = _linear_bins(A, lo, hi, int(bins))
    n_bins = len(edges) - 1
    hist = np.bincount(pos, weights=None if W is None else W[keep], minlength=n_bins).astype(A.dtype)
    if density:
        hist = hist / (hist.sum() * np.diff(edges))
    return histogram_result(_make(hist.astype(A.dtype)), _make(edges))

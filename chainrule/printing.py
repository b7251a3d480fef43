"""``repr`` of a tensor, formatted the way PyTorch prints: ``tensor([1.0000, 2.5000], requires_grad=True)``."""
from ._backend import xp as np

from . import dtypes


def _float_format(values):
    """PyTorch's choice: integers as ``3.``, otherwise 4 decimals, scientific for wide ranges."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "{:.4f}".format
    absval = np.abs(finite.astype(np.float64))
    nonzero = absval[absval != 0]
    if np.all(finite == np.round(finite)):
        if nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8):
            return "{:.4e}".format
        return lambda v: f"{v:.0f}." if np.isfinite(v) else f"{v}"
    if nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8 or nonzero.min() < 1e-4):
        return "{:.4e}".format
    return "{:.4f}".format


def format_array(a, prefix="tensor("):
    if dtypes.is_float_np(a.dtype):
        fmt = _float_format(a.ravel() if a.size <= 1000 else _edge_values(a))
        to_str = lambda v: fmt(float(v)) if np.isfinite(v) else str(float(v))  # noqa: E731
    elif a.dtype.kind == "b":
        to_str = lambda v: str(bool(v))  # noqa: E731
    else:
        to_str = lambda v: str(int(v))  # noqa: E731
    if a.ndim == 0:
        return to_str(a.item())
    sample = a.ravel() if a.size <= 1000 else _edge_values(a)
    if dtypes.is_float_np(a.dtype):   # PyTorch's width: that of the nonzero finite values ("-0." may stick out)
        sample = sample[np.isfinite(sample) & (sample != 0)]
    width = max((len(to_str(v)) for v in sample), default=0)
    text = np.array2string(a, max_line_width=80, separator=", ", prefix=prefix, threshold=1000,
                           edgeitems=3, formatter={"all": lambda v: to_str(v).rjust(width)})
    # PyTorch writes an elided run inside a row as " ..." (NumPy as "..."): "2,  ..., 997".
    return text.replace(", ...,", ",  ...,")


def _edge_values(a):
    """The elements a summarised print shows (the first and last 3 along each dimension)."""
    index = tuple(np.r_[0:min(3, n), max(n - 3, 0):n] for n in a.shape)
    return a[np.ix_(*index)].ravel()


def tensor_repr(t):
    a = t._array
    body = format_array(a)
    extras = []
    if a.size == 0 and a.ndim != 1:
        extras.append(f"size={tuple(a.shape)}")
    d = t.dtype
    if d not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool):
        extras.append(f"dtype={d!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"

"""What every op module needs: type promotion of operands, and small predicates."""
import math

import functools

from .._backend import xp as np

from .. import dtypes
from ..autograd.engine import record  # noqa: F401  (re-exported for the op modules)
from ..tensor import Tensor, _make  # noqa: F401

_PY_SCALARS = (int, float, bool)


def requires(t):
    """Does ``t`` need a gradient? (Python scalars never do.)"""
    return isinstance(t, Tensor) and t._requires_grad


def tensors(*items):
    """The Tensors among ``items`` (what a backward rule saves; scalars need no version check)."""
    if len(items) == 2:   # the common case, without a loop (this runs on every binary op)
        x, y = items
        x_ok, y_ok = isinstance(x, Tensor), isinstance(y, Tensor)
        return (x, y) if x_ok and y_ok else (x,) if x_ok else (y,) if y_ok else ()
    return tuple([t for t in items if isinstance(t, Tensor)])


def to_tensor(value):
    """A Tensor for an op argument that is not one yet (list, NumPy array, scalar)."""
    if isinstance(value, Tensor):
        return value
    from ..creation import tensor
    return tensor(value)


def _promote_arrays(a, b):
    """PyTorch's result dtype for two tensors' arrays.

    Categories bool < integer < floating: a higher category always wins; within a category the
    wider type wins; a 0-d tensor only decides the type when its category is higher than the
    dimensioned operand's (``float32[3] + float64 0-d`` is float32, ``int64[3] + 0-d float64`` is float64).
    """
    ca, cb = _category(a.dtype), _category(b.dtype)
    if (a.ndim == 0) != (b.ndim == 0):
        dim_arr, zero_arr = (a, b) if a.ndim else (b, a)
        if _category(zero_arr.dtype) > _category(dim_arr.dtype):
            return zero_arr.dtype
        return dim_arr.dtype
    if ca != cb:
        return a.dtype if ca > cb else b.dtype
    return np.promote_types(a.dtype, b.dtype)


def _category(np_dtype):
    kind = np_dtype.kind
    return 2 if kind == "f" or dtypes.is_float_np(np_dtype) else (0 if kind == "b" else 1)


def _scalar_array(array, scalar):
    """Cast ``array`` so that NumPy's op with a Python scalar gives PyTorch's dtype.

    NumPy (NEP 50) already keeps a tensor's dtype for a scalar of the same or lower category; only
    a float scalar with an integer or bool tensor must go to the default float dtype (not float64).
    """
    if type(scalar) is float and array.dtype.kind != "f" and not dtypes.is_float_np(array.dtype):
        return array.astype(dtypes.get_default_dtype().np)
    return array


def operands(a, b):
    """``(a, b, a_array, b_array)`` for a binary op, with PyTorch's type promotion applied.

    Tensors stay Tensors (for backward), Python scalars stay scalars (NumPy treats them weakly, as
    PyTorch does); NumPy scalars are read as Python scalars; lists and arrays become tensors.
    """
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            A, B = a._array, b._array
            if A.dtype != B.dtype:
                dt = _promote_arrays(A, B)
                A, B = A.astype(dt, copy=False), B.astype(dt, copy=False)
            return a, b, A, B
        if type(b) in _PY_SCALARS or isinstance(b, np.generic):
            b = b.item() if isinstance(b, np.generic) else b
            return a, b, _scalar_array(a._array, b), b
        return operands(a, to_tensor(b))
    if isinstance(b, Tensor):
        if type(a) in _PY_SCALARS or isinstance(a, np.generic):
            a = a.item() if isinstance(a, np.generic) else a
            return a, b, a, _scalar_array(b._array, a)
        return operands(to_tensor(a), b)
    return operands(to_tensor(a), b)


_BFLOAT16 = dtypes._BFLOAT16_NP    # None without ml_dtypes
_HALF_FLOATS = (np.dtype(np.float16),) + ((_BFLOAT16,) if _BFLOAT16 is not None else ())


def keep_bfloat16(out, tensor):
    """The result of ``tensor`` (op) a Python float, in bfloat16 if ``tensor`` is: ml_dtypes computes
    bfloat16-with-a-float in float32 and hands that back, where PyTorch computes in float32 too and then rounds
    to bfloat16."""
    if _BFLOAT16 is not None and tensor._array.dtype == _BFLOAT16 and out.dtype != _BFLOAT16:
        return out.astype(_BFLOAT16)
    return out


def half_in_float32(op):
    """For float16 or bfloat16 inputs, run ``op`` in float32 and round its result once, as PyTorch's CPU
    kernels do (they load half-precision values, compute and accumulate in float32, and round the result). Run
    in half precision step by step, a composite op rounds after every step, and a sum of 10 000 bfloat16 ones
    stops at 256. The first argument decides; every tensor argument of that dtype goes to float32. A
    ``dtype=`` asked for by the caller is left to ``op``."""
    def in_float32(x, *args, **kwargs):
        if is_half(x):
            return run_in_float32(op, x, args, kwargs)
        return op(x, *args, **kwargs)
    functools.update_wrapper(in_float32, op)
    return in_float32


def is_half(x):
    """Is ``x`` a float16 or bfloat16 tensor? (The item size first: the cheap test, on every call of ops
    as hot as matmul.)"""
    return isinstance(x, Tensor) and x._array.itemsize == 2 and x._array.dtype in _HALF_FLOATS


def run_in_float32(op, x, args, kwargs):
    """``op(x, *args, **kwargs)`` computed in float32 and rounded back to ``x``'s dtype (see half_in_float32)."""
    if kwargs.get("dtype") is not None:
        return op(x, *args, **kwargs)
    half = x._array.dtype

    def up(v):
        return v.float() if isinstance(v, Tensor) and v._array.dtype == half else v

    def down(v):
        return v.to(x.dtype) if isinstance(v, Tensor) and v.is_floating_point() else v
    out = op(up(x), *map(up, args), **{k: up(v) for k, v in kwargs.items()})
    if isinstance(out, tuple):   # (values, indices) and the like
        return type(out)(*map(down, out)) if hasattr(out, "_fields") else tuple(map(down, out))
    return down(out)


def keeps(out, x):
    """``out``'s op, a composition here, is one op in PyTorch that keeps its input ``x``: so that an
    in-place change of x before backward is refused as PyTorch refuses it, x is saved on out's node."""
    node = out.grad_fn
    if node is not None:
        node.saved = [*node.saved, (x, x._vc[0])]
    return out


def c_order(A):
    """``A`` laid out row-major (copied only if it is not). NumPy hands back some results in the layout of
    their input (a transposed input gives a transposed result); PyTorch's results of ops that are not
    elementwise (softmax, cat, advanced indexing, ...) are contiguous, and ``view`` depends on the layout."""
    return A if A.flags.c_contiguous else np.ascontiguousarray(A)   # (a 0-d array is always contiguous)


def floating_only(x, kernel):
    """PyTorch has no integer or bool kernel for ``kernel``: raise its error instead of computing one."""
    if not dtypes.is_float_np(x._array.dtype):
        raise NotImplementedError(f'"{kernel}" not implemented for \'{dtypes.kernel_name(x.dtype)}\' (convert '
                                  f"the input with .float() first)")


def no_bool(x, kernel):
    """PyTorch has no bool kernel for ``kernel`` (integers are fine)."""
    if x._array.dtype == np.bool_:
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\'')


def check_fits(value, np_dtype):
    """A number (or 0-d tensor) written into an integer tensor must be representable: PyTorch refuses
    NaN and inf."""
    if np_dtype.kind not in "iu":
        return
    if isinstance(value, Tensor) and value._array.ndim == 0 and dtypes.is_float_np(value._array.dtype):
        from ..compiler import raise_if   # (a check a captured step's replays make too)
        raise_if(~np.isfinite(value._array), lambda flag, v: RuntimeError(
            f"value cannot be converted to type {np_dtype.name}_t without overflow (got {v.item()})"), value._array)
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise RuntimeError(f"value cannot be converted to type {np_dtype.name}_t without overflow (got {value})")


def float_array(t):
    """``t``'s array, cast to the default float dtype if it is integer or bool (``exp(int)`` is float)."""
    A = t._array
    if not dtypes.is_float_np(A.dtype):
        return A.astype(dtypes.get_default_dtype().np)
    return A


def numpy_argument_names(op):
    """Let ``op`` take NumPy's argument names too, as PyTorch does: ``keepdims`` for ``keepdim``, ``axis`` for
    ``dim`` (``x.sum(axis=1, keepdims=True)``)."""
    def with_numpy_names(*args, **kwargs):
        if "keepdims" in kwargs or "axis" in kwargs:
            for numpy_name, name in (("keepdims", "keepdim"), ("axis", "dim")):
                if numpy_name in kwargs:
                    if name in kwargs:
                        raise TypeError(f"{op.__name__}() got both {name!r} and its alias {numpy_name!r}")
                    kwargs[name] = kwargs.pop(numpy_name)
        return op(*args, **kwargs)
    functools.update_wrapper(with_numpy_names, op)
    return with_numpy_names


def normalize_dims(dim, ndim):
    """``dim`` (None, int or sequence) as a tuple of non-negative axes.

    None means all axes, and so does an empty sequence: PyTorch's ``x.sum(())`` reduces everything.
    """
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    n = max(ndim, 1)
    out = []
    for d in dim:
        if not -n <= d < n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})")
        out.append(d % n if ndim else 0)
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {tuple(dim)} appears multiple times in the list of dims")
    return tuple(out) if ndim else ()


def broadcast_error(a_shape, b_shape, exc):
    """A ValueError from NumPy's broadcasting, reworded to name both shapes as PyTorch does."""
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    n = max(len(a_shape), len(b_shape))
    pa = (1,) * (n - len(a_shape)) + a_shape
    pb = (1,) * (n - len(b_shape)) + b_shape
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return RuntimeError(
                f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at "
                f"non-singleton dimension {i}: shapes {list(a_shape)} and {list(b_shape)} cannot be broadcast")
    return RuntimeError(f"shapes {list(a_shape)} and {list(b_shape)} cannot be broadcast: {exc}")


def shape_of(x):
    return x._array.shape if isinstance(x, Tensor) else np.shape(x)


# Up to this many elements a row is summed by einsum's loop (float32 partial sums, a relative error ~3e-8 for
# rows of 2,000 normal values, as NumPy's pairwise sum); longer rows keep pairwise summation.
_EINSUM_ROW_MAX = 4096


def last_axis_sums(A):
    """``A.sum(axis=-1, keepdims=True)``, quicker along the short rows of softmax, attention and layer norm.

    NumPy's reduction along the last axis sets up a loop per row: on (3072, 64) it took 114-130 us where
    ``np.einsum('...j->...')`` takes ~45 (on (700, 2000) 450 against 130). einsum sums each row by itself, in
    the same order whatever rows come with it, so rows split between threads give the same bits. (A
    matrix-vector product with ones is quicker still, but BLAS sums a row in an order that depends on its
    place in the block: the bits would change with the thread count.)
    """
    if A.ndim == 0 or A.shape[-1] > _EINSUM_ROW_MAX or A.dtype.kind != "f" or A.dtype.itemsize < 4:
        return A.sum(axis=-1, keepdims=True)
    return np.einsum("...j->...", A)[..., None]

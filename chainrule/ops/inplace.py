"""In-place ops: ``add_``, ``mul_``, ``zero_``, ``copy_``, ``x[idx] = v``, ``w -= lr * w.grad`` ...

Two paths. When no graph is recorded (``no_grad``, or nothing requires grad) the new values are
written straight into the tensor's array (through a view, into its base's): the optimizer's hot
path. When a graph is recorded, the op runs out of place on a snapshot of the old value (which
carries the old history), the result is written into the array, and the tensor takes the result's
history; if the tensor is a view, its base's history is rewritten instead (``autograd/views.py``).
Either way the version counter goes up, so a backward rule that saved the old value refuses to run
with the new one.
"""
from .._backend import xp as np

from .. import dtypes
from ..autograd import views
from ..autograd.grad_mode import no_grad, state as grad_state
from ._common import Tensor, _make, check_fits, record, requires, to_tensor
from .elementwise import masked_grad, zero_grad
from .index import _ints_first, _ints_from_0d_arrays, normalize_index, raise_as_pytorch


def recording(x, *args):
    """Does an in-place change of ``x`` (by ``args``) need a graph? Also when x is a view that does not
    require grad of a base that does (made under no_grad): then PyTorch refuses the change."""
    return grad_state.enabled and (x._requires_grad or any([requires(a) for a in args])
                                   or (x._base is not None and x._base._requires_grad))


def _check_recordable(x):
    if x._base is not None:
        views.check_view_inplace(x)
    elif x.grad_fn is None and x._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation. "
                           "Wrap the update in `with torch.no_grad():`, or use an out-of-place op.")


def check_overlap(x, *args):
    """PyTorch refuses an in-place op whose input partly overlaps the tensor it writes (``y[1:] +=
    y[:-1]``, ``y.add_(y.t())``): the result would depend on the order elements are written in. The
    same tensor (or an identical view of it) is fine: each element reads itself first."""
    A = x._array
    root = None
    for a in args:
        if not isinstance(a, Tensor):
            continue
        B = a._array
        if B is A or (B.base is None and A.base is None):   # the same array, or two that own their memory
            continue
        if root is None:
            root = views.memory_root(A)
        if views.memory_root(B) is not root or not np.may_share_memory(A, B):
            continue
        # The same memory read as it is written: the same layout, or (PyTorch's "full overlap") both
        # contiguous over the same bytes (x[0:] = x with its leading size-1 dims dropped)
        same = A.__array_interface__["data"][0] == B.__array_interface__["data"][0] and (
            (A.shape == B.shape and A.strides == B.strides)
            or (A.flags.c_contiguous and B.flags.c_contiguous and A.nbytes == B.nbytes))
        if not same:
            raise RuntimeError("unsupported operation: some elements of the input tensor and the written-to "
                               "tensor refer to a single memory location. Please clone() the tensor before "
                               "performing the operation.")


def _refuse_more_dims(A, B):
    """NumPy writes a (1, n) result into an (n,) array (it drops leading size-1 dims); PyTorch refuses."""
    if np.ndim(B) > A.ndim:
        try:
            shape = list(np.broadcast_shapes(A.shape, np.shape(B)))
        except ValueError:
            return   # (not broadcastable at all: the caller's own error says so)
        raise RuntimeError(f"output with shape {list(A.shape)} doesn't match the broadcast shape {shape}")


def _write(x, values):
    """Store ``values`` (array) into ``x``'s array, refusing casts PyTorch refuses."""
    A = x._array
    _refuse_more_dims(A, values)
    if np.result_type(values) != A.dtype and not np.can_cast(np.result_type(values), A.dtype, "same_kind"):
        raise RuntimeError(f"result type {dtypes.kernel_name(dtypes.from_numpy_dtype(np.result_type(values)))} "
                           f"can't be cast to the desired output type {dtypes.kernel_name(x.dtype)}")
    if not A.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers "
                           "to a single memory location (it is an expand()ed view). Please clone() the "
                           "tensor before performing the operation.")
    try:
        np.copyto(A, values, casting="unsafe")
    except ValueError:
        raise RuntimeError(f"output with shape {list(A.shape)} doesn't match the broadcast shape "
                           f"{list(np.broadcast_shapes(A.shape, np.shape(values)))}") from None


def apply_inplace(x, op, *args, reads_old=True, **kwargs):
    """Make ``x`` hold ``op(x, *args, **kwargs)``, recording the change when gradients need it.

    reads_old: False for ops whose result does not depend on x's old values (copy_, fill_), which
    then need no snapshot of them.
    """
    check_overlap(x, *args)
    if recording(x, *args):
        _check_recordable(x)
        before = _make(x._array.copy() if reads_old else x._array, x._requires_grad, x.grad_fn)
        commit(x, op(before, *args, **kwargs))
        return x
    with no_grad():
        result = op(x, *args, **kwargs)
    _write(x, result._array)
    _bump_untracked(x)
    return x


def _bump_untracked(x):
    """x changed in place with nothing recorded: a new version, and split/unbind outputs sharing its memory
    go stale (views.after_untracked_write)."""
    x._vc[0] += 1
    if x._base is not None or x._views is not None:
        views.after_untracked_write(x)


def commit(x, result):
    """Write ``result`` (recorded, x's shape) into ``x`` and make it x's history: x's own when x is not
    a view, else its base's, rebased (and every live view of that base refreshed)."""
    _write(x, result._array)   # also refuses a result of another shape, or a cast PyTorch refuses
    x._vc[0] += 1
    if not dtypes.is_float_np(x._array.dtype):
        return   # an integer or bool tensor has no gradient: the cast values carry no history
    if x._base is not None and views.rebase(x, result):
        views.refresh_views(x._base)
        return
    _take_history(x, result.grad_fn)
    x._requires_grad = result._requires_grad
    if x.grad_fn is not None and x.grad_fn.out_version is not None:
        x.grad_fn.out_version = (x._vc, x._vc[0])
    views.refresh_views(x)


def _take_history(x, node):
    """Make ``node`` x's grad_fn; a ``retain_grad()`` moves with x to its new value, as in PyTorch."""
    old = x.grad_fn
    if old is not None and node is not None and old.retained is not None and old.retained() is x:
        node.retained, old.retained = old.retained, None
    x.grad_fn = node


def _arith_inplace(ufunc, op):
    """add_/sub_/mul_/div_: on the no-graph path a single NumPy call with ``out=`` (no temporaries)."""
    def method(x, other, *, alpha=1):
        A = x._array
        B = other._array if isinstance(other, Tensor) else other
        if type(B) is np.ndarray and B is not A:
            if B.base is not None or A.base is not None:
                check_overlap(x, other)   # (two arrays that own their memory cannot overlap: the common case)
            if B.ndim > A.ndim:
                _refuse_more_dims(A, B)
        if not grad_state.enabled or not recording(x, other):   # (the first test alone: the optimizer's path)
            if alpha != 1:
                B = B * alpha
            if A.flags.writeable and (dtypes.is_float_np(A.dtype) or ufunc is not np.true_divide):
                try:
                    ufunc(A, B, out=A, casting="same_kind")
                except (TypeError, ValueError):
                    pass   # a refused cast or a bad shape: the general path below explains it
                else:
                    _bump_untracked(x)
                    return x
        if alpha != 1:
            return apply_inplace(x, lambda t, o: op(t, o * alpha), other)
        return apply_inplace(x, op, other)
    return method


def _ops():
    from . import elementwise as E
    return E


def add_(x, other, *rest, alpha=1):
    other, alpha = _ops().alpha_first("add_", other, rest, alpha)
    return _add_(x, other, alpha=alpha)


def sub_(x, other, *rest, alpha=1):
    other, alpha = _ops().alpha_first("sub_", other, rest, alpha)
    return _sub_(x, other, alpha=alpha)


def mul_(x, other):
    return _mul_(x, other)


def div_(x, other, *, rounding_mode=None):
    if rounding_mode is not None:
        return apply_inplace(x, lambda t, o: _ops().div(t, o, rounding_mode=rounding_mode), other)
    return _div_(x, other)


def _lazy(name):
    return lambda a, b: getattr(_ops(), name)(a, b)


_add_ = _arith_inplace(np.add, _lazy("add"))
_sub_ = _arith_inplace(np.subtract, _lazy("sub"))
_mul_ = _arith_inplace(np.multiply, _lazy("mul"))
_div_ = _arith_inplace(np.true_divide, _lazy("div"))


def pow_(x, exponent):
    return apply_inplace(x, lambda t, e: t ** e, exponent)


def neg_(x):
    return apply_inplace(x, lambda t: -t)


def abs_(x):
    return apply_inplace(x, lambda t: t.abs())


def sqrt_(x):
    return apply_inplace(x, lambda t: t.sqrt())


def exp_(x):
    return apply_inplace(x, lambda t: t.exp())


def log_(x):
    return apply_inplace(x, lambda t: t.log())


def relu_(x):
    return apply_inplace(x, lambda t: t.relu())


def sigmoid_(x):
    return apply_inplace(x, lambda t: t.sigmoid())


def tanh_(x):
    return apply_inplace(x, lambda t: t.tanh())


def clamp_(x, min=None, max=None):
    return apply_inplace(x, lambda t: t.clamp(min, max))


def clamp_min_(x, min):
    return clamp_(x, min=min)


def clamp_max_(x, max):
    return clamp_(x, max=max)


def addcmul_(x, t1, t2, *, value=1):
    return apply_inplace(x, lambda t, a, b: t + value * a * b, t1, t2)


def addcdiv_(x, t1, t2, *, value=1):
    return apply_inplace(x, lambda t, a, b: t + value * a / b, t1, t2)


def lerp_(x, end, weight):
    return apply_inplace(x, lambda t, e, w: t + w * (e - t), end, weight)


def masked_fill_(x, mask, value):
    return apply_inplace(x, lambda t, m, v: t.masked_fill(m, v), mask, value)


def zero_(x):
    return fill_(x, 0)


def fill_(x, value):
    """Set every element to ``value`` (a number, or a 0-d tensor, which then gets the summed gradient)."""
    if isinstance(value, Tensor) and value._array.ndim != 0:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                           f"{value._array.ndim} dimensions.")
    if not isinstance(value, Tensor):   # (a 0-d tensor is cast as NumPy casts it, as PyTorch does)
        check_fits(value, x._array.dtype)
    if recording(x, value):
        # Recorded, as in PyTorch: x's old history gets a zero gradient.
        return apply_inplace(x, overwrite, value, reads_old=False)
    x._array[...] = value._array if isinstance(value, Tensor) else value
    _bump_untracked(x)
    return x


def copy_(x, src, non_blocking=False):
    """Copy ``src`` (broadcast to x's shape, cast to x's dtype) into ``x``; differentiable w.r.t. src."""
    if isinstance(src, (int, float, bool)):
        check_fits(src, x._array.dtype)
        src = _make(np.asarray(src, dtype=x._array.dtype))   # not via float32: 1e-300 would become 0
    src = to_tensor(src)
    check_overlap(x, src)
    if recording(x, src):
        try:
            np.broadcast_shapes(src._array.shape, x._array.shape)
        except ValueError:
            pass   # overwrite raises the error that names both shapes
        return apply_inplace(x, overwrite, src, reads_old=False)
    try:
        np.copyto(x._array, np.broadcast_to(src._array, x._array.shape), casting="unsafe")
    except ValueError as exc:
        raise _copy_shape_error(src, x, exc) from None
    _bump_untracked(x)
    return x


def _copy_shape_error(src, x, exc):
    if not x._array.flags.writeable:
        return RuntimeError("unsupported operation: more than one element of the written-to tensor refers "
                            "to a single memory location (it is an expand()ed view). Please clone() the "
                            "tensor before performing the operation.")
    return RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast to the "
                        f"destination of shape {list(x.shape)}")


def overwrite(t, src):
    """``src`` broadcast to t's shape and cast to t's dtype, as a recorded op (copy_'s and fill_'s): the
    gradient goes to src (summed over the broadcast, cast back); t's old value gets a zero one."""
    S = src._array if isinstance(src, Tensor) else np.asarray(src)
    try:
        out = np.broadcast_to(S, t._array.shape).astype(t._array.dtype)
    except ValueError as exc:
        raise _copy_shape_error(to_tensor(src), t, exc) from None
    return record(out, "CopyBackwards", (t, src), lambda g: (zero_grad(g), g))


def setitem(x, idx, value):
    """``x[idx] = value``: recorded (gradient to both x's other elements and value) when needed.

    A basic index (ints, slices) writes through the view ``x[idx]``, as PyTorch does (``x[idx].copy_``);
    an advanced one (index tensors, masks) puts the values out of place and commits the result.
    """
    try:
        index, advanced = normalize_index(idx, x._array.ndim)
    except (IndexError, ValueError):
        raise_as_pytorch(x._array.shape, idx)
        raise
    split = _ints_first(_ints_from_0d_arrays(index)[0]) if advanced else None
    if split is not None:   # as in reading: the ints select first, then the rest is assigned into that view
        setitem(x[split[0]], split[1], value)
        return
    if isinstance(value, Tensor):
        value = _strip_leading_ones(value)
        if not advanced:
            check_overlap(x[idx], value)
    if recording(x, value):
        if not advanced:
            _check_index(x, idx, index)   # an index error first, as PyTorch reports it
        _check_recordable(x)
        if not advanced:
            copy_(x[idx], value)
            return
        value = to_tensor(value) if not isinstance(value, (int, float, bool)) else value
        check_fits(value, x._array.dtype)
        _check_index_put_dtype(x, index, value)
        out = x._array.copy()
        try:
            out[index] = value._array if isinstance(value, Tensor) else value
        except ValueError as exc:
            raise _setitem_error(x, idx, index, value, exc) from None
        kept = np.ones(out.shape, dtype=bool)
        kept[index] = False
        before = _make(x._array, x._requires_grad, x.grad_fn)   # its values are not read by backward
        commit(x, record(out, "IndexPutBackward0", (before, value),
                         lambda g: (masked_grad(g, kept), g[index] if requires(value) else None)))
        return
    v = value._array if isinstance(value, Tensor) else value
    check_fits(value, x._array.dtype)
    if advanced:
        _check_index_put_dtype(x, index, value)
    try:
        x._array[index] = v
    except IndexError:
        raise_as_pytorch(x._array.shape, idx)
        raise
    except ValueError as exc:
        raise_as_pytorch(x._array.shape, idx)
        raise _setitem_error(x, idx, index, v, exc) from None
    _bump_untracked(x)


def _strip_leading_ones(value):
    """PyTorch drops a value's leading dims of size 1 before writing it (``y[0] = ones(1, 3)``)."""
    shape = value._array.shape
    k = 0
    while k < len(shape) and shape[k] == 1:
        k += 1
    return value.reshape(shape[k:]) if k else value


def _check_index(x, idx, index):
    try:
        x._array[index]
    except IndexError as exc:
        raise_as_pytorch(x._array.shape, idx)
        raise IndexError(str(exc).replace("axis", "dimension")) from None


def _check_index_put_dtype(x, index, value):
    """x[index] = tensor with an advanced index needs the same dtype (PyTorch's index_put_), except for
    one boolean mask and a 0-d value (PyTorch's masked_fill_, which casts)."""
    if not isinstance(value, Tensor) or value._array.dtype == x._array.dtype:
        return
    if (len(index) == 1 and getattr(index[0], "dtype", None) == np.bool_ and index[0].ndim
            and value._array.ndim == 0):
        return
    raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                       f"{dtypes.kernel_name(x.dtype)} for the destination and {dtypes.kernel_name(value.dtype)} "
                       f"for the source.")


def _setitem_error(x, idx, index, value, exc):
    if not x._array.flags.writeable:
        return _copy_shape_error(to_tensor(value), x, exc)
    return RuntimeError(f"cannot assign a value of shape {list(np.shape(getattr(value, '_array', value)))} to "
                        f"x[{idx!r}] of shape {list(np.shape(x._array[index]))}: {exc}")

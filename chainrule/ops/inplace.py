"""In-place ops: ``add_``, ``mul_``, ``zero_``, ``copy_``, ``x[idx] = v``, ``w -= lr * w.grad`` ...

Two paths. When no graph is recorded (``no_grad``, or nothing requires grad) the new values are
written straight into the tensor's array: the optimizer's hot path. When a graph is recorded, the
op runs out of place on a snapshot of the old value (which carries the old history), the result is
written into the array, and the tensor takes the result's ``grad_fn``. Either way the version
counter goes up, so a backward rule that saved the old value refuses to run with the new one.
"""
from .._backend import xp as np

from .. import dtypes
from ..autograd.grad_mode import no_grad, state as grad_state
from ._common import Tensor, _make, record, requires, to_tensor
from .index import normalize_index


def _check_recordable(x):
    if x.grad_fn is None and x._requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation. "
                           "Wrap the update in `with torch.no_grad():`, or use an out-of-place op.")
    if x._is_view:
        raise RuntimeError("in-place operation on a view (a slice, reshape, transpose or detach() of "
                           "another tensor) while recording gradients is not supported by chainrule; "
                           "use an out-of-place op (e.g. torch.where or torch.cat) instead")


def _write(x, values):
    """Store ``values`` (array) into ``x``'s array, refusing casts PyTorch refuses."""
    A = x._array
    if np.result_type(values) != A.dtype and not np.can_cast(np.result_type(values), A.dtype, "same_kind"):
        raise RuntimeError(f"result type {dtypes.from_numpy_dtype(np.result_type(values)).name.capitalize()} "
                           f"can't be cast to the desired output type {x.dtype.name.capitalize()}")
    if not A.flags.writeable:
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor refers "
                           "to a single memory location (it is an expand()ed view). Please clone() the "
                           "tensor before performing the operation.")
    try:
        np.copyto(A, values, casting="unsafe")
    except ValueError:
        raise RuntimeError(f"output with shape {list(A.shape)} doesn't match the broadcast shape "
                           f"{list(np.broadcast_shapes(A.shape, np.shape(values)))}") from None


def apply_inplace(x, op, *args, **kwargs):
    """Make ``x`` hold ``op(x, *args, **kwargs)``, recording the change when gradients need it."""
    if grad_state.enabled and (x._requires_grad or any(requires(a) for a in args)):
        _check_recordable(x)
        before = _make(x._array.copy(), x._requires_grad, x.grad_fn)
        result = op(before, *args, **kwargs)
        if result._array.shape != x._array.shape:
            _write(x, result._array)   # raises the shape error
        x._array[...] = result._array
        _take_history(x, result.grad_fn)
        x._requires_grad = result._requires_grad
        x._vc[0] += 1
        if x.grad_fn is not None and x.grad_fn.out_version is not None:
            x.grad_fn.out_version = (x._vc, x._vc[0])
        return x
    with no_grad():
        result = op(x, *args, **kwargs)
    _write(x, result._array)
    x._vc[0] += 1
    return x


def _take_history(x, node):
    """Make ``node`` x's grad_fn; a ``retain_grad()`` moves with x to its new value, as in PyTorch."""
    old = x.grad_fn
    if old is not None and node is not None and old.retained is not None and old.retained() is x:
        node.retained, old.retained = old.retained, None
    x.grad_fn = node


def _arith_inplace(ufunc, op):
    """add_/sub_/mul_/div_: on the no-graph path a single NumPy call with ``out=`` (no temporaries)."""
    def method(x, other, *, alpha=1):
        if not (grad_state.enabled and (x._requires_grad or requires(other))):
            A = x._array
            B = other._array if isinstance(other, Tensor) else other
            if alpha != 1:
                B = B * alpha
            if A.flags.writeable and (dtypes.is_float_np(A.dtype) or ufunc is not np.true_divide):
                try:
                    ufunc(A, B, out=A, casting="same_kind")
                except (TypeError, ValueError):
                    pass   # a refused cast or a bad shape: the general path below explains it
                else:
                    x._vc[0] += 1
                    return x
        if alpha != 1:
            return apply_inplace(x, lambda t, o: op(t, o * alpha), other)
        return apply_inplace(x, op, other)
    return method


def _ops():
    from . import elementwise as E
    return E


def add_(x, other, *, alpha=1):
    return _add_(x, other, alpha=alpha)


def sub_(x, other, *, alpha=1):
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
    if requires(value) and grad_state.enabled:
        return apply_inplace(x, lambda t, v: t * 0 + v, value)
    if x._requires_grad and grad_state.enabled:
        # Recorded, as in PyTorch: x still requires grad, and its old history gets a zero gradient.
        v = value._array if isinstance(value, Tensor) else value
        return apply_inplace(x, lambda t: record(np.full_like(t._array, v), "FillBackward0", (t,),
                                                 lambda g: (g * 0,)))
    x._array[...] = value._array if isinstance(value, Tensor) else value
    x._vc[0] += 1
    return x


def copy_(x, src, non_blocking=False):
    """Copy ``src`` (broadcast to x's shape, cast to x's dtype) into ``x``; differentiable w.r.t. src."""
    src = to_tensor(src)
    if requires(src) and grad_state.enabled:
        return apply_inplace(x, lambda t, s: (t * 0 + s).to(t.dtype), src)
    if x.grad_fn is None and x._requires_grad and grad_state.enabled:
        _check_recordable(x)
    try:
        np.copyto(x._array, np.broadcast_to(src._array, x._array.shape), casting="unsafe")
    except ValueError:
        raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast to the "
                           f"destination of shape {list(x.shape)}") from None
    x._vc[0] += 1
    return x


def setitem(x, idx, value):
    """``x[idx] = value``: recorded (gradient to both x's other elements and value) when needed."""
    index, advanced = normalize_index(idx)
    if grad_state.enabled and (x._requires_grad or requires(value)):
        _check_recordable(x)
        value = to_tensor(value) if not isinstance(value, (int, float, bool)) else value
        before = _make(x._array.copy(), x._requires_grad, x.grad_fn)
        out = before._array.copy()
        out[index] = value._array if isinstance(value, Tensor) else value
        kept = np.ones(out.shape, dtype=bool)
        kept[index] = False
        kept_t = _make(kept)
        result = record(out, "CopySlices", (before, value),
                        lambda g: (g * kept_t, g[index] if requires(value) else None))
        x._array[...] = out
        _take_history(x, result.grad_fn)
        x._requires_grad = True
    else:
        v = value._array if isinstance(value, Tensor) else value
        try:
            x._array[index] = v
        except ValueError as exc:
            raise RuntimeError(f"cannot assign a value of shape {list(np.shape(v))} to x[{idx!r}] of shape "
                               f"{list(np.shape(x._array[index]))}: {exc}") from None
    x._vc[0] += 1

"""The functions a checkpoint's pickle calls to rebuild tensors, under the names PyTorch gives them.

``torch.save`` pickles a tensor as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, hooks)``, a Parameter as ``torch._utils._rebuild_parameter(tensor, requires_grad, hooks)``,
and so on. These are chainrule's versions: each checks its arguments against the storage (a hostile file
cannot make a view reach past its bytes) and returns chainrule tensors that are NumPy views of the loaded
storage, so tensors that shared memory when saved share it again.
"""
import numpy

from ..nn.parameter import Parameter
from ..tensor import Tensor, _make
from . import _storage

_MAX_DIMS = 64   # NumPy's limit


class MissingDtype:
    """A PyTorch dtype chainrule lacks (``torch.complex64``): loading a tensor of it says so."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


def _ints(value, what, context):
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) if what == "offset" else None
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        raise ValueError(f"{context}: bad {what} {str(value)[:80]}")
    return tuple(value)


def strided_view(storage, dtype, offset, size, stride, context):
    """``storage`` read as ``dtype`` at element ``offset`` with ``size``/``stride``: a NumPy view, bounds-checked."""
    (offset,) = _ints(offset, "offset", context)
    size, stride = _ints(size, "size", context), _ints(stride, "stride", context)
    if len(size) != len(stride) or len(size) > _MAX_DIMS:
        raise ValueError(f"{context}: size {list(size)[:8]} and stride {list(stride)[:8]} do not fit together")
    itemsize = dtype.np.itemsize
    numel = storage.nbytes() // itemsize
    if 0 in size:
        return numpy.empty(size, dtype=dtype.np)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= numel:
        raise ValueError(f"{context}: a tensor of size {list(size)} and stride {list(stride)} at offset {offset} "
                         f"reaches element {last}, past the end of its storage of {numel} elements")
    try:
        return numpy.ndarray(size, dtype=dtype.np, buffer=storage._array, offset=offset * itemsize,
                             strides=tuple(st * itemsize for st in stride))
    except (ValueError, OverflowError) as exc:   # e.g. more elements than NumPy can index
        raise ValueError(f"{context}: a tensor of size {list(size)[:8]}: {exc}") from None


def _storage_dtype(storage, context):
    return _storage.chainrule_dtype(getattr(storage, "dtype_name", "uint8"), context)


def _check_storage(storage, context):
    if not isinstance(storage, _storage.UntypedStorage):
        raise TypeError(f"{context}: expected a storage, got {type(storage).__name__}")


def _finish(array, requires_grad, metadata, context):
    if metadata:
        raise TypeError(f"{context}: tensor metadata {metadata!r} (conjugate or negative views) is not supported")
    tensor = _make(array)
    if requires_grad:
        tensor.requires_grad = True   # refuses integer tensors, as PyTorch does
    return tensor


def rebuild_tensor(storage, storage_offset, size, stride):
    """``torch._utils._rebuild_tensor``: the oldest form, dtype from the storage."""
    context = getattr(storage, "key", "a tensor")
    _check_storage(storage, context)
    return _make(strided_view(storage, _storage_dtype(storage, context), storage_offset, size, stride, context))


def rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """``torch._utils._rebuild_tensor_v2``: what ``torch.save`` writes for a plain tensor."""
    context = getattr(storage, "key", "a tensor")
    _check_storage(storage, context)
    array = strided_view(storage, _storage_dtype(storage, context), storage_offset, size, stride, context)
    return _finish(array, requires_grad, metadata, context)


def rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                      metadata=None):
    """``torch._utils._rebuild_tensor_v3``: an untyped storage and the dtype beside it (newer dtypes)."""
    context = getattr(storage, "key", "a tensor")
    _check_storage(storage, context)
    if isinstance(dtype, MissingDtype):
        dtype = _storage.chainrule_dtype(dtype.name, context)
    array = strided_view(storage, dtype, storage_offset, size, stride, context)
    return _finish(array, requires_grad, metadata, context)


def rebuild_parameter(data, requires_grad, backward_hooks):
    """``torch._utils._rebuild_parameter``."""
    if not isinstance(data, Tensor):
        raise TypeError(f"a Parameter's data must be a tensor, got {type(data).__name__}")
    return Parameter(data, requires_grad)


def rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    """``torch._utils._rebuild_parameter_with_state``: a Parameter with Python attributes."""
    return set_state(rebuild_parameter(data, requires_grad, backward_hooks), state)


def rebuild_from_type_v2(func, new_type, args, state):
    """``torch._tensor._rebuild_from_type_v2``: a tensor subclass, or a tensor with Python attributes."""
    result = func(*args)
    if not (isinstance(new_type, type) and issubclass(new_type, Tensor)):
        raise TypeError(f"cannot rebuild a tensor as {new_type!r}, which is not a tensor class")
    if type(result) is not new_type:
        converted = new_type.__new__(new_type)
        Tensor._copy_state(converted, result)
        result = converted
    if getattr(new_type, "__setstate__", None) is not None:
        result.__setstate__(state)
        return result
    return set_state(result, state)


def set_state(obj, state):
    """Apply a pickled ``__dict__`` (or ``(__dict__, slots)``) state, as ``torch._utils._set_obj_state``."""
    if isinstance(state, tuple):
        if len(state) != 2:
            raise ValueError(f"invalid serialized state: a tuple of {len(state)} items")
        dict_state, slots_state = state
    else:
        dict_state, slots_state = state, None
    for part in (dict_state, slots_state):
        if part:
            if not isinstance(part, dict):
                raise TypeError(f"invalid serialized state of type {type(part).__name__}")
            for key, value in part.items():
                setattr(obj, key, value)
    return obj


def rebuild_device_tensor_from_cpu_tensor(data, dtype, device, requires_grad):
    """``torch._utils._rebuild_device_tensor_from_cpu_tensor``: a device tensor saved through the CPU."""
    from ..device import check_device
    check_device(device)
    tensor = data.to(dtype) if dtype is not None and dtype != data.dtype else data
    if requires_grad:
        tensor.requires_grad = True
    return tensor


def rebuild_device_tensor_from_numpy(data, dtype, device, requires_grad):
    """``torch._utils._rebuild_device_tensor_from_numpy``: a device tensor saved as a NumPy array."""
    if not isinstance(data, numpy.ndarray):
        raise TypeError(f"expected a NumPy array, got {type(data).__name__}")
    return rebuild_device_tensor_from_cpu_tensor(_make(data), dtype, device, requires_grad)


def unsupported(what):
    """A rebuild function for tensors chainrule has no counterpart of: calling it says which."""
    def refuse(*args, **kwargs):
        raise TypeError(f"the file holds {what}, which chainrule does not support")
    refuse.__name__ = refuse.__qualname__ = f"unsupported({what})"
    return refuse

"""Pickling for ``chainrule.save``: any picklable object, with tensors written the way ``torch.save`` writes them.

Tensors become ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``
over persistent storages (``('storage', torch.FloatStorage, key, 'cpu', numel)``), Parameters
``torch._utils._rebuild_parameter(...)``, dtypes ``torch.float32``, shapes ``torch.Size`` and devices
``torch.device`` -- PyTorch's global names, so ``torch.load`` (``weights_only=True`` included) reads the
file. Everything else (whole modules, optimizers, user classes) pickles as Python pickles it, under its
own names.

A storage is the memory block a tensor's NumPy array lives in (the array at the end of its ``.base``
chain). Tensors that are views of one block are written as views of one storage, once, so sharing
survives the round trip; a tensor whose layout a storage cannot describe (negative strides, a block of
another dtype) is written as a contiguous copy of its own.

The pure-Python ``pickle._Pickler`` is used because only it lets ``save_global`` write a name for an
object without importing that name's module (``torch`` need not be installed, or may be the real one).
"""
import collections
import io
import pickle

import numpy

from ..device import device as _device
from ..nn.parameter import Parameter
from ..tensor import Size, Tensor, _make
from . import _names, _rebuild, _storage

DEFAULT_PROTOCOL = 2   # what torch.save writes, and all PyTorch's weights-only unpickler reads

# Dtypes PyTorch writes through an untyped storage and torch._utils._rebuild_tensor_v3.
_V3_DTYPES = {"uint16", "uint32", "uint64", "complex32", "float8_e5m2", "float8_e4m3fn", "float8_e5m2fnuz",
              "float8_e4m3fnuz", "float8_e8m0fnu"}


class _StorageRef:
    """A storage to be written: pickled as a persistent id, its bytes written as ``data/KEY``."""

    __slots__ = ("key", "kind", "numel", "block", "dtype_name")

    def __init__(self, key, kind, numel, block, dtype_name):
        self.key, self.kind, self.numel, self.block, self.dtype_name = key, kind, numel, block, dtype_name


def _memory_block(array):
    """``(owner, flat uint8 view)`` of the memory ``array`` lives in, or None if it is not one contiguous block.

    The owner is the array at the end of ``array``'s ``.base`` chain.
    """
    root = array
    while isinstance(root.base, numpy.ndarray):
        root = root.base
    if root.flags.c_contiguous:
        flat = root.reshape(-1)
    elif root.flags.f_contiguous:
        flat = root.T.reshape(-1)
    else:
        return None
    return root, flat.view(numpy.uint8)


def _fits(array, block):
    """Can ``array`` be described as (offset, stride) in elements of ``block``?"""
    itemsize = array.dtype.itemsize
    start = array.ctypes.data - block.ctypes.data
    if start < 0 or start % itemsize or block.nbytes % itemsize or not array.dtype.isnative:
        return False
    if any(s < 0 or s % itemsize for s in array.strides):
        return False
    end = start + sum((n - 1) * s for n, s in zip(array.shape, array.strides)) + itemsize
    return end <= block.nbytes


class StorageTable:
    """Numbers the storages of the tensors being saved, one per memory block, in order of first use."""

    def __init__(self):
        self.refs = {}       # id(owner) -> _StorageRef
        self.order = []
        self._keep = []      # owners stay alive until written, so that their ids stay unique

    def _new(self, kind, numel, block, dtype_name):
        ref = _StorageRef(str(len(self.order)), kind, numel, block, dtype_name)
        self.order.append(ref)
        return ref

    def locate(self, array, dtype_name):
        """``(storage ref, offset, stride)`` in elements for ``array``, sharing a storage where possible."""
        itemsize = array.dtype.itemsize
        untyped = dtype_name in _V3_DTYPES
        kind = _storage.UNTYPED if untyped else _storage.storage_type_for(dtype_name)
        found = _memory_block(array) if array.size else None
        if found is not None and _fits(array, found[1]):
            owner, block = found
            ref = self.refs.get(id(owner))
            if ref is None:
                self._keep.append(owner)
                numel = block.nbytes if untyped else block.nbytes // itemsize
                ref = self.refs[id(owner)] = self._new(kind, numel, block, dtype_name)
            if ref.dtype_name == dtype_name:
                start = array.ctypes.data - block.ctypes.data
                return ref, start // itemsize, tuple(s // itemsize for s in array.strides)
        # A layout no storage can describe, or a block already saved as another dtype: a copy of its own.
        copy = numpy.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
        ref = self._new(kind, copy.nbytes if untyped else copy.size, copy.reshape(-1).view(numpy.uint8), dtype_name)
        return ref, 0, _contiguous_strides(copy.shape)


def _contiguous_strides(shape):
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


def _user_state(tensor):
    """The Python attributes a user set on a tensor (chainrule's own private fields are not state)."""
    return {k: v for k, v in vars(tensor).items() if not k.startswith("_")}


class TorchPickler(pickle._Pickler):
    """``pickle``'s Pickler with tensors, storages and dtypes written under PyTorch's names."""

    def __init__(self, file, protocol, storages):
        super().__init__(file, protocol=protocol)
        self.storages = storages

    def persistent_id(self, obj):
        if type(obj) is _StorageRef:
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None

    def reducer_override(self, obj):
        # Called first for every object (functions and classes included): a name from the table means
        # "save as that global", which save_global below writes without importing anything.
        found = _names.torch_global(obj)
        if found is not None:
            return found[1]
        if isinstance(obj, Tensor):
            return self._reduce_tensor(obj)
        if isinstance(obj, Size):
            return (Size, (tuple(obj),))
        if isinstance(obj, _device):
            return (_device, (str(obj),))
        return NotImplemented

    def save_global(self, obj, name=None):
        found = _names.torch_global(obj)   # rebuild functions, dtypes, storage types, Size, device, Tensor
        if found is None:
            return super().save_global(obj, name)
        module, name = found
        self.write(pickle.GLOBAL + module.encode("utf-8") + b"\n" + name.encode("utf-8") + b"\n")
        self.memoize(obj)

    def _reduce_tensor(self, tensor):
        state = _user_state(tensor)
        if type(tensor) is Parameter:
            data = _make(tensor._array)
            if state:
                return (_rebuild.rebuild_parameter_with_state,
                        (data, tensor.requires_grad, collections.OrderedDict(), state))
            return (_rebuild.rebuild_parameter, (data, tensor.requires_grad, collections.OrderedDict()))
        array = tensor._array
        dtype_name = tensor.dtype.name
        ref, offset, stride = self.storages.locate(array, dtype_name)
        args = (ref, offset, tuple(array.shape), stride, tensor.requires_grad, collections.OrderedDict())
        func = _rebuild.rebuild_tensor_v2
        if dtype_name in _V3_DTYPES:
            func, args = _rebuild.rebuild_tensor_v3, args + (tensor.dtype,)
        if type(tensor) is Tensor and not state:
            return (func, args)
        return (_rebuild.rebuild_from_type_v2, (func, type(tensor), args, state))


def dumps(obj, protocol=DEFAULT_PROTOCOL):
    """``(pickle bytes, [storage refs in key order])`` for ``obj``."""
    storages = StorageTable()
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol, storages).dump(obj)
    return buffer.getvalue(), storages.order

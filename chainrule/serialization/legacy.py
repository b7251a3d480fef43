"""PyTorch's legacy checkpoint format (``torch.save`` before 1.6, or ``_use_new_zipfile_serialization=False``): read only.

The file is a run of pickles followed by raw storage bytes::

    pickle  magic number 0x1950a86a20f9469cfc6c
    pickle  protocol version 1001
    pickle  system info {'little_endian': ..., 'type_sizes': ...}
    pickle  the object; each storage a persistent id ('storage', type, key, location, numel, view)
    pickle  the storage keys, in the order their bytes follow
    for each key: int64 element count, then the bytes (little-endian)

Storages are allocated when the object's pickle names them, and only if the rest of the file is large
enough to hold them; their bytes are read after it. The older tar-based format (PyTorch < 0.4) is refused.
"""
import io
import struct

import numpy

from . import _location, _storage
from .errors import CheckpointError
from .torch_zip import _Passthrough, _byteswap, _text, unpickle

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


class _Stream(io.RawIOBase):
    """A Source read front to back, as the file object pickle needs."""

    def __init__(self, source):
        self.source, self.pos = source, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.source.size}[whence] + offset
        return self.pos

    def readinto(self, buffer):
        n = min(len(buffer), self.source.size - self.pos)
        if n <= 0:
            return 0
        buffer[:n] = self.source.read(self.pos, n, "a pickle")
        self.pos += n
        return n


def is_tar(head):
    return len(head) >= 262 and head[257:262] == b"ustar"


def load(source, map_location, weights_only, encoding="utf-8", pickle_load_args=None):
    name = source.name
    stream = io.BufferedReader(_Stream(source))

    def small_pickle(what):
        return unpickle(stream, None, True, name, what, encoding)

    if small_pickle("the magic number") != MAGIC_NUMBER:
        raise CheckpointError(f"chainrule.load: {name} is not a checkpoint (a pickle, but not one torch.save wrote: "
                              "invalid magic number)")
    version = small_pickle("the protocol version")
    if version != PROTOCOL_VERSION:
        raise CheckpointError(f"chainrule.load: {name} has legacy protocol version {version!r}; chainrule reads "
                              f"{PROTOCOL_VERSION}")
    small_pickle("the system info")   # storage bytes are little-endian whatever machine wrote them
    restore = _location.restorer(map_location)
    storages, sizes = {}, {}   # key -> storage (after map_location); key -> (numel, dtype name)

    def persistent_load(pid):
        if isinstance(pid, tuple) and pid and _text(pid[0]) == "module" and not weights_only:
            return pid[1]   # a module class saved with its source code: the class itself
        if not (isinstance(pid, tuple) and len(pid) == 6 and _text(pid[0]) == "storage"):
            raise ValueError(f"a storage reference of the wrong form: {str(pid)[:80]}")
        _, kind, key, location, numel, view = (_text(v) for v in pid)
        if not isinstance(kind, _storage.StorageType) or not isinstance(key, str) or not isinstance(numel, int) \
                or isinstance(numel, bool) or numel < 0:
            raise ValueError(f"a storage reference of the wrong form: {str(pid)[:80]}")
        itemsize = _storage.ITEMSIZE[kind.dtype_name]
        if key not in storages:
            nbytes = numel * itemsize
            if nbytes > source.size - stream.tell():
                raise source.truncated(f"storage {key} ({nbytes} bytes)")
            storage = _storage.TypedStorage(numpy.zeros(nbytes, dtype=numpy.uint8), kind.dtype_name)
            storage.key = f"storage {key}"
            try:
                storages[key] = restore(storage, location)
            except Exception as exc:
                raise _Passthrough(exc) from None
            sizes[key] = (numel, kind.dtype_name)
        root = storages[key]
        if view is None:
            return root
        view_key, offset, view_numel = (_text(v) for v in view)
        start, stop = offset * itemsize, (offset + view_numel) * itemsize
        if not (0 <= start <= stop <= root.nbytes()):
            raise ValueError(f"storage view {view_key} reaches past its storage {key}")
        sliced = _storage.TypedStorage(root._array[start:stop], kind.dtype_name)
        sliced.key = f"storage {view_key}"
        return sliced

    result = unpickle(stream, persistent_load, weights_only, name, "the pickle", encoding, pickle_load_args)
    keys = small_pickle("the storage keys")
    if not isinstance(keys, list):
        raise CheckpointError(f"chainrule.load: {name} is corrupted (the storage keys are not a list)")
    offset = stream.tell()
    for key in keys:
        key = _text(key)
        if key not in storages:
            raise CheckpointError(f"chainrule.load: {name} is corrupted (bytes for storage {key!r}, which the "
                                  "pickle never names)")
        numel, dtype_name = sizes[key]
        (count,) = struct.unpack("<q", source.read(offset, 8, f"storage {key}"))
        if count != numel:
            raise CheckpointError(f"chainrule.load: {name} is corrupted (storage {key} holds {count} elements, the "
                                  f"pickle says {numel})")
        target = storages[key]._array
        source.read_array(offset + 8, target.nbytes, f"storage {key}", out=target)
        if not numpy.little_endian:
            _byteswap(target, dtype_name)
        offset += 8 + target.nbytes
    return result

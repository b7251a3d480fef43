"""``save`` and ``load``: checkpoints that never execute code when read.

PyTorch's ``torch.save`` pickles, and unpickling a file runs whatever code the
file asks for.  A chainrule checkpoint is data only: a JSON header describing
the object tree, followed by the raw bytes of every tensor.  Loading parses
JSON and copies bytes; it cannot call anything.

File layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"\\x89CHAINR\\n"   (non-ASCII first byte and a newline catch
                                             text-mode mangling, as PNG's magic does)
    8       4     format version (uint32), currently 1
    12      8     header length in bytes (uint64)
    20      8     data length in bytes (uint64)
    28      4     CRC-32 of header + data (uint32)
    32      ...   header: UTF-8 JSON
    ...     ...   data: tensor bytes, little-endian, C order, back to back

The header encodes the tree with JSON's own types for ``None``, ``bool``,
``int``, ``float`` (NaN and infinities included) and ``str``, JSON arrays for
lists, and one-key objects as tags for everything else: ``{"tuple": [...]}``,
``{"dict": [[key, value], ...]}`` (keys may be str, int, float, bool, None or
tuples -- optimizer state is keyed by int), and ``{"tensor": {...}}`` /
``{"ndarray": {...}}`` with dtype, shape, byte offset and ``requires_grad``.

Saving is atomic: the file is written under a temporary name in the same
directory, flushed and fsync'ed, then renamed over the target, so a crash
mid-save leaves any previous checkpoint intact.
"""

import json
import os
import struct
import tempfile
import zlib

import numpy as np

import chainrule

__all__ = ["save", "load", "CheckpointError"]

MAGIC = b"\x89CHAINR\n"
VERSION = 1
_PREFIX = struct.Struct("<8sIQQI")  # magic, version, header length, data length, crc32


class CheckpointError(RuntimeError):
    """A file is not a readable chainrule checkpoint (wrong format, truncated, corrupted)."""


# -- encoding --------------------------------------------------------------------------


class _Encoder:
    """Turns an object tree into a JSON-able header plus a list of byte chunks."""

    def __init__(self):
        self.chunks = []
        self.offset = 0

    def encode(self, obj, where="obj"):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)  # int subclasses (e.g. IntEnum) are stored as plain ints
        if isinstance(obj, float):
            return float(obj)
        if isinstance(obj, chainrule.Tensor):
            array = obj.detach().numpy()
            meta = self._array(array)
            meta["requires_grad"] = bool(obj.requires_grad)
            return {"tensor": meta}
        if isinstance(obj, np.ndarray):
            return {"ndarray": self._array(obj)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), where)
        if isinstance(obj, dict):
            return {"dict": [[self._key(k, where), self.encode(v, f"{where}[{k!r}]")]
                             for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(
            f"chainrule.save: cannot save {where} of type {type(obj).__name__}; a checkpoint "
            "holds only tensors, NumPy arrays, dicts, lists, tuples, str, int, float, bool "
            "and None (it never pickles, so that loading can never run code)"
        )

    def _key(self, key, where):
        if key is None or isinstance(key, (bool, int, float, str)):
            return self.encode(key, where)
        if isinstance(key, tuple):
            return {"tuple": [self._key(k, where) for k in key]}
        raise TypeError(f"chainrule.save: cannot save a dict key of type "
                        f"{type(key).__name__} in {where}")

    def _array(self, array):
        if array.dtype.kind not in "biufc":
            raise TypeError(f"chainrule.save: cannot save an array of dtype {array.dtype}")
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        raw = little.tobytes()
        meta = {"dtype": little.dtype.str, "shape": list(array.shape),
                "offset": self.offset, "nbytes": len(raw)}
        self.chunks.append(raw)
        self.offset += len(raw)
        return meta


def _serialize(obj):
    """The whole file's bytes, as a list of chunks (prefix, header, tensor data...)."""
    encoder = _Encoder()
    header = json.dumps(encoder.encode(obj), separators=(",", ":"), allow_nan=True).encode()
    crc = zlib.crc32(header)
    for chunk in encoder.chunks:
        crc = zlib.crc32(chunk, crc)
    prefix = _PREFIX.pack(MAGIC, VERSION, len(header), encoder.offset, crc)
    return [prefix, header, *encoder.chunks]


# -- decoding --------------------------------------------------------------------------


class _Decoder:
    """Rebuilds the object tree from a parsed header and the data section."""

    def __init__(self, data, name):
        self.data = data
        self.name = name

    def decode(self, node):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if isinstance(node, dict) and len(node) == 1:
            (tag, body), = node.items()
            if tag == "tuple":
                return tuple(self.decode(v) for v in body)
            if tag == "dict":
                return {self.decode(k): self.decode(v) for k, v in body}
            if tag == "tensor":
                tensor = chainrule.from_numpy(self._array(body))
                if body.get("requires_grad"):
                    tensor.requires_grad_(True)
                return tensor
            if tag == "ndarray":
                return self._array(body)
        raise CheckpointError(f"chainrule.load: {self.name} is corrupted "
                              f"(unknown header entry {str(node)[:80]})")

    def _array(self, meta):
        dtype = np.dtype(meta["dtype"])
        if dtype.kind not in "biufc":
            raise CheckpointError(f"chainrule.load: {self.name} is corrupted (dtype {dtype})")
        shape = tuple(meta["shape"])
        start, nbytes = meta["offset"], meta["nbytes"]
        count = int(np.prod(shape, dtype=np.int64))
        if nbytes != count * dtype.itemsize or start < 0 or start + nbytes > len(self.data):
            raise CheckpointError(f"chainrule.load: {self.name} is corrupted "
                                  "(a tensor's bytes lie outside the data section)")
        array = np.frombuffer(self.data, dtype=dtype, count=count, offset=start)
        # Copy: the result must own writable memory, in the machine's byte order.
        return array.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def _deserialize(blob, name):
    """Check the prefix, length and checksum of a whole file's bytes, then decode it."""
    if blob[:len(MAGIC)] != MAGIC:
        if blob and len(blob) < len(MAGIC) and MAGIC.startswith(blob):
            raise CheckpointError(f"chainrule.load: {name} is truncated")
        hint = ""
        if blob[:2] == b"PK" or blob[:1] == b"\x80":
            hint = ("; it looks like a PyTorch (pickle) checkpoint, which chainrule does not "
                    "read because unpickling can run arbitrary code")
        raise CheckpointError(f"chainrule.load: {name} is not a chainrule checkpoint "
                              f"(bad magic){hint}")
    if len(blob) < _PREFIX.size:
        raise CheckpointError(f"chainrule.load: {name} is truncated")
    _, version, header_len, data_len, crc = _PREFIX.unpack_from(blob)
    if version != VERSION:
        raise CheckpointError(f"chainrule.load: {name} has format version {version}; this "
                              f"chainrule reads version {VERSION}")
    expected = _PREFIX.size + header_len + data_len
    if len(blob) < expected:
        raise CheckpointError(f"chainrule.load: {name} is truncated "
                              f"({len(blob)} of {expected} bytes)")
    if len(blob) > expected:
        raise CheckpointError(f"chainrule.load: {name} is corrupted "
                              f"({len(blob) - expected} unexpected trailing bytes)")
    body = memoryview(blob)[_PREFIX.size:]
    if zlib.crc32(body) != crc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (checksum mismatch)")
    try:
        header = json.loads(bytes(body[:header_len]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (bad header: {exc})") from None
    try:
        return _Decoder(body[header_len:], name).decode(header)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (bad header: {exc})") from None


# -- public API ------------------------------------------------------------------------


def _is_file_like(f, method):
    return hasattr(f, method) and not isinstance(f, (str, bytes, os.PathLike))


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Save ``obj`` (tensors, dicts, lists, tuples and Python scalars, nested) to ``f``.

    ``f`` is a path (str or ``os.PathLike``), written atomically, or a binary file
    object with ``write``.  PyTorch's other arguments are accepted and ignored.
    """
    if pickle_module is not None:
        raise ValueError("chainrule.save never pickles; pickle_module is not supported")
    chunks = _serialize(obj)
    if _is_file_like(f, "write"):
        for chunk in chunks:
            f.write(chunk)
        return
    _atomic_write(os.fspath(f), chunks)


def _atomic_write(path, chunks):
    """Write ``chunks`` to ``path`` so that readers see the old file or the new, never a mix."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes the file 0600; give it the usual mode
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as out:
            _write_chunks(out, chunks)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_chunks(out, chunks):
    for chunk in chunks:
        out.write(chunk)


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Load an object saved by ``chainrule.save`` from a path or a binary file object.

    ``map_location``, ``weights_only`` and ``mmap`` are accepted for PyTorch
    compatibility; everything lives in host memory and loading never runs code.
    Raises ``CheckpointError`` (a ``RuntimeError``) for a truncated, corrupted
    or foreign file.
    """
    if _is_file_like(f, "read"):
        name = repr(getattr(f, "name", "<file object>"))
        blob = f.read()
    else:
        path = os.fspath(f)
        name = repr(path)
        with open(path, "rb") as handle:
            blob = handle.read()
    if isinstance(blob, str):
        raise CheckpointError(f"chainrule.load: {name} was opened in text mode; open it "
                              "with 'rb'")
    return _deserialize(bytes(blob), name)

"""chainrule's own checkpoint format: a JSON header and raw tensor bytes, never pickle.

``chainrule.save(obj, f, format="chainrule")`` writes it; ``chainrule.load`` recognises it by its magic.
It holds data only (tensors, NumPy arrays, dicts, lists, tuples, str, int, float, bool, None), so
loading parses JSON and copies bytes: it cannot call anything, whatever ``weights_only`` says.
(``chainrule.save``'s default is PyTorch's zip format, which ``torch.load`` reads; see ``torch_zip``.)

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

The header encodes the tree with JSON's own types for ``None``, ``bool``, ``int``, ``float`` (NaN and
infinities included) and ``str``, JSON arrays for lists, and one-key objects as tags for everything else:
``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}`` (keys may be str, int, float, bool, None or tuples
-- optimizer state is keyed by int), and ``{"tensor": {...}}`` / ``{"ndarray": {...}}`` with dtype, shape,
byte offset, byte count and ``requires_grad``.

Reading is bounded and fails fast: the prefix alone says how big the file must be, and that is checked
against the file's size before anything else is read; every tensor's shape, dtype and byte range is
checked (and byte ranges may not overlap, so a small file cannot fan out into many copies of one range);
loaded tensors are views into the one data buffer, never copies of it.
"""
import json
import struct
import zlib

import numpy

import chainrule

from ._source import Source
from .errors import CheckpointError

MAGIC = b"\x89CHAINR\n"
VERSION = 1
_PREFIX = struct.Struct("<8sIQQI")  # magic, version, header length, data length, crc32

# The dtypes a header may name: everything chainrule has, stored little-endian ('|' for one byte).
_DTYPES = {numpy.dtype(d).newbyteorder("<").str for d in
           ("float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool")}


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
            meta = self._array(array, where)
            meta["requires_grad"] = bool(obj.requires_grad)
            return {"tensor": meta}
        if isinstance(obj, numpy.ndarray):
            return {"ndarray": self._array(obj, where)}
        if isinstance(obj, numpy.generic):
            return self.encode(obj.item(), where)
        if isinstance(obj, dict):
            return {"dict": [[self._key(k, where), self.encode(v, f"{where}[{k!r}]")]
                             for k, v in obj.items()]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(
            f"chainrule.save: cannot save {where} of type {type(obj).__name__} in format='chainrule'; that "
            "format holds only tensors, NumPy arrays, dicts, lists, tuples, str, int, float, bool and None "
            "(it never pickles). The default format (PyTorch's) saves any picklable object."
        )

    def _key(self, key, where):
        if key is None or isinstance(key, (bool, int, float, str)):
            return self.encode(key, where)
        if isinstance(key, tuple):
            return {"tuple": [self._key(k, where) for k in key]}
        raise TypeError(f"chainrule.save: cannot save a dict key of type "
                        f"{type(key).__name__} in {where} (format='chainrule')")

    def _array(self, array, where):
        little = array.dtype.newbyteorder("<") if array.dtype.kind in "biuf" else array.dtype
        if little.str not in _DTYPES:
            raise TypeError(f"chainrule.save: cannot save {where}: an array of dtype {array.dtype} "
                            "(format='chainrule')")
        little = numpy.ascontiguousarray(array, dtype=little)
        meta = {"dtype": little.dtype.str, "shape": list(array.shape),
                "offset": self.offset, "nbytes": little.nbytes}
        self.chunks.append(little.reshape(-1).view(numpy.uint8))
        self.offset += little.nbytes
        return meta


def serialize(obj):
    """The whole file, as a list of chunks (prefix, header, tensor data...)."""
    encoder = _Encoder()
    try:
        tree = encoder.encode(obj)
        header = json.dumps(tree, separators=(",", ":"), allow_nan=True).encode()
    except RecursionError:
        raise ValueError("chainrule.save: the object is nested too deeply to save") from None
    crc = zlib.crc32(header)
    for chunk in encoder.chunks:
        crc = zlib.crc32(chunk, crc)
    prefix = _PREFIX.pack(MAGIC, VERSION, len(header), encoder.offset, crc)
    return [prefix, header, *encoder.chunks]


# -- decoding --------------------------------------------------------------------------


class _Decoder:
    """Rebuilds the object tree from a parsed header and the data section, checking every entry."""

    def __init__(self, data, name):
        self.data = data          # uint8 array: the data section
        self.name = name
        self.ranges = []          # (start, end, where) of every non-empty array, to refuse overlaps

    def corrupted(self, where, what):
        return CheckpointError(f"chainrule.load: {self.name} is corrupted ({where}: {what})")

    def decode(self, node, where="obj"):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, dict) and len(node) == 1:
            (tag, body), = node.items()
            if tag == "tuple" and isinstance(body, list):
                return tuple(self.decode(v, f"{where}[{i}]") for i, v in enumerate(body))
            if tag == "dict" and isinstance(body, list):
                out = {}
                for item in body:
                    if not (isinstance(item, list) and len(item) == 2):
                        raise self.corrupted(where, "a dict item is not a [key, value] pair")
                    key = self.decode(item[0], where)
                    out[key] = self.decode(item[1], f"{where}[{key!r}]")
                return out
            if tag == "tensor" and isinstance(body, dict):
                tensor = chainrule.from_numpy(self._array(body, where))
                requires_grad = body.get("requires_grad", False)
                if not isinstance(requires_grad, bool):
                    raise self.corrupted(where, f"requires_grad {str(requires_grad)[:20]}")
                if requires_grad:
                    if not tensor.dtype.is_floating_point:
                        raise self.corrupted(where, f"a {tensor.dtype} tensor cannot require grad")
                    tensor.requires_grad_(True)
                return tensor
            if tag == "ndarray" and isinstance(body, dict):
                return self._array(body, where)
        raise self.corrupted(where, f"unknown header entry {str(node)[:80]}")

    def _array(self, meta, where):
        dtype, shape, start, nbytes = (meta.get(k) for k in ("dtype", "shape", "offset", "nbytes"))
        if dtype not in _DTYPES:
            raise self.corrupted(where, f"dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise self.corrupted(where, f"shape {str(shape)[:80]}")
        if not (_is_int(start) and _is_int(nbytes) and start >= 0 and nbytes >= 0):
            raise self.corrupted(where, "bad byte range")
        dtype = numpy.dtype(dtype)
        count = 1
        for s in shape:
            count *= s
        if nbytes != count * dtype.itemsize:
            raise self.corrupted(where, f"shape {shape} needs {count * dtype.itemsize} bytes, the entry "
                                        f"says {nbytes}")
        if start + nbytes > len(self.data):
            raise self.corrupted(where, "its bytes lie outside the data section")
        if nbytes:
            self.ranges.append((start, start + nbytes, where))
        raw = self.data[start:start + nbytes]
        if dtype.byteorder == "<" and not numpy.little_endian:
            array = raw.view(dtype).astype(dtype.newbyteorder("="))
        else:
            array = raw.view(dtype.newbyteorder("="))
            if start % dtype.itemsize:   # keep NumPy's fast aligned paths: copy the rare unaligned one
                array = array.copy()
        return array.reshape(shape)

    def check_overlaps(self):
        ranges = sorted(self.ranges)
        for (_, end, first), (start, _, second) in zip(ranges, ranges[1:]):
            if start < end:
                raise CheckpointError(f"chainrule.load: {self.name} is corrupted ({first} and {second} "
                                      "claim overlapping bytes)")


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def read(source: Source):
    """Check the prefix against the file's size, then read, checksum and decode the rest."""
    name = source.name
    prefix = source.read(0, min(source.size, _PREFIX.size), "the prefix")
    if len(prefix) < _PREFIX.size:
        raise CheckpointError(f"chainrule.load: {name} is truncated")
    _, version, header_len, data_len, crc = _PREFIX.unpack(prefix)
    if version != VERSION:
        raise CheckpointError(f"chainrule.load: {name} has format version {version}; this "
                              f"chainrule reads version {VERSION}")
    expected = _PREFIX.size + header_len + data_len
    if source.size < expected:
        raise CheckpointError(f"chainrule.load: {name} is truncated ({source.size} of {expected} bytes)")
    if source.size > expected:
        raise CheckpointError(f"chainrule.load: {name} is corrupted "
                              f"({source.size - expected} unexpected trailing bytes)")
    header = source.read(_PREFIX.size, header_len, "the header")
    data = source.read_array(_PREFIX.size + header_len, data_len, "the data")
    if zlib.crc32(data, zlib.crc32(header)) != crc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (checksum mismatch)")
    try:
        tree = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (bad header: {exc})") from None
    except RecursionError:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (its header is nested too deeply)") from None
    decoder = _Decoder(data, name)
    try:
        obj = decoder.decode(tree)
    except RecursionError:
        raise CheckpointError(f"chainrule.load: {name} is corrupted (its header is nested too deeply)") from None
    decoder.check_overlaps()
    return obj

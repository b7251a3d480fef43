"""Storages: the flat byte buffers behind tensors, as PyTorch's checkpoints name and share them.

A PyTorch checkpoint stores each storage once (``data/0``, ``data/1``...) and every tensor as a view of
one: (storage, offset, size, stride). chainrule keeps tensors as NumPy arrays, so a loaded storage is a
uint8 array and each tensor a strided NumPy view of it -- tensors that shared a storage when saved share
memory again when loaded. ``map_location`` callables receive and return these objects.

The storage *types* in a pickle (``torch.FloatStorage``, or ``torch.storage.UntypedStorage`` plus a dtype)
say how to read the bytes; ``STORAGE_DTYPES`` maps PyTorch's names to dtype names.
"""
import numpy

from .. import dtypes
from ..device import check_device, device as _device

# PyTorch's legacy storage classes (the names torch.save still writes) and their dtypes.
STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexDoubleStorage": "complex128", "ComplexFloatStorage": "complex64",
    "QInt8Storage": "qint8", "QInt32Storage": "qint32", "QUInt8Storage": "quint8",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}
_STORAGE_OF = {dtype: name for name, dtype in STORAGE_DTYPES.items()}

# Bytes per element of every dtype PyTorch writes, by name (to size a storage before chainrule must
# understand its dtype: a file may hold tensors chainrule cannot represent and still be read around them).
ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
            "int8": 1, "uint8": 1, "bool": 1, "complex128": 16, "complex64": 8, "complex32": 4, "qint8": 1,
            "qint32": 4, "quint8": 1, "quint4x2": 1, "quint2x4": 1, "uint16": 2, "uint32": 4, "uint64": 8,
            "float8_e5m2": 1, "float8_e4m3fn": 1, "float8_e5m2fnuz": 1, "float8_e4m3fnuz": 1,
            "float8_e8m0fnu": 1, "float4_e2m1fn_x2": 1, "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1,
            "bits4x2": 1}


class StorageType:
    """A storage class named in a pickle (``torch.FloatStorage``): only its dtype name matters."""

    __slots__ = ("name", "dtype_name")

    def __init__(self, name, dtype_name):
        self.name = name
        self.dtype_name = dtype_name

    def __repr__(self):
        return f"torch.{self.name}"


UNTYPED = StorageType("UntypedStorage", "uint8")   # torch.storage.UntypedStorage: bytes, dtype elsewhere
LEGACY_TYPES = {name: StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()}


def storage_type_for(dtype_name):
    """The StorageType to write for a dtype: its legacy class, or UntypedStorage for newer dtypes."""
    name = _STORAGE_OF.get(dtype_name)
    return LEGACY_TYPES[name] if name else UNTYPED


def chainrule_dtype(dtype_name, context):
    """The chainrule dtype called ``dtype_name``, or an error saying what chainrule cannot represent."""
    found = getattr(dtypes, dtype_name, None)
    if not isinstance(found, dtypes.dtype):
        raise TypeError(f"{context} holds a tensor of dtype torch.{dtype_name}, which chainrule does not have")
    try:
        found.np   # bfloat16's NumPy type comes from the optional ml_dtypes package
    except ImportError:
        raise TypeError(f"{context} holds {dtype_name} data; reading it needs the ml_dtypes package: "
                        "pip install 'chainrule[bf16]' (or pip install ml_dtypes)") from None
    return found


class UntypedStorage:
    """A flat buffer of bytes on the CPU (``torch.UntypedStorage``): a 1-D uint8 NumPy array."""

    def __init__(self, array):
        self._array = array

    @property
    def device(self):
        return _device("cpu")

    is_cuda = False

    def nbytes(self):
        return self._array.nbytes

    def size(self):
        return self._array.nbytes

    __len__ = size

    def element_size(self):
        return 1

    def data_ptr(self):
        return self._array.ctypes.data

    def cpu(self):
        return self

    def cuda(self, device=None, non_blocking=False):
        check_device("cuda" if device is None else device)

    def to(self, device=None, non_blocking=False):
        check_device(device)
        return self

    def __repr__(self):
        return f"UntypedStorage of {self.nbytes()} bytes on cpu"


class TypedStorage(UntypedStorage):
    """A storage read as elements of one dtype (what ``map_location`` callables receive)."""

    def __init__(self, array, dtype_name):
        super().__init__(array)
        self.dtype_name = dtype_name

    @property
    def dtype(self):
        return getattr(dtypes, self.dtype_name, self.dtype_name)

    def element_size(self):
        return ITEMSIZE[self.dtype_name]

    def size(self):
        return self._array.nbytes // self.element_size()

    __len__ = size

    def __repr__(self):
        return f"TypedStorage of {self.size()} x {self.dtype_name} on cpu"


def typed_view(storage, dtype):
    """The storage's bytes as a 1-D array of chainrule dtype ``dtype`` (no copy)."""
    return storage._array.view(dtype.np)


def as_numpy_dtype(dtype_name):
    """The NumPy dtype of a PyTorch dtype name, for byte swapping: None for one-byte and unknown dtypes."""
    size = ITEMSIZE.get(dtype_name, 1)
    if size == 1:
        return None
    if dtype_name.startswith("complex"):
        return numpy.dtype(f"f{size // 2}")   # swap each half of a complex number on its own
    return numpy.dtype(f"u{size}")

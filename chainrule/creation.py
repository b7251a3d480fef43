"""Making tensors: ``tensor``, ``from_numpy``, ``zeros``, ``ones``, ``full``, ``arange``, ``eye``, ..."""
import numbers

from ._backend import xp as np

from . import dtypes
from .device import check_device
from .tensor import Size, Tensor, _make


def _array_from_data(data, dtype=None):
    """A fresh NumPy array for ``data`` with PyTorch's dtype inference.

    Python floats become the default float dtype (float32), ints int64, bools bool; NumPy arrays
    and scalars keep their dtype; nested lists must be rectangular.
    """
    if isinstance(data, Tensor):
        array = data._array.copy()
    elif isinstance(data, (np.ndarray, np.generic)):
        array = np.array(data)
    else:
        if isinstance(data, (list, tuple)):
            data = _unwrap_tensors(data)
        try:
            array = np.array(data)
        except ValueError as exc:
            raise ValueError(f"expected a rectangular nested sequence (all rows of equal length), "
                             f"got a ragged one: {exc}") from None
        if array.dtype == object:
            raise TypeError(f"could not infer a dtype for {type(data).__name__} data: the elements must "
                            f"be numbers, bools or nested sequences of them")
        if array.dtype.kind == "f" and array.dtype != np.float16 and dtype is None:
            # only without a dtype: tensor([0.1], dtype=float64) must not pass through float32 on its way
            array = array.astype(dtypes.get_default_dtype().np)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype.kind in "US":
            raise TypeError(f"new(): invalid data type '{array.dtype.kind == 'U' and 'str'}'")
    if dtype is not None:
        array = array.astype(dtypes.to_dtype(dtype).np, copy=False)
    else:
        dtypes.from_numpy_dtype(array.dtype)   # refuses dtypes chainrule has no name for
    return array


def _unwrap_tensors(seq):
    """Lists of (one-element) tensors are allowed in ``tensor([...])``: read their values."""
    out = []
    for item in seq:
        if isinstance(item, Tensor):
            out.append(item._array.item() if item._array.ndim == 0 else item._array.tolist())
        elif isinstance(item, (list, tuple)):
            out.append(_unwrap_tensors(item))
        else:
            out.append(item)
    return out


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of ``data`` (numbers, nested lists, NumPy arrays, tensors)."""
    check_device(device)
    t = _make(_array_from_data(data, dtype))
    if requires_grad:
        t.requires_grad = True
    return t


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.to_dtype(dtype)):
        return data
    if isinstance(data, np.ndarray) and dtype is None:
        return from_numpy(data)
    return tensor(data, dtype=dtype)


def from_numpy(array):
    """A tensor that shares memory with ``array``: changing one changes the other."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    return _make(array)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list, Size)):
        size = size[0]
    for s in size:
        if not isinstance(s, numbers.Integral) and not (isinstance(s, Tensor) and s.numel() == 1):
            raise TypeError(f"size must be a sequence of ints, but got an element of type {type(s).__name__}")
    size = tuple(int(s) for s in size)
    if any(s < 0 for s in size):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(size)}")
    return size


def _factory(array, requires_grad, device=None):
    check_device(device)
    t = _make(array)
    if requires_grad:
        t.requires_grad = True
    return t


def _float_dtype(dtype):
    return dtypes.to_dtype(dtype).np if dtype is not None else dtypes.get_default_dtype().np


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None):
    return _factory(np.zeros(_size(size), _float_dtype(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None):
    return _factory(np.ones(_size(size), _float_dtype(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False, memory_format=None):
    # Zero-filled: "uninitialised" memory would only make bugs harder to see.
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = dtypes.default_for_category(dtypes.scalar_category(fill_value))
    return _factory(np.full(_size((size,)), fill_value, dtypes.to_dtype(dtype).np), requires_grad, device)


def _like(x, dtype):
    return dtypes.to_dtype(dtype) if dtype is not None else x.dtype


def zeros_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _factory(np.zeros(x.shape, _like(x, dtype).np), requires_grad, device)


def ones_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _factory(np.ones(x.shape, _like(x, dtype).np), requires_grad, device)


def empty_like(x, dtype=None, device=None, requires_grad=False, memory_format=None):
    return zeros_like(x, dtype=dtype, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False, memory_format=None):
    return _factory(np.full(x.shape, fill_value, _like(x, dtype).np), requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive); int64 for integer arguments, float32 otherwise."""
    if end is None:
        start, end = 0, start
    values = [float(v) if isinstance(v, Tensor) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (values[1] - values[0]) * values[2] < 0:   # e.g. arange(0, 10, -1): PyTorch refuses, NumPy gives []
        raise RuntimeError(f"upper bound and lower bound inconsistent with step sign (start {values[0]}, "
                           f"end {values[1]}, step {values[2]})")
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    start, end, step = values
    n = max(int(np.ceil((end - start) / step)), 0)
    return _factory((start + step * np.arange(n, dtype=np.float64)).astype(dtypes.to_dtype(dtype).np)
                    if dtypes.to_dtype(dtype).is_floating_point else np.arange(start, end, step).astype(dtypes.to_dtype(dtype).np),
                    requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    return _factory(np.linspace(float(start), float(end), int(steps)).astype(_float_dtype(dtype)),
                    requires_grad, device)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    return _factory(np.logspace(float(start), float(end), int(steps), base=base).astype(_float_dtype(dtype)),
                    requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _factory(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)


def diag(x, diagonal=0):
    from .ops._common import record
    A = x._array
    if A.ndim == 1:
        return record(np.diag(A, diagonal), "DiagEmbedBackward0", (x,),
                      lambda g: (diag(g, diagonal),))
    shape = A.shape
    return record(np.diag(A, diagonal).copy(), "DiagonalBackward0", (x,),
                  lambda g: (_diag_back(g, shape, diagonal),))


def _diag_back(g, shape, diagonal):
    square = diag(g, diagonal)
    return square[:shape[0], :shape[1]] if square.shape != shape else square


class _LegacyTensorType(type):
    """``isinstance(x, FloatTensor)`` asks for a tensor of that dtype, as PyTorch's legacy types do."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy_type(name, dtype_):
    """PyTorch's legacy constructors: ``FloatTensor([1, 2])`` copies data, ``FloatTensor(2, 3)`` is a shape."""
    def __new__(cls, *args, device=None):
        check_device(device)
        if len(args) == 1 and not isinstance(args[0], (int, np.integer, Size)):
            return tensor(args[0], dtype=dtype_)
        if not all(isinstance(a, (int, np.integer)) for a in args) and not (len(args) == 1 and isinstance(args[0], Size)):
            raise TypeError(f"{name}() takes data (a sequence, array or tensor) or sizes (ints), "
                            f"got {tuple(type(a).__name__ for a in args)}")
        return empty(*args, dtype=dtype_)
    return _LegacyTensorType(name, (), {"__new__": __new__, "dtype": dtype_,
                                        "__doc__": f"Legacy constructor for {dtype_} tensors."})


FloatTensor = _legacy_type("FloatTensor", dtypes.float32)
DoubleTensor = _legacy_type("DoubleTensor", dtypes.float64)
HalfTensor = _legacy_type("HalfTensor", dtypes.float16)
LongTensor = _legacy_type("LongTensor", dtypes.int64)
IntTensor = _legacy_type("IntTensor", dtypes.int32)
ShortTensor = _legacy_type("ShortTensor", dtypes.int16)
CharTensor = _legacy_type("CharTensor", dtypes.int8)
ByteTensor = _legacy_type("ByteTensor", dtypes.uint8)
BoolTensor = _legacy_type("BoolTensor", dtypes.bool)

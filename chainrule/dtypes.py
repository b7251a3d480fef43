"""chainrule's dtypes: thin named wrappers over NumPy dtypes, with PyTorch's promotion rules."""
import builtins as _builtins

import numpy as np

# The names float/int/bool are dtypes in this module, so keep Python's own types at hand.
_py_float, _py_int, _py_bool = _builtins.float, _builtins.int, _builtins.bool


class dtype:
    """A tensor element type, printed and compared the way PyTorch's ``torch.float32`` is."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_category")

    def __init__(self, name, np_dtype, category):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.is_signed = np.issubdtype(self.np, np.signedinteger) or self.is_floating_point
        self.itemsize = self.np.itemsize
        # 0 bool < 1 integer < 2 floating: PyTorch promotes only upwards across categories.
        self._category = category

    def __repr__(self):
        return f"torch.{self.name}"

    @property
    def scalar_type_name(self):
        """PyTorch's C++ name of this dtype, as its error messages spell it ("Long", "Float", "Bool")."""
        return _SCALAR_TYPE_NAMES[self.name]

    def __reduce__(self):
        return (_by_name, (self.name,))


class _PackagedDtype(dtype):
    """A dtype whose NumPy type comes from an optional package: the name always exists (programs build
    dtype tables that name it), and making an array of it without the package says what to install."""

    __slots__ = ("_package",)

    def __init__(self, name, package, attribute):
        try:
            np_dtype = np.dtype(getattr(__import__(package), attribute))
        except ImportError:
            np_dtype = None
        self.name, self._package, self._category = name, package, 2
        self.is_floating_point = self.is_signed = True
        self.itemsize = np_dtype.itemsize if np_dtype is not None else 2
        dtype.np.__set__(self, np_dtype)

    @property
    def np(self):
        np_dtype = dtype.np.__get__(self)
        if np_dtype is None:
            raise ImportError(f"torch.{self.name} needs the package {self._package!r} in chainrule: "
                              f"pip install {self._package}")
        return np_dtype


float16 = half = dtype("float16", np.float16, 2)
float32 = float = dtype("float32", np.float32, 2)
float64 = double = dtype("float64", np.float64, 2)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = short = dtype("int16", np.int16, 1)
int32 = int = dtype("int32", np.int32, 1)
int64 = long = dtype("int64", np.int64, 1)
bool = dtype("bool", np.bool_, 0)
bfloat16 = _PackagedDtype("bfloat16", "ml_dtypes", "bfloat16")   # NumPy has no bfloat16; ml_dtypes adds it

_SCALAR_TYPE_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "uint8": "Byte", "int8": "Char",
                      "int16": "Short", "int32": "Int", "int64": "Long", "bool": "Bool", "bfloat16": "BFloat16"}
_ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool)
_FROM_NP = {d.np: d for d in _ALL}
if dtype.np.__get__(bfloat16) is not None:
    _FROM_NP[bfloat16.np] = bfloat16


def is_float_np(np_dtype):
    """Is this NumPy dtype a floating type? (bfloat16's NumPy kind is "V", not "f".)"""
    return np_dtype.kind == "f" or (_BFLOAT16_NP is not None and np_dtype == _BFLOAT16_NP)


_BFLOAT16_NP = dtype.np.__get__(bfloat16)


def _by_name(name):
    return globals()[name]


_default_float = float32


def get_default_dtype():
    return _default_float


def set_default_dtype(d):
    """Set the dtype that Python floats and float factories produce (float32 by default)."""
    global _default_float
    d = to_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default_float = d


def from_numpy_dtype(np_dtype):
    """The chainrule dtype of a NumPy dtype; a clear error for dtypes chainrule has no name for."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        raise TypeError(f"chainrule has no dtype for NumPy dtype '{np_dtype}'; "
                        f"supported: {', '.join(d.name for d in _ALL)}, bfloat16") from None


def to_dtype(d):
    """Accept a chainrule dtype, a NumPy dtype, a Python type or a name; return a chainrule dtype."""
    if isinstance(d, dtype):
        return d
    if d is _py_float:
        return _default_float
    if d is _py_int:
        return int64
    if d is _py_bool:
        return bool
    if isinstance(d, str) and d in globals() and isinstance(globals()[d], dtype):
        return globals()[d]
    try:
        return from_numpy_dtype(np.dtype(d))
    except TypeError as exc:
        raise TypeError(f"not a dtype: {d!r}") from exc


def scalar_category(value):
    """Category (0 bool, 1 int, 2 float) of a Python or NumPy scalar."""
    if isinstance(value, (_py_bool, np.bool_)):
        return 0
    if isinstance(value, (_py_int, np.integer)):
        return 1
    return 2


def default_for_category(category):
    return (bool, int64, _default_float)[category]


_KERNEL_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "uint8": "Byte", "int8": "Char",
                 "int16": "Short", "int32": "Int", "int64": "Long", "bool": "Bool"}


def kernel_name(d):
    """PyTorch's C++ name of a dtype ('Long' for int64), as its "not implemented for 'Long'" errors say."""
    return _KERNEL_NAMES[to_dtype(d).name]

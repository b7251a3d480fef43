"""The ONNX graph being built while a model runs: values, nodes, constants, and symbolic sizes.

Every tensor the trace follows has a value name here. A tensor the trace did not produce (a parameter, a
buffer, a constant the model computed from them) becomes an initializer the first time an op reads it,
under its ``state_dict`` name when it has one -- so ops on parameters alone fold into constants.

With ``dynamic_axes`` the sizes a model reads (``x.shape``, ``x.size(1)``) are ``SymInt``s: ints that
remember which value's dimension they are, and what arithmetic made them, so that a ``view(B, T, C)``
exports as a shape computed from the input at run time, not as the numbers seen while tracing.
"""
import itertools

import numpy

from ..tensor import Tensor

_ONNX_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7, "bool": 9, "float16": 10,
                "float64": 11}


def onnx_dtype(np_dtype):
    try:
        return _ONNX_DTYPES[numpy.dtype(np_dtype).name]
    except KeyError:
        from .errors import OnnxExporterError
        raise OnnxExporterError(f"chainrule.onnx.export: dtype {np_dtype} has no ONNX type here") from None


class SymInt(int):
    """A size read from a traced tensor, equal to its traced value, that exports as a computation.

    ``expr`` is ``("dim", value, axis)`` or ``(op, left, right)`` with op one of Add, Sub, Mul, Div, Mod.
    Arithmetic with ints or other SymInts gives SymInts; comparisons give plain bools (decided while
    tracing, as PyTorch's tracer decides them).
    """

    def __new__(cls, value, expr):
        obj = super().__new__(cls, value)
        obj.expr = expr
        return obj

    def _op(self, other, op, fn, reverse=False):
        if not isinstance(other, int) or isinstance(other, bool):
            return fn(int(self), other) if not reverse else fn(other, int(self))
        left, right = (other, self) if reverse else (self, other)
        return SymInt(fn(int(left), int(right)), (op, left, right))

    def __add__(self, other):
        return self._op(other, "Add", lambda a, b: a + b)

    def __radd__(self, other):
        return self._op(other, "Add", lambda a, b: a + b, True)

    def __sub__(self, other):
        return self._op(other, "Sub", lambda a, b: a - b)

    def __rsub__(self, other):
        return self._op(other, "Sub", lambda a, b: a - b, True)

    def __mul__(self, other):
        return self._op(other, "Mul", lambda a, b: a * b)

    def __rmul__(self, other):
        return self._op(other, "Mul", lambda a, b: a * b, True)

    def __floordiv__(self, other):
        return self._op(other, "Div", lambda a, b: a // b)   # sizes are non-negative: Div's truncation agrees

    def __rfloordiv__(self, other):
        return self._op(other, "Div", lambda a, b: a // b, True)

    def __mod__(self, other):
        return self._op(other, "Mod", lambda a, b: a % b)

    def __neg__(self):
        return SymInt(-int(self), ("Sub", 0, self))

    def __pos__(self):
        return self


class Graph:
    """Nodes, initializers, inputs and outputs of the ONNX model, and the map from tensors to values."""

    def __init__(self, opset, dynamic, names):
        self.opset = opset
        self.dynamic = dynamic          # record sizes as SymInts?
        self.param_names = names        # id(tensor) -> state_dict name
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._values = {}               # id(tensor) -> value name
        self._keep = []                 # traced tensors stay alive: their ids must stay unique
        self._sizes = {}                # SymInt expressions already emitted
        self._consts = {}
        self._counter = itertools.count()
        self._used = set()

    # -- names ------------------------------------------------------------------------------------
    def fresh(self, hint="v"):
        while True:
            name = f"{hint}_{next(self._counter)}"
            if name not in self._used:
                self._used.add(name)
                return name

    def is_traced(self, tensor):
        return isinstance(tensor, Tensor) and id(tensor) in self._values

    def bind(self, tensor, name):
        self._values[id(tensor)] = name
        self._keep.append(tensor)

    def value(self, x, dtype=None):
        """The value name of ``x``: a traced tensor's, or a new constant for anything else."""
        if isinstance(x, Tensor):
            name = self._values.get(id(x))
            if name is not None:
                return name if dtype is None or x._array.dtype == dtype else self.cast(name, dtype)
            return self.constant(x._array if dtype is None else x._array.astype(dtype), self.param_names.get(id(x)),
                                 key=(id(x), str(dtype)), keep=x)
        if isinstance(x, SymInt):
            return self.size(x) if dtype is None else self.cast(self.size(x), dtype)
        return self.constant(numpy.asarray(x, dtype=dtype))

    # -- nodes and constants ------------------------------------------------------------------------
    def node(self, op, inputs, n_out=1, **attrs):
        import onnx.helper
        outs = [self.fresh(op.lower()) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(onnx.helper.make_node(op, list(inputs), outs, name=self.fresh(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def constant(self, array, name=None, key=None, keep=None):
        import onnx.numpy_helper
        array = numpy.asarray(array)
        if key is not None and key in self._consts:
            return self._consts[key]
        name = name if name and name not in self._used else self.fresh(name or "const")
        self._used.add(name)
        self.initializers.append(onnx.numpy_helper.from_array(numpy.array(array, order="C"), name))  # keeps 0-d
        if key is not None:
            self._consts[key] = name
            if keep is not None:
                self._keep.append(keep)
        return name

    def ints(self, values):
        """A 1-D int64 value from ints and SymInts (a shape, a list of axes): constant where it can be."""
        values = [v for v in values]
        if not any(isinstance(v, SymInt) for v in values):
            return self.constant(numpy.asarray(values, dtype=numpy.int64).reshape(-1))
        parts = [self.node("Unsqueeze", [self.size(v), self.constant(numpy.asarray([0]))])
                 if isinstance(v, SymInt) else self.constant(numpy.asarray([v], dtype=numpy.int64)) for v in values]
        return self.node("Concat", parts, axis=0)

    def size(self, s):
        """The 0-d int64 value of a SymInt's expression (each distinct expression emitted once)."""
        key = _expr_key(s)
        if key in self._sizes:
            return self._sizes[key]
        kind = s.expr[0]
        if kind == "dim":
            _, value, axis = s.expr
            shape = self.node("Shape", [value])
            out = self.node("Gather", [shape, self.constant(numpy.asarray(axis, dtype=numpy.int64))], axis=0)
        else:
            left, right = (self.size(v) if isinstance(v, SymInt) else self.constant(numpy.asarray(v, numpy.int64))
                           for v in s.expr[1:])
            out = self.node(kind, [left, right], **({"fmod": 0} if kind == "Mod" else {}))
        self._sizes[key] = out
        return out

    def cast(self, name, np_dtype):
        return self.node("Cast", [name], to=onnx_dtype(np_dtype))

    def sizes_of(self, tensor):
        """``tensor``'s shape as SymInts of its value (dynamic export) or plain ints."""
        shape = tensor._array.shape
        name = self._values.get(id(tensor))
        if not self.dynamic or name is None:
            return tuple(shape)
        return tuple(SymInt(n, ("dim", name, axis)) for axis, n in enumerate(shape))


def _expr_key(v):
    """A SymInt expression as a hashable key that tells apart sizes that merely have equal values."""
    if not isinstance(v, SymInt):
        return ("int", int(v))
    if v.expr[0] == "dim":
        return v.expr
    return (v.expr[0], _expr_key(v.expr[1]), _expr_key(v.expr[2]))

"""Converters for tensor ops: arithmetic, comparisons, reductions, shapes, indexing, creation.

Each writes the ONNX nodes for one chainrule op, given the op's bound arguments and its traced result
(whose dtype and shape settle what type promotion and broadcasting decided). Operands are cast to the
dtype the op computed in, since ONNX does not promote types.
"""
import math

import numpy

from ..ops._common import operands
from ..tensor import Size, Tensor
from ._graph import SymInt
from ._registry import converts, method_and_function, out_dtype

INT64_MAX = numpy.iinfo(numpy.int64).max
_BOOL = numpy.dtype(bool)


def _dtype_of(x):
    return x._array.dtype if isinstance(x, Tensor) else None


def _promoted(a, b):
    """The dtype chainrule computed ``a op b`` in (PyTorch's promotion, Python scalars weak)."""
    _, _, A, B = operands(a, b)
    return A.dtype if isinstance(A, numpy.ndarray) else B.dtype


def _axis(dim, ndim):
    return dim + max(ndim, 1) if dim < 0 else dim


def _shape_arg(shape):
    """``view(2, 3)``, ``view((2, 3))`` and ``view([2, 3])`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, Size)):
        return tuple(shape[0])
    return tuple(shape)


# -- elementwise ----------------------------------------------------------------------------------------


def _binary(onnx_op, swap=False, compute_in_result=True):
    def convert(op):
        a, b = op.args[0], op.args[1]
        if swap:
            a, b = b, a
        dtype = out_dtype(op) if compute_in_result else _promoted(a, b)
        return op.node(onnx_op, [op.value(a, dtype), op.value(b, dtype)])
    return convert


def _with_alpha(onnx_op, swap=False):
    def convert(op):
        a, b = op.args[0], op.args[1]
        if swap:
            a, b = b, a
        dtype = out_dtype(op)
        alpha = op.kwargs.get("alpha", 1)
        right = op.value(b, dtype)
        if alpha != 1:
            right = op.node("Mul", [right, op.const(alpha, dtype)])
        return op.node(onnx_op, [op.value(a, dtype), right])
    return convert


converts(*method_and_function("add", "add_"), "Tensor.__add__", "Tensor.__iadd__")(_with_alpha("Add"))
converts("Tensor.__radd__")(_binary("Add", swap=True))
converts(*method_and_function("sub", "subtract", "sub_"), "Tensor.__sub__", "Tensor.__isub__")(_with_alpha("Sub"))
converts("Tensor.__rsub__")(_binary("Sub", swap=True))
converts(*method_and_function("mul", "multiply", "mul_"), "Tensor.__mul__", "Tensor.__imul__")(_binary("Mul"))
converts("Tensor.__rmul__")(_binary("Mul", swap=True))
converts("Tensor.__rtruediv__")(_binary("Div", swap=True))
converts(*method_and_function("pow", "pow_"), "Tensor.__pow__", "Tensor.__ipow__")(_binary("Pow"))
converts("Tensor.__rpow__")(_binary("Pow", swap=True))
converts(*method_and_function("maximum"))(_binary("Max"))
converts(*method_and_function("minimum"))(_binary("Min"))
converts(*method_and_function("matmul", "mm", "bmm", "mv"), "Tensor.__matmul__")(_binary("MatMul"))
converts("Tensor.__rmatmul__")(_binary("MatMul", swap=True))
converts(*method_and_function("eq"), "Tensor.__eq__")(_binary("Equal", compute_in_result=False))
converts(*method_and_function("lt", "less"), "Tensor.__lt__")(_binary("Less", compute_in_result=False))
converts(*method_and_function("le", "less_equal"), "Tensor.__le__")(
    _binary("LessOrEqual", compute_in_result=False))
converts(*method_and_function("gt", "greater"), "Tensor.__gt__")(_binary("Greater", compute_in_result=False))
converts(*method_and_function("ge", "greater_equal"), "Tensor.__ge__")(
    _binary("GreaterOrEqual", compute_in_result=False))


@converts(*method_and_function("ne", "not_equal"), "Tensor.__ne__")
def _ne(op):
    return op.node("Not", [_binary("Equal", compute_in_result=False)(op)])


@converts(*method_and_function("div", "divide", "true_divide", "div_"), "Tensor.__truediv__", "Tensor.__itruediv__")
def _div(op):
    mode = op.kwargs.get("rounding_mode")
    if mode is not None and out_dtype(op).kind != "f":
        op.fail("integer division with a rounding mode is not exported; divide floats")
    quotient = _binary("Div")(op)
    if mode is None:
        return quotient
    return op.node("Floor", [quotient]) if mode == "floor" else _trunc(op, quotient)


def _trunc(op, x):
    return op.node("Where", [op.node("Less", [x, op.const(0, out_dtype(op))]), op.node("Ceil", [x]),
                             op.node("Floor", [x])])


@converts(*method_and_function("floor_divide"), "Tensor.__floordiv__")
def _floor_divide(op):
    if out_dtype(op).kind != "f":
        op.fail("integer floor division is not exported; divide floats")
    return op.node("Floor", [_binary("Div")(op)])


@converts(*method_and_function("remainder"), "Tensor.__mod__")
def _remainder(op):
    dtype = out_dtype(op)
    a, b = op.value(op.args[0], dtype), op.value(op.args[1], dtype)
    if dtype.kind != "f":
        return op.node("Mod", [a, b], fmod=0)
    floor = op.node("Floor", [op.node("Div", [a, b])])
    return op.node("Sub", [a, op.node("Mul", [floor, b])])


def _unary(onnx_op):
    def convert(op):
        return op.node(onnx_op, [op.value(op.args[0], out_dtype(op))])
    return convert


for _name, _onnx in [("neg", "Neg"), ("negative", "Neg"), ("abs", "Abs"), ("exp", "Exp"), ("log", "Log"),
                     ("sqrt", "Sqrt"), ("sin", "Sin"), ("cos", "Cos"), ("tan", "Tan"), ("tanh", "Tanh"),
                     ("sigmoid", "Sigmoid"), ("erf", "Erf"), ("reciprocal", "Reciprocal"), ("floor", "Floor"),
                     ("ceil", "Ceil"), ("sign", "Sign"), ("relu", "Relu"), ("isnan", "IsNaN")]:
    _keys = method_and_function(_name) + ((f"Tensor.{_name}_",) if _name in ("neg", "abs", "exp", "log", "sqrt",
                                                                              "sigmoid", "tanh", "relu") else ())
    converts(*_keys)(_unary(_onnx))
converts("Tensor.__neg__")(_unary("Neg"))
converts("Tensor.__abs__")(_unary("Abs"))
converts("F.relu", "F.relu_")(_unary("Relu"))
converts("F.sigmoid")(_unary("Sigmoid"))
converts("F.tanh")(_unary("Tanh"))


@converts("Tensor.__pos__", *method_and_function("clone", "contiguous", "detach"), "Tensor.data")
def _identity(op):
    return op.node("Identity", [op.value(op.args[0])])


@converts(*method_and_function("rsqrt"))
def _rsqrt(op):
    return op.node("Reciprocal", [op.node("Sqrt", [op.value(op.args[0], out_dtype(op))])])


@converts(*method_and_function("square"))
def _square(op):
    x = op.value(op.args[0], out_dtype(op))
    return op.node("Mul", [x, x])


@converts(*method_and_function("round"))
def _round(op):
    if op.kwargs.get("decimals", 0):
        op.fail("round(decimals=...) is not exported")
    return op.node("Round", [op.value(op.args[0])])


@converts(*method_and_function("trunc"))
def _trunc_op(op):
    return _trunc(op, op.value(op.args[0]))


@converts(*method_and_function("exp2"))
def _exp2(op):
    return op.node("Pow", [op.const(2, out_dtype(op)), op.value(op.args[0], out_dtype(op))])


@converts(*method_and_function("expm1"))
def _expm1(op):
    return op.node("Sub", [op.node("Exp", [op.value(op.args[0], out_dtype(op))]), op.const(1, out_dtype(op))])


@converts(*method_and_function("log1p"))
def _log1p(op):
    return op.node("Log", [op.node("Add", [op.value(op.args[0], out_dtype(op)), op.const(1, out_dtype(op))])])


@converts(*method_and_function("log2", "log10"))
def _log_base(op):
    base = 2.0 if op.display.endswith("log2") else 10.0
    return op.node("Div", [op.node("Log", [op.value(op.args[0], out_dtype(op))]),
                           op.const(math.log(base), out_dtype(op))])


def _logical(onnx_op):
    def convert(op):
        return op.node(onnx_op, [op.value(a, _BOOL) for a in op.args[:2]])
    return convert


converts(*method_and_function("logical_and"))(_logical("And"))
converts(*method_and_function("logical_or"))(_logical("Or"))
converts(*method_and_function("logical_xor"))(_logical("Xor"))


@converts(*method_and_function("logical_not"))
def _not(op):
    return op.node("Not", [op.value(op.args[0], _BOOL)])


_BITWISE = {"__invert__": "Not", "bitwise_not": "Not", "__and__": "And", "__rand__": "And", "bitwise_and": "And",
            "__or__": "Or", "__ror__": "Or", "bitwise_or": "Or", "__xor__": "Xor", "__rxor__": "Xor",
            "bitwise_xor": "Xor"}


@converts(*(f"Tensor.{name}" for name in _BITWISE if name.startswith("__")),
          *method_and_function(*(name for name in _BITWISE if not name.startswith("__"))))
def _bitwise(op):
    if out_dtype(op) != _BOOL:
        op.fail("bitwise operations on integers are not exported (boolean ones are)")
    kind = _BITWISE[op.display.rsplit(".", 1)[-1]]
    if kind == "Not":
        return op.node("Not", [op.value(op.args[0], _BOOL)])
    return op.node(kind, [op.value(op.args[0], _BOOL), op.value(op.args[1], _BOOL)])


@converts(*method_and_function("clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_max", "clamp_min_",
                               "clamp_max_"))
def _clamp(op):
    dtype = out_dtype(op)
    name = op.display.rsplit(".", 1)[-1].rstrip("_")
    low = op.args[1] if name == "clamp_min" else op.arg("min")
    high = op.args[1] if name == "clamp_max" else op.arg("max")
    x = op.value(op.args[0], dtype)
    if not isinstance(low, Tensor) and not isinstance(high, Tensor):
        inputs = [x, op.const(low, dtype) if low is not None else "", op.const(high, dtype) if high is not None else ""]
        while inputs[-1] == "":
            inputs.pop()
        return op.node("Clip", inputs)
    if low is not None:
        x = op.node("Max", [x, op.value(low, dtype)])
    if high is not None:
        x = op.node("Min", [x, op.value(high, dtype)])
    return x


@converts("torch.where")
def _where(op):
    if len(op.args) + len(op.kwargs) == 1:
        op.fail("where(condition) (the positions of true elements) depends on the data; it is not exported")
    cond, a, b = op.args[0], op.args[1] if len(op.args) > 1 else op.kwargs["input"], \
        op.args[2] if len(op.args) > 2 else op.kwargs["other"]
    dtype = out_dtype(op)
    return op.node("Where", [op.value(cond, _BOOL), op.value(a, dtype), op.value(b, dtype)])


@converts("Tensor.where")
def _where_method(op):
    dtype = out_dtype(op)
    return op.node("Where", [op.value(op.args[1], _BOOL), op.value(op.args[0], dtype), op.value(op.args[2], dtype)])


@converts(*method_and_function("masked_fill", "masked_fill_"))
def _masked_fill(op):
    x, mask, fill = op.args[0], op.args[1], op.args[2]
    dtype = out_dtype(op)
    return op.node("Where", [op.value(mask, _BOOL), op.value(fill, dtype), op.value(x, dtype)])


@converts(*method_and_function("lerp", "lerp_"))
def _lerp(op):
    dtype = out_dtype(op)
    a, b, w = (op.value(v, dtype) for v in op.args[:3])
    return op.node("Add", [a, op.node("Mul", [w, op.node("Sub", [b, a])])])


@converts(*method_and_function("addmm"))
def _addmm(op):
    dtype = out_dtype(op)
    inp, m1, m2 = (op.value(v, dtype) for v in op.args[:3])
    return op.node("Gemm", [m1, m2, inp], alpha=float(op.kwargs.get("alpha", 1)), beta=float(op.kwargs.get("beta", 1)))


@converts(*method_and_function("dot"))
def _dot(op):
    dtype = out_dtype(op)
    return reduce_axes(op, "ReduceSum", op.node("Mul", [op.value(op.args[0], dtype), op.value(op.args[1], dtype)]), None,
                   False)


@converts(*method_and_function("outer"))
def _outer(op):
    dtype = out_dtype(op)
    a = op.node("Unsqueeze", [op.value(op.args[0], dtype), op.const([1], numpy.int64)])
    return op.node("Mul", [a, op.value(op.args[1], dtype)])


@converts("torch.einsum")
def _einsum(op):
    equation, operands_ = op.args[0], op.args[1:]
    if len(operands_) == 1 and isinstance(operands_[0], (list, tuple)):
        operands_ = operands_[0]
    dtype = out_dtype(op)
    return op.node("Einsum", [op.value(t, dtype) for t in operands_], equation=equation.replace(" ", ""))


# -- reductions -----------------------------------------------------------------------------------------


def _dims(dim, ndim):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return sorted(_axis(d, ndim) for d in dims)


def reduce_axes(op, kind, x, axes, keepdims):
    """``kind`` over ``axes`` (None: all), with the axes as an input where the opset wants one."""
    if axes is not None and not axes:
        return op.node("Identity", [x])
    as_input = op.opset >= 18 or kind == "ReduceSum"
    if axes is None:
        return op.node(kind, [x], keepdims=int(keepdims))
    if as_input:
        return op.node(kind, [x, op.const(axes, numpy.int64)], keepdims=int(keepdims))
    return op.node(kind, [x], axes=list(axes), keepdims=int(keepdims))


def _reduction(kind):
    def convert(op):
        x = op.args[0]
        dtype = out_dtype(op)
        return reduce_axes(op, kind, op.value(x, dtype), _dims(op.arg("dim"), x.ndim), op.arg("keepdim", False))
    return convert


converts(*method_and_function("sum"))(_reduction("ReduceSum"))
converts(*method_and_function("mean"))(_reduction("ReduceMean"))
converts(*method_and_function("prod"))(_reduction("ReduceProd"))
converts(*method_and_function("logsumexp"))(_reduction("ReduceLogSumExp"))


@converts(*method_and_function("amax", "amin"))
def _amax(op):
    x = op.args[0]
    kind = "ReduceMax" if op.display.endswith("amax") else "ReduceMin"
    return reduce_axes(op, kind, op.value(x), _dims(op.arg("dim"), x.ndim), op.arg("keepdim", False))


@converts(*method_and_function("max", "min"))
def _max(op):
    x, dim = op.args[0], op.arg("dim")
    kind = "Max" if op.display.endswith("max") else "Min"
    other = op.arg("other")
    if isinstance(dim, Tensor) or other is not None:
        return _binary(kind)(op) if other is None else op.node(kind, [op.value(x), op.value(other, out_dtype(op))])
    if dim is None:
        return reduce_axes(op, f"Reduce{kind}", op.value(x), None, False)
    keep = op.arg("keepdim", False)
    axis = _axis(dim, x.ndim)
    values = reduce_axes(op, f"Reduce{kind}", op.value(x), [axis], keep)
    indices = op.node(f"Arg{kind}", [op.value(x)], axis=axis, keepdims=int(keep))
    return [values, indices]


@converts(*method_and_function("argmax", "argmin"))
def _argmax(op):
    x, dim = op.args[0], op.arg("dim")
    kind = "ArgMax" if op.display.endswith("argmax") else "ArgMin"
    if dim is None:
        flat = op.node("Reshape", [op.value(x), op.const([-1], numpy.int64)])
        return op.node(kind, [flat], axis=0, keepdims=0)
    return op.node(kind, [op.value(x)], axis=_axis(dim, x.ndim), keepdims=int(op.arg("keepdim", False)))


@converts(*method_and_function("var", "std"))
def _var(op):
    x = op.args[0]
    dtype = out_dtype(op)
    axes = _dims(op.arg("dim"), x.ndim)
    correction = op.arg("correction")
    if correction is None:
        correction = 0 if op.arg("unbiased") is False else 1
    keep = op.arg("keepdim", False)
    xv = op.value(x, dtype)
    mean = reduce_axes(op, "ReduceMean", xv, axes, True)
    diff = op.node("Sub", [xv, mean])
    var = reduce_axes(op, "ReduceMean", op.node("Mul", [diff, diff]), axes, keep)
    if correction:
        sizes = op.g.sizes_of(x)
        count = 1
        for axis in (axes if axes is not None else range(x.ndim)):
            count = count * sizes[axis]
        n = op.value(count, dtype) if isinstance(count, SymInt) else op.const(count, dtype)
        var = op.node("Div", [op.node("Mul", [var, n]), op.node("Sub", [n, op.const(correction, dtype)])])
    return op.node("Sqrt", [var]) if op.display.endswith("std") else var


@converts(*method_and_function("all", "any"))
def _all(op):
    x = op.args[0]
    as_int = op.value(x, numpy.dtype(numpy.int32)) if x._array.dtype == _BOOL else \
        op.node("Cast", [op.node("Not", [op.node("Equal", [op.value(x), op.const(0, x._array.dtype)])])],
                to=6)
    kind = "ReduceMin" if op.display.endswith("all") else "ReduceMax"
    return op.g.cast(reduce_axes(op, kind, as_int, _dims(op.arg("dim"), x.ndim), op.arg("keepdim", False)), _BOOL)


@converts(*method_and_function("cumsum"))
def _cumsum(op):
    x = op.args[0]
    return op.node("CumSum", [op.value(x, out_dtype(op)), op.const(_axis(op.arg("dim"), x.ndim), numpy.int64)])


@converts(*method_and_function("norm"))
def _norm(op):
    x, p = op.args[0], op.arg("p", "fro")
    kind = {2: "ReduceL2", "fro": "ReduceL2", 2.0: "ReduceL2", 1: "ReduceL1", 1.0: "ReduceL1"}.get(p)
    if kind is None:
        op.fail(f"norm with p={p!r} is not exported (p=1, 2 and 'fro' are)")
    return reduce_axes(op, kind, op.value(x, out_dtype(op)), _dims(op.arg("dim"), x.ndim), op.arg("keepdim", False))


# -- shapes ---------------------------------------------------------------------------------------------


def reshape_to(op, x, shape):
    return op.node("Reshape", [op.value(x), op.g.ints(shape)], allowzero=1)


@converts(*method_and_function("view", "reshape"))
def _view(op):
    shape = _shape_arg(op.args[1:])
    if len(shape) == 1 and not isinstance(shape[0], int):
        op.fail(f"view with {shape[0]!r} (a dtype view) is not exported")
    return reshape_to(op, op.args[0], shape)


@converts("Tensor.view_as", "Tensor.reshape_as")
def _view_as(op):
    return op.node("Reshape", [op.value(op.args[0]), op.node("Shape", [op.value(op.args[1])])])


def flatten_value(op, x, start, end):
    """Dims ``start..end`` of ``x`` merged into one; the others kept (symbolically, in a dynamic export)."""
    if x.ndim == 0:
        return reshape_to(op, x, [1])
    start, end = _axis(start, x.ndim), _axis(end, x.ndim)
    sizes = op.g.sizes_of(x)
    return reshape_to(op, x, list(sizes[:start]) + [-1] + list(sizes[end + 1:]))


def unflatten_value(op, x, dim, shape):
    dim = _axis(dim, x.ndim)
    sizes = op.g.sizes_of(x)
    return reshape_to(op, x, list(sizes[:dim]) + list(shape) + list(sizes[dim + 1:]))


@converts(*method_and_function("flatten"))
def _flatten(op):
    return flatten_value(op, op.args[0], op.arg("start_dim", 0), op.arg("end_dim", -1))


@converts(*method_and_function("unflatten"))
def _unflatten(op):
    return unflatten_value(op, op.args[0], op.arg("dim"), op.arg("sizes"))


@converts(*method_and_function("permute"))
def _permute(op):
    x = op.args[0]
    dims = _shape_arg(op.args[1:]) if len(op.args) > 1 else tuple(op.kwargs.get("dims"))
    return op.node("Transpose", [op.value(x)], perm=[_axis(d, x.ndim) for d in dims])


def _swap(op, x, d0, d1):
    perm = list(range(x.ndim))
    d0, d1 = _axis(d0, x.ndim), _axis(d1, x.ndim)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return op.node("Transpose", [op.value(x)], perm=perm)


@converts(*method_and_function("transpose", "swapaxes"))
def _transpose(op):
    return _swap(op, op.args[0], op.args[1], op.args[2])


@converts(*method_and_function("t"), "Tensor.T")
def _t(op):
    x = op.args[0]
    if x.ndim < 2:
        return op.node("Identity", [op.value(x)])
    return op.node("Transpose", [op.value(x)], perm=list(range(x.ndim))[::-1])


@converts("Tensor.mT")
def _mt(op):
    return _swap(op, op.args[0], -2, -1)


@converts(*method_and_function("squeeze"))
def _squeeze(op):
    x, dim = op.args[0], op.arg("dim")
    shape = x._array.shape
    dims = range(x.ndim) if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    axes = [_axis(d, x.ndim) for d in dims if shape[_axis(d, x.ndim)] == 1] if x.ndim else []
    if not axes:
        return op.node("Identity", [op.value(x)])
    return op.node("Squeeze", [op.value(x), op.const(axes, numpy.int64)])


@converts(*method_and_function("unsqueeze"))
def _unsqueeze(op):
    x = op.args[0]
    return op.node("Unsqueeze", [op.value(x), op.const([_axis(op.arg("dim"), x.ndim + 1)], numpy.int64)])


@converts(*method_and_function("expand", "broadcast_to"))
def _expand(op):
    x = op.args[0]
    sizes = _shape_arg(op.args[1:]) if len(op.args) > 1 else tuple(op.kwargs.get("size", op.kwargs.get("shape")))
    mine = op.g.sizes_of(x)
    lead = len(sizes) - x.ndim
    target = [mine[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes)]
    return op.node("Expand", [op.value(x), op.g.ints(target)])


@converts("Tensor.expand_as")
def _expand_as(op):
    return op.node("Expand", [op.value(op.args[0]), op.node("Shape", [op.value(op.args[1])])])


@converts(*method_and_function("repeat", "tile"))
def _repeat(op):
    x = op.args[0]
    reps = list(_shape_arg(op.args[1:]))
    value = op.value(x)
    if len(reps) > x.ndim:
        value = op.node("Unsqueeze", [value, op.const(list(range(len(reps) - x.ndim)), numpy.int64)])
    elif len(reps) < x.ndim:
        reps = [1] * (x.ndim - len(reps)) + reps
    return op.node("Tile", [value, op.g.ints(reps)])


@converts(*method_and_function("cat", "concat", "concatenate"))
def _cat(op):
    tensors = [t for t in op.args[0] if not (isinstance(t, Tensor) and t._array.shape == (0,))]
    dim = op.arg("dim", 0)
    dtype = out_dtype(op)
    return op.node("Concat", [op.value(t, dtype) for t in tensors], axis=_axis(dim, op.out.ndim))


@converts(*method_and_function("stack"))
def _stack(op):
    dim = _axis(op.arg("dim", 0), op.out.ndim)
    dtype = out_dtype(op)
    parts = [op.node("Unsqueeze", [op.value(t, dtype), op.const([dim], numpy.int64)]) for t in op.args[0]]
    return op.node("Concat", parts, axis=dim)


def _split_values(op, x, axis, sizes):
    if len(sizes) == 1:
        return [op.node("Identity", [op.value(x)])]
    return op.node("Split", [op.value(x), op.const(sizes, numpy.int64)], n_out=len(sizes), axis=axis)


@converts(*method_and_function("split", "chunk"))
def _split(op):
    x = op.args[0]
    axis = _axis(op.arg("dim", 0), x.ndim)
    return _split_values(op, x, axis, [t._array.shape[axis] for t in op.out])


@converts(*method_and_function("unbind"))
def _unbind(op):
    x = op.args[0]
    axis = _axis(op.arg("dim", 0), x.ndim)
    parts = _split_values(op, x, axis, [1] * x._array.shape[axis])
    return [op.node("Squeeze", [p, op.const([axis], numpy.int64)]) for p in parts]


@converts(*method_and_function("narrow"))
def _narrow(op):
    x, dim, start, length = op.args[0], op.arg("dim"), op.arg("start"), op.arg("length")
    axis = _axis(dim, x.ndim)
    return op.node("Slice", [op.value(x), op.g.ints([start]), op.g.ints([start + length]),
                             op.const([axis], numpy.int64)])


@converts(*method_and_function("select"))
def _select(op):
    x = op.args[0]
    return op.node("Gather", [op.value(x), op.g.value(op.arg("index"))] if isinstance(op.arg("index"), SymInt)
                   else [op.value(x), op.const(op.arg("index"), numpy.int64)], axis=_axis(op.arg("dim"), x.ndim))


@converts(*method_and_function("flip"))
def _flip(op):
    x = op.args[0]
    dims = op.arg("dims")
    axes = [_axis(d, x.ndim) for d in ((dims,) if isinstance(dims, int) else dims)]
    n = len(axes)
    return op.node("Slice", [op.value(x), op.const([-1] * n, numpy.int64), op.const([-INT64_MAX] * n, numpy.int64),
                             op.const(axes, numpy.int64), op.const([-1] * n, numpy.int64)])


@converts(*method_and_function("tril", "triu"))
def _tril(op):
    upper = int(op.display.endswith("triu"))
    return op.node("Trilu", [op.value(op.args[0]), op.const(op.arg("diagonal", 0), numpy.int64)], upper=upper)


@converts(*method_and_function("gather"))
def _gather(op):
    x = op.args[0]
    return op.node("GatherElements", [op.value(x), op.value(op.arg("index"), numpy.dtype(numpy.int64))],
                   axis=_axis(op.arg("dim"), x.ndim))


@converts(*method_and_function("index_select"))
def _index_select(op):
    x = op.args[0]
    return op.node("Gather", [op.value(x), op.value(op.arg("index"), numpy.dtype(numpy.int64))],
                   axis=_axis(op.arg("dim"), x.ndim))


def _cast_like_out(op):
    x = op.args[0]
    if x._array.dtype == out_dtype(op):
        return op.node("Identity", [op.value(x)])
    return op.g.cast(op.value(x), out_dtype(op))


converts("Tensor.to", "Tensor.type", "Tensor.type_as", "Tensor.float", "Tensor.double", "Tensor.half",
         "Tensor.long", "Tensor.int", "Tensor.bool", "Tensor.short", "Tensor.byte", "Tensor.char")(_cast_like_out)


# -- indexing -------------------------------------------------------------------------------------------


@converts("Tensor.__getitem__")
def _getitem(op):
    x, index = op.args[0], op.args[1]
    items = list(index) if isinstance(index, tuple) else [index]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if any(i is Ellipsis for i in items):
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[at:at + 1] = [slice(None)] * (x.ndim - consumed)
    items += [slice(None)] * (x.ndim - sum(1 for i in items if i is not None))
    starts, ends, axes, steps, picks, tensor_index, new_axes = [], [], [], [], [], None, []
    axis = out_axis = 0
    for item in items:
        if item is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        if isinstance(item, slice):
            if item != slice(None):
                step = 1 if item.step is None else item.step
                if not isinstance(step, int) or step <= 0:
                    op.fail("slices with a negative step are not supported")
                starts.append(0 if item.start is None else item.start)
                ends.append(INT64_MAX if item.stop is None else item.stop)
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            picks.append((axis, item))
        elif isinstance(item, Tensor) and item._array.dtype.kind in "iu" and tensor_index is None:
            tensor_index = (axis, item)
            out_axis += item.ndim
        elif isinstance(item, (list, range)) and tensor_index is None:
            from ..creation import tensor
            tensor_index = (axis, tensor(list(item)))
            out_axis += 1
        else:
            op.fail(f"indexing with {type(item).__name__} {str(item)[:40]} is not exported (ints, slices, None, "
                    "... and one integer index tensor are)")
        axis += 1
    if tensor_index is not None and picks:
        op.fail("an index tensor together with integer indices is not exported")
    value = op.value(x)
    if axes:
        value = op.node("Slice", [value, op.g.ints(starts), op.g.ints(ends), op.const(axes, numpy.int64),
                                  op.const(steps, numpy.int64)])
    if tensor_index is not None:
        t_axis, t = tensor_index
        value = op.node("Gather", [value, op.value(t, numpy.dtype(numpy.int64))], axis=t_axis)
    for axis, pick in sorted(picks, reverse=True):
        index_value = op.g.value(pick) if isinstance(pick, SymInt) else op.const(pick, numpy.int64)
        value = op.node("Gather", [value, index_value], axis=axis)
    if new_axes:
        value = op.node("Unsqueeze", [value, op.const(new_axes, numpy.int64)])
    return value


# -- creation -------------------------------------------------------------------------------------------


def _constant_of_shape(op, shape, fill):
    import onnx.numpy_helper
    dtype = out_dtype(op)
    return op.node("ConstantOfShape", [op.g.ints(shape)],
                   value=onnx.numpy_helper.from_array(numpy.asarray([fill], dtype=dtype)))


@converts("torch.zeros", "torch.ones", "torch.empty")
def _zeros(op):
    fill = 1 if op.display.endswith("ones") else 0
    return _constant_of_shape(op, _shape_arg(op.args), fill)


@converts("torch.full")
def _full(op):
    fill = op.arg("fill_value")
    if isinstance(fill, (Tensor, SymInt)):
        op.fail("full() with a traced fill value is not exported")
    return _constant_of_shape(op, _shape_arg((op.arg("size"),)), fill)


@converts("Tensor.new_zeros", "Tensor.new_ones", "Tensor.new_empty")
def _new_zeros(op):
    fill = 1 if op.display.endswith("ones") else 0
    return _constant_of_shape(op, _shape_arg(op.args[1:]), fill)


@converts("Tensor.new_full")
def _new_full(op):
    return _constant_of_shape(op, _shape_arg((op.arg("size"),)), op.arg("fill_value"))


@converts("torch.zeros_like", "torch.ones_like", "torch.full_like", "torch.empty_like", "Tensor.zero_",
          "Tensor.fill_")
def _like(op):
    import onnx.numpy_helper
    name = op.display.rsplit(".", 1)[-1]
    fill = {"zeros_like": 0, "empty_like": 0, "zero_": 0, "ones_like": 1}.get(name)
    if fill is None:
        fill = op.args[1]
    if isinstance(fill, (Tensor, SymInt)):
        op.fail("a traced fill value is not exported")
    return op.node("ConstantOfShape", [op.node("Shape", [op.value(op.args[0])])],
                   value=onnx.numpy_helper.from_array(numpy.asarray([fill], dtype=out_dtype(op))))


@converts("torch.arange")
def _arange(op):
    start, end, step = op.arg("start"), op.arg("end"), op.arg("step", 1)
    if end is None:
        start, end = 0, start
    dtype = out_dtype(op)
    return op.node("Range", [op.value(start, dtype) if isinstance(start, SymInt) else op.const(start, dtype),
                             op.value(end, dtype) if isinstance(end, SymInt) else op.const(end, dtype),
                             op.value(step, dtype) if isinstance(step, SymInt) else op.const(step, dtype)])

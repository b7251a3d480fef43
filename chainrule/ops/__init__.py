"""The primitive ops, and the one table that makes each a Tensor method and an operator.

Every op is a function whose first argument is a tensor, so the same function serves as
``chainrule.exp(x)`` and as ``x.exp()``: one definition, bound here.
"""
from ..tensor import Tensor
from . import activation, elementwise, histogram, index, inplace, linalg, reduce, shape, sort
from .activation import (elu, gelu, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, relu6, silu,
                         softmax, softplus)
from .elementwise import (abs, add, addcdiv, addcmul, allclose, bitwise_and, bitwise_not, bitwise_or,
                          bitwise_xor, ceil, clamp, clamp_max, clamp_min, clone, cos, div, eq, equal, erf,
                          exp, exp2, expm1, floor, floor_divide, fmod, ge, gt, isclose, isfinite, isinf, isnan,
                          le, lerp, log, log1p, log2, log10, logical_and, logical_not, logical_or, logical_xor,
                          lt, maximum, minimum, mul, nan_to_num, ne, neg, pow, reciprocal, relu, remainder,
                          round, rsqrt, sigmoid, sign, sin, sqrt, square, sub, tan, tanh, trunc, where)
from .elementwise import rdiv as _rdiv
from .histogram import histc, histogram
from .index import (gather, index_select, masked_fill, masked_select, nonzero, scatter, scatter_add,
                    take)
from .linalg import bmm, dot, einsum, matmul, mm, mv, outer
from .reduce import (all, amax, amin, any, argmax, argmin, count_nonzero, cumprod, cumsum, logsumexp, max, mean,
                     min, norm, prod, std, std_mean, sum, var, var_mean)
from .compose import (addmm, baddbmm, diff, index_add, index_add_, index_fill, index_fill_, meshgrid,
                      nansum, repeat_interleave, scatter_, scatter_add_, tile)
from .sort import argsort, bincount, median, sort, topk, unique
from .shape import (broadcast_tensors, broadcast_to, cat, chunk, concat, concatenate, diagonal, expand,
                    flatten, flip, hstack, narrow, permute, repeat, reshape, roll, select, split, squeeze,
                    stack, swapaxes, t, transpose, tril, triu, unbind, unflatten, unsqueeze, view, vstack)

clip = clamp
absolute = abs
negative = neg
multiply = mul
divide = true_divide = div
subtract = sub
greater = gt
less = lt
greater_equal = ge
less_equal = le
not_equal = ne

# Methods: x.name(...) is ops.name(x, ...).
_METHODS = [
    "abs", "add", "addcdiv", "addcmul", "allclose", "bitwise_not", "ceil", "clamp", "clamp_max",
    "clamp_min", "clip", "clone", "cos", "div", "divide", "eq", "equal", "erf", "exp", "exp2", "expm1", "floor",
    "floor_divide", "ge", "gt", "isclose", "isfinite", "isinf", "isnan", "le", "lerp", "log", "log1p", "log2",
    "log10", "logical_and", "logical_not", "logical_or", "logical_xor", "lt", "maximum", "minimum", "mul",
    "multiply", "nan_to_num", "ne", "neg", "negative", "pow", "reciprocal", "relu", "remainder", "round",
    "rsqrt", "sigmoid", "sign", "sin", "sqrt", "square", "sub", "subtract", "tan", "tanh", "trunc",
    "gather", "index_select", "masked_fill", "masked_select", "nonzero", "scatter", "scatter_add", "take",
    "matmul", "mm", "bmm", "dot", "mv", "outer",
    "all", "amax", "amin", "any", "argmax", "argmin", "count_nonzero", "cumprod", "cumsum", "logsumexp", "max", "mean",
    "min", "norm", "prod", "std", "sum", "var",
    "broadcast_to", "chunk", "diagonal", "expand", "flatten", "flip", "narrow", "permute", "repeat", "reshape", "roll",
    "select", "split", "squeeze", "swapaxes", "t", "transpose", "tril", "triu", "unbind", "unflatten",
    "unsqueeze", "view", "softmax", "log_softmax",
    "argsort", "bincount", "median", "sort", "topk", "unique", "histc", "histogram",
    "tile", "repeat_interleave", "addmm", "baddbmm", "fmod", "nansum", "diff", "index_add", "index_fill",
    "scatter_", "scatter_add_", "index_add_", "index_fill_",
]
for _name in _METHODS:
    setattr(Tensor, _name, globals()[_name])

Tensor.view_as = shape.view_as
Tensor.reshape_as = shape.reshape_as
Tensor.expand_as = shape.expand_as
Tensor.where = lambda self, condition, other: where(condition, self, other)
Tensor.type_as = lambda self, other: self.to(other.dtype)
Tensor.T = property(shape.T)
Tensor.mT = property(shape.mT)

# In-place methods.
for _name in ["add_", "sub_", "mul_", "div_", "pow_", "neg_", "abs_", "sqrt_", "exp_", "log_", "relu_",
              "sigmoid_", "tanh_", "clamp_", "clamp_min_", "clamp_max_", "addcmul_", "addcdiv_", "lerp_",
              "masked_fill_", "zero_", "fill_", "copy_"]:
    setattr(Tensor, _name, getattr(inplace, _name))
Tensor.clip_ = inplace.clamp_

# Operators. Reflected forms put the tensor on the right.
Tensor.__add__ = add
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = sub
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = mul
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = lambda self, other: _rdiv(self, other)
Tensor.__floordiv__ = floor_divide
Tensor.__rfloordiv__ = lambda self, other: floor_divide(other, self)
Tensor.__mod__ = remainder
Tensor.__pow__ = pow
Tensor.__rpow__ = lambda self, other: pow(other, self)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__neg__ = neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = abs
Tensor.__invert__ = lambda self: logical_not(self) if self._array.dtype == bool else bitwise_not(self)
Tensor.__and__ = lambda self, other: logical_and(self, other) if self._array.dtype == bool else bitwise_and(self, other)
Tensor.__or__ = lambda self, other: logical_or(self, other) if self._array.dtype == bool else bitwise_or(self, other)
Tensor.__xor__ = lambda self, other: logical_xor(self, other) if self._array.dtype == bool else bitwise_xor(self, other)
Tensor.__rand__ = Tensor.__and__
Tensor.__ror__ = Tensor.__or__
Tensor.__rxor__ = Tensor.__xor__


def _comparison(op):
    def method(self, other):
        if other is None or isinstance(other, (str, type)):
            return NotImplemented
        return op(self, other)
    return method


Tensor.__eq__ = _comparison(eq)
Tensor.__ne__ = _comparison(ne)
Tensor.__lt__ = _comparison(lt)
Tensor.__le__ = _comparison(le)
Tensor.__gt__ = _comparison(gt)
Tensor.__ge__ = _comparison(ge)
Tensor.__hash__ = object.__hash__
Tensor.__getitem__ = index.getitem
Tensor.__setitem__ = inplace.setitem
Tensor.__iadd__ = inplace.add_
Tensor.__isub__ = inplace.sub_
Tensor.__imul__ = inplace.mul_
Tensor.__itruediv__ = inplace.div_
Tensor.__ipow__ = inplace.pow_

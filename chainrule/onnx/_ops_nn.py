"""Converters for ``nn.functional`` and the standard layers (linear, convolution, pooling, normalization,
embedding, activations, dropout, softmax, attention).

A layer is converted whole, from its settings and parameters, through the same emitter as its functional
form (``nn.Linear`` and ``F.linear`` both go through ``_linear``). The model is exported in eval mode, so
dropout is the identity and batch norm uses its running statistics.
"""
import math

import numpy

from ._ops_tensor import flatten_value, reduce_axes, unflatten_value
from ._registry import converts, method_and_function, out_dtype

_BOOL = numpy.dtype(bool)


def _tuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _param(op, tensor, dtype=None):
    return op.value(tensor, dtype) if tensor is not None else None


def _ones(op, n, dtype):
    return op.const(numpy.ones(n, dtype=dtype))


# -- linear and convolution ---------------------------------------------------------------------------------


def _linear(op, x, weight, bias):
    dtype = out_dtype(op)
    xv, w = op.value(x, dtype), op.value(weight, dtype)
    b = _param(op, bias, dtype)
    if x.ndim == 2:
        return op.node("Gemm", [xv, w] + ([b] if b else []), transB=1)
    out = op.node("MatMul", [xv, op.node("Transpose", [w], perm=[1, 0])])
    return op.node("Add", [out, b]) if b else out


@converts("F.linear")
def _f_linear(op):
    return _linear(op, op.args[0], op.arg("weight"), op.arg("bias"))


@converts("nn.Linear")
def _nn_linear(op):
    return _linear(op, op.args[0], op.module.weight, op.module.bias)


def _conv_pads(op, padding, kernel, dilation, nd):
    if padding == "valid":
        return [0] * (2 * nd)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [t // 2 for t in totals] + [t - t // 2 for t in totals]
    padding = _tuple(padding, nd)
    return list(padding) * 2


def _conv(op, x, weight, bias, stride, padding, dilation, groups, transposed=False, output_padding=0):
    nd = weight.ndim - 2
    kernel = weight._array.shape[2:]
    dilation = _tuple(dilation, nd)
    attrs = {"strides": list(_tuple(stride, nd)), "dilations": list(dilation), "group": int(groups),
             "kernel_shape": list(kernel), "pads": _conv_pads(op, padding, kernel, dilation, nd)}
    if transposed:
        attrs["output_padding"] = list(_tuple(output_padding, nd))
    dtype = out_dtype(op)
    inputs = [op.value(x, dtype), op.value(weight, dtype)] + ([op.value(bias, dtype)] if bias is not None else [])
    unbatched = x.ndim == nd + 1
    if unbatched:
        inputs[0] = op.node("Unsqueeze", [inputs[0], op.const([0], numpy.int64)])
    out = op.node("ConvTranspose" if transposed else "Conv", inputs, **attrs)
    return op.node("Squeeze", [out, op.const([0], numpy.int64)]) if unbatched else out


@converts("F.conv1d", "F.conv2d")
def _f_conv(op):
    return _conv(op, op.args[0], op.arg("weight"), op.arg("bias"), op.arg("stride"), op.arg("padding"),
                 op.arg("dilation"), op.arg("groups"))


@converts("F.conv_transpose1d", "F.conv_transpose2d")
def _f_conv_transpose(op):
    return _conv(op, op.args[0], op.arg("weight"), op.arg("bias"), op.arg("stride"), op.arg("padding"),
                 op.arg("dilation"), op.arg("groups"), transposed=True, output_padding=op.arg("output_padding"))


@converts("nn.Conv1d", "nn.Conv2d", "nn.ConvTranspose1d", "nn.ConvTranspose2d")
def _nn_conv(op):
    m = op.module
    if m.padding_mode != "zeros":
        op.fail(f"padding_mode={m.padding_mode!r} is not exported (zeros is)")
    if m.transposed and op.args[1:2] and op.args[1] is not None:
        op.fail("ConvTranspose with output_size is not exported")
    return _conv(op, op.args[0], m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups, m.transposed,
                 m.output_padding)


# -- pooling --------------------------------------------------------------------------------------------


def _pool(op, kind, x, nd, kernel, stride, padding, ceil_mode, dilation=1, count_include_pad=True):
    kernel = _tuple(kernel, nd)
    stride = _tuple(stride if stride not in (None, ()) else kernel, nd)
    attrs = {"kernel_shape": list(kernel), "strides": list(stride), "pads": list(_tuple(padding, nd)) * 2,
             "ceil_mode": int(bool(ceil_mode))}
    if kind == "MaxPool":
        attrs["dilations"] = list(_tuple(dilation, nd))
    else:
        attrs["count_include_pad"] = int(bool(count_include_pad))
    value = op.value(x)
    unbatched = x.ndim == nd + 1
    if unbatched:
        value = op.node("Unsqueeze", [value, op.const([0], numpy.int64)])
    out = op.node(kind, [value], **attrs)
    return op.node("Squeeze", [out, op.const([0], numpy.int64)]) if unbatched else out


@converts("F.max_pool1d", "F.max_pool2d")
def _f_max_pool(op):
    if op.arg("return_indices"):
        op.fail("max pooling with return_indices=True is not exported")
    nd = 1 if op.display.endswith("1d") else 2
    return _pool(op, "MaxPool", op.args[0], nd, op.arg("kernel_size"), op.arg("stride"), op.arg("padding"),
                 op.arg("ceil_mode"), op.arg("dilation"))


@converts("F.avg_pool1d", "F.avg_pool2d")
def _f_avg_pool(op):
    if op.arg("divisor_override") is not None:
        op.fail("avg_pool2d with divisor_override is not exported")
    nd = 1 if op.display.endswith("1d") else 2
    return _pool(op, "AveragePool", op.args[0], nd, op.arg("kernel_size"), op.arg("stride"), op.arg("padding"),
                 op.arg("ceil_mode"), count_include_pad=op.arg("count_include_pad"))


@converts("nn.MaxPool1d", "nn.MaxPool2d")
def _nn_max_pool(op):
    m = op.module
    if m.return_indices:
        op.fail("max pooling with return_indices=True is not exported")
    nd = 1 if op.display.endswith("1d") else 2
    return _pool(op, "MaxPool", op.args[0], nd, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.dilation)


@converts("nn.AvgPool1d", "nn.AvgPool2d")
def _nn_avg_pool(op):
    m = op.module
    if getattr(m, "divisor_override", None) is not None:
        op.fail("AvgPool2d with divisor_override is not exported")
    nd = 1 if op.display.endswith("1d") else 2
    return _pool(op, "AveragePool", op.args[0], nd, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                 count_include_pad=m.count_include_pad)


def _adaptive_avg_pool(op, x, output_size, nd):
    """Average over PyTorch's bins: bin i of n over L spans [floor(i L / n), ceil((i + 1) L / n))."""
    sizes = x._array.shape[-nd:]
    wanted = [s if o is None else o for s, o in zip(sizes, _tuple(output_size, nd))]
    value = op.value(x)
    if all(s % o == 0 for s, o in zip(sizes, wanted)):
        if all(o == 1 for o in wanted) and x.ndim == nd + 2:
            return op.node("GlobalAveragePool", [value])
        kernel = [s // o for s, o in zip(sizes, wanted)]
        return _pool(op, "AveragePool", x, nd, kernel, kernel, 0, False)
    for axis, (length, bins) in zip(range(x.ndim - nd, x.ndim), zip(sizes, wanted)):
        parts = []
        for i in range(bins):
            start, stop = (i * length) // bins, -((-(i + 1) * length) // bins)
            piece = op.node("Slice", [value, op.const([start], numpy.int64), op.const([stop], numpy.int64),
                                      op.const([axis], numpy.int64)])
            parts.append(reduce_axes(op, "ReduceMean", piece, [axis], True))
        value = op.node("Concat", parts, axis=axis)
    return value


@converts("F.adaptive_avg_pool1d", "F.adaptive_avg_pool2d")
def _f_adaptive(op):
    return _adaptive_avg_pool(op, op.args[0], op.arg("output_size"), 1 if op.display.endswith("1d") else 2)


@converts("nn.AdaptiveAvgPool1d", "nn.AdaptiveAvgPool2d")
def _nn_adaptive(op):
    return _adaptive_avg_pool(op, op.args[0], op.module.output_size, 1 if op.display.endswith("1d") else 2)


# -- normalization --------------------------------------------------------------------------------------


def _batch_norm(op, x, mean, var, weight, bias, eps):
    if mean is None or var is None:
        op.fail("batch norm without running statistics (track_running_stats=False) is not exported")
    dtype = out_dtype(op)
    channels = x._array.shape[1]
    scale = op.value(weight, dtype) if weight is not None else _ones(op, channels, dtype)
    shift = op.value(bias, dtype) if bias is not None else op.const(numpy.zeros(channels, dtype=dtype))
    return op.node("BatchNormalization", [op.value(x, dtype), scale, shift, op.value(mean, dtype),
                                          op.value(var, dtype)], epsilon=float(eps))


@converts("F.batch_norm")
def _f_batch_norm(op):
    if op.arg("training"):
        op.fail("batch norm in training mode is not exported (the model is exported in eval mode)")
    return _batch_norm(op, op.args[0], op.arg("running_mean"), op.arg("running_var"), op.arg("weight"),
                       op.arg("bias"), op.arg("eps"))


@converts("nn.BatchNorm1d", "nn.BatchNorm2d", "nn.BatchNorm3d")
def _nn_batch_norm(op):
    m = op.module
    if m.training and m.track_running_stats:
        op.fail("batch norm in training mode is not exported")
    return _batch_norm(op, op.args[0], m.running_mean, m.running_var, m.weight, m.bias, m.eps)


def _layer_norm(op, x, normalized_shape, weight, bias, eps):
    dtype = out_dtype(op)
    k = len(_tuple(normalized_shape, 1))
    shape = x._array.shape[-k:]
    scale = op.value(weight, dtype) if weight is not None else op.const(numpy.ones(shape, dtype=dtype))
    if op.opset >= 17:
        inputs = [op.value(x, dtype), scale] + ([op.value(bias, dtype)] if bias is not None else [])
        return op.node("LayerNormalization", inputs, axis=-k, epsilon=float(eps))
    normed = _standardize(op, op.value(x, dtype), list(range(-k, 0)), eps, dtype)
    out = op.node("Mul", [normed, scale])
    return op.node("Add", [out, op.value(bias, dtype)]) if bias is not None else out


@converts("F.layer_norm")
def _f_layer_norm(op):
    return _layer_norm(op, op.args[0], op.arg("normalized_shape"), op.arg("weight"), op.arg("bias"), op.arg("eps"))


@converts("nn.LayerNorm")
def _nn_layer_norm(op):
    m = op.module
    return _layer_norm(op, op.args[0], m.normalized_shape, m.weight, m.bias, m.eps)


def _standardize(op, value, axes, eps, dtype):
    """(x - mean) / sqrt(var + eps) over ``axes`` (the biased variance, as the normalization layers use)."""
    diff = op.node("Sub", [value, reduce_axes(op, "ReduceMean", value, axes, True)])
    var = reduce_axes(op, "ReduceMean", op.node("Mul", [diff, diff]), axes, True)
    return op.node("Div", [diff, op.node("Sqrt", [op.node("Add", [var, op.const(eps, dtype)])])])


def _group_norm(op, x, groups, weight, bias, eps):
    dtype = out_dtype(op)
    xv = op.value(x, dtype)
    grouped = op.node("Reshape", [xv, op.const([0, groups, -1], numpy.int64)])   # 0: keep the batch size
    out = op.node("Reshape", [_standardize(op, grouped, [2], eps, dtype), op.node("Shape", [xv])])
    if weight is not None:
        out = op.node("Mul", [out, _per_channel(op, weight, dtype, x.ndim)])
    if bias is not None:
        out = op.node("Add", [out, _per_channel(op, bias, dtype, x.ndim)])
    return out


def _per_channel(op, param, dtype, ndim):
    """A (C,) parameter reshaped to (C, 1, ...), so that it broadcasts over an (N, C, ...) input."""
    return op.node("Reshape", [op.value(param, dtype), op.const([-1] + [1] * (ndim - 2), numpy.int64)])


@converts("F.group_norm")
def _f_group_norm(op):
    return _group_norm(op, op.args[0], op.arg("num_groups"), op.arg("weight"), op.arg("bias"), op.arg("eps"))


@converts("nn.GroupNorm")
def _nn_group_norm(op):
    m = op.module
    return _group_norm(op, op.args[0], m.num_groups, m.weight, m.bias, m.eps)


@converts("F.normalize")
def _f_normalize(op):
    x, p, dim, eps = op.args[0], op.arg("p"), op.arg("dim"), op.arg("eps")
    kind = {1: "ReduceL1", 1.0: "ReduceL1", 2: "ReduceL2", 2.0: "ReduceL2"}.get(p)
    if kind is None:
        op.fail(f"normalize with p={p} is not exported (p=1 and p=2 are)")
    dtype = out_dtype(op)
    xv = op.value(x, dtype)
    axis = dim + x.ndim if dim < 0 else dim
    norm = reduce_axes(op, kind, xv, [axis], True)
    return op.node("Div", [xv, op.node("Max", [norm, op.const(eps, dtype)])])


# -- embedding, dropout, identity ---------------------------------------------------------------------------


def _embedding(op, ids, weight, max_norm):
    if max_norm is not None:
        op.fail("Embedding with max_norm is not exported (it changes the weights while it runs)")
    return op.node("Gather", [op.value(weight), op.value(ids, numpy.dtype(numpy.int64))], axis=0)


@converts("F.embedding")
def _f_embedding(op):
    return _embedding(op, op.args[0], op.arg("weight"), op.arg("max_norm"))


@converts("nn.Embedding")
def _nn_embedding(op):
    return _embedding(op, op.args[0], op.module.weight, op.module.max_norm)


@converts("F.dropout", "F.dropout1d", "F.dropout2d", "F.dropout3d", "F.alpha_dropout")
def _f_dropout(op):
    if op.arg("training", True) and op.arg("p", 0.5) > 0:
        op.fail("dropout with training=True is not exported: pass training=self.training (the export runs in "
                "eval mode) or p=0")
    return op.node("Identity", [op.value(op.args[0])])


@converts("nn.Dropout", "nn.Dropout1d", "nn.Dropout2d", "nn.Dropout3d", "nn.AlphaDropout", "nn.Identity")
def _nn_identity(op):
    if op.module.training and getattr(op.module, "p", 0) > 0:
        op.fail("dropout in training mode is not exported")
    return op.node("Identity", [op.value(op.args[0])])


@converts("nn.Flatten")
def _nn_flatten(op):
    return flatten_value(op, op.args[0], op.module.start_dim, op.module.end_dim)


@converts("nn.Unflatten")
def _nn_unflatten(op):
    return unflatten_value(op, op.args[0], op.module.dim, op.module.unflattened_size)


# -- activations ----------------------------------------------------------------------------------------


def _gelu(op, x, approximate):
    dtype = out_dtype(op)
    xv = op.value(x, dtype)
    if op.opset >= 20:
        return op.node("Gelu", [xv], approximate=approximate)
    half = op.node("Mul", [xv, op.const(0.5, dtype)])
    if approximate == "tanh":
        cube = op.node("Mul", [op.node("Mul", [xv, xv]), xv])
        inner = op.node("Mul", [op.node("Add", [xv, op.node("Mul", [cube, op.const(0.044715, dtype)])]),
                                op.const(math.sqrt(2 / math.pi), dtype)])
        return op.node("Mul", [half, op.node("Add", [op.node("Tanh", [inner]), op.const(1.0, dtype)])])
    erf = op.node("Erf", [op.node("Div", [xv, op.const(math.sqrt(2.0), dtype)])])
    return op.node("Mul", [half, op.node("Add", [erf, op.const(1.0, dtype)])])


def _softplus(op, x, beta, threshold):
    dtype = out_dtype(op)
    xv = op.value(x, dtype)
    scaled = op.node("Mul", [xv, op.const(beta, dtype)]) if beta != 1 else xv
    soft = op.node("Softplus", [scaled])
    if beta != 1:
        soft = op.node("Div", [soft, op.const(beta, dtype)])
    return op.node("Where", [op.node("Greater", [scaled, op.const(threshold, dtype)]), xv, soft])


def _activation(op, name, x, **p):
    """One activation by PyTorch's name, with its settings."""
    dtype = out_dtype(op)
    xv = op.value(x, dtype)
    c = lambda v: op.const(v, dtype)   # noqa: E731
    if name == "relu":
        return op.node("Relu", [xv])
    if name == "relu6":
        return op.node("Clip", [xv, c(0.0), c(6.0)])
    if name == "hardtanh":
        return op.node("Clip", [xv, c(p["min_val"]), c(p["max_val"])])
    if name == "leaky_relu":
        return op.node("LeakyRelu", [xv], alpha=float(p["negative_slope"]))
    if name == "elu":
        return op.node("Elu", [xv], alpha=float(p["alpha"]))
    if name == "celu":
        return op.node("Celu", [xv], alpha=float(p["alpha"]))
    if name == "selu":
        return op.node("Selu", [xv])
    if name == "sigmoid":
        return op.node("Sigmoid", [xv])
    if name == "tanh":
        return op.node("Tanh", [xv])
    if name == "silu":
        return op.node("Mul", [xv, op.node("Sigmoid", [xv])])
    if name == "gelu":
        return _gelu(op, x, p.get("approximate", "none"))
    if name == "softplus":
        return _softplus(op, x, p["beta"], p["threshold"])
    if name == "mish":
        return op.node("Mish", [xv]) if op.opset >= 18 else \
            op.node("Mul", [xv, op.node("Tanh", [op.node("Softplus", [xv])])])
    if name == "hardsigmoid":
        return op.node("HardSigmoid", [xv], alpha=1 / 6, beta=0.5)
    if name == "hardswish":
        return op.node("HardSwish", [xv])
    if name == "softsign":
        return op.node("Softsign", [xv])
    if name == "logsigmoid":
        return op.node("Neg", [op.node("Softplus", [op.node("Neg", [xv])])])
    if name == "tanhshrink":
        return op.node("Sub", [xv, op.node("Tanh", [xv])])
    if name == "threshold":
        return op.node("Where", [op.node("Greater", [xv, c(p["threshold"])]), xv, c(p["value"])])
    if name == "glu":
        dim = p.get("dim", -1)
        axis = dim + x.ndim if dim < 0 else dim
        half = x._array.shape[axis] // 2
        a, b = op.node("Split", [xv, op.const([half, half], numpy.int64)], n_out=2, axis=axis)
        return op.node("Mul", [a, op.node("Sigmoid", [b])])
    raise AssertionError(name)


_ACTIVATION_DEFAULTS = {"leaky_relu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}, "celu": {"alpha": 1.0},
                        "hardtanh": {"min_val": -1.0, "max_val": 1.0}, "softplus": {"beta": 1.0, "threshold": 20.0},
                        "gelu": {"approximate": "none"}, "glu": {"dim": -1}}


def _functional_activation(name):
    def convert(op):
        settings = dict(_ACTIVATION_DEFAULTS.get(name, {}))
        settings.update({k: v for k, v in op.bound.items() if k in settings or k in ("threshold", "value")})
        return _activation(op, name, op.args[0], **settings)
    return convert


for _name in ("relu6", "hardtanh", "leaky_relu", "elu", "celu", "selu", "silu", "gelu", "softplus", "mish",
              "hardsigmoid", "hardswish", "softsign", "logsigmoid", "tanhshrink", "threshold", "glu"):
    converts(f"F.{_name}", *((f"torch.{_name}",) if _name in ("relu6", "hardtanh", "leaky_relu", "elu", "selu",
                                                                "silu", "gelu", "softplus", "mish", "logsigmoid")
                             else ()))(_functional_activation(_name))

_MODULE_ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "Hardtanh": "hardtanh", "LeakyReLU": "leaky_relu",
                       "ELU": "elu", "CELU": "celu", "SELU": "selu", "Sigmoid": "sigmoid", "Tanh": "tanh",
                       "SiLU": "silu", "GELU": "gelu", "Softplus": "softplus", "Mish": "mish",
                       "Hardsigmoid": "hardsigmoid", "Hardswish": "hardswish", "Softsign": "softsign",
                       "LogSigmoid": "logsigmoid", "Tanhshrink": "tanhshrink", "Threshold": "threshold",
                       "GLU": "glu"}


def _module_activation(op):
    name = _MODULE_ACTIVATIONS[type(op.module).__name__]
    settings = {k: getattr(op.module, k) for k in ("negative_slope", "alpha", "min_val", "max_val", "beta",
                                                    "threshold", "value", "approximate", "dim")
                if hasattr(op.module, k)}
    if name in ("relu6",):
        settings = {}
    return _activation(op, name, op.args[0], **settings)


converts(*(f"nn.{name}" for name in _MODULE_ACTIVATIONS))(_module_activation)


# -- softmax ---------------------------------------------------------------------------------------------


def _softmax(op, kind, x, dim, dtype=None, negate=False):
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1   # PyTorch's legacy choice when no dim is given
    value = op.value(x, out_dtype(op))
    if negate:
        value = op.node("Neg", [value])
    return op.node(kind, [value], axis=dim + x.ndim if dim < 0 else dim)


@converts(*method_and_function("softmax"), "F.softmax")
def _f_softmax(op):
    return _softmax(op, "Softmax", op.args[0], op.arg("dim"))


@converts(*method_and_function("log_softmax"), "F.log_softmax")
def _f_log_softmax(op):
    return _softmax(op, "LogSoftmax", op.args[0], op.arg("dim"))


@converts("F.softmin")
def _f_softmin(op):
    return _softmax(op, "Softmax", op.args[0], op.arg("dim"), negate=True)


@converts("nn.Softmax", "nn.LogSoftmax", "nn.Softmin")
def _nn_softmax(op):
    name = type(op.module).__name__
    return _softmax(op, "LogSoftmax" if name == "LogSoftmax" else "Softmax", op.args[0], op.module.dim,
                    negate=name == "Softmin")


# -- padding, one-hot -----------------------------------------------------------------------------------


@converts("F.pad")
def _f_pad(op):
    x, pad, mode, value = op.args[0], list(op.arg("pad")), op.arg("mode"), op.arg("value")
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode)
    if onnx_mode is None or (onnx_mode == "wrap" and op.opset < 19):
        op.fail(f"pad mode {mode!r} is not exported at opset {op.opset}")
    begins, ends = [0] * x.ndim, [0] * x.ndim
    for i in range(len(pad) // 2):
        begins[x.ndim - 1 - i], ends[x.ndim - 1 - i] = pad[2 * i], pad[2 * i + 1]
    inputs = [op.value(x), op.g.ints(begins + ends)]
    if onnx_mode == "constant":
        inputs.append(op.const(value or 0, out_dtype(op)))
    return op.node("Pad", inputs, mode=onnx_mode)


@converts("F.one_hot")
def _f_one_hot(op):
    depth = op.out._array.shape[-1]
    return op.node("OneHot", [op.value(op.args[0], numpy.dtype(numpy.int64)), op.const(depth, numpy.int64),
                              op.const([0, 1], numpy.int64)], axis=-1)


# -- attention ------------------------------------------------------------------------------------------


def _attention_core(op, q, k, v, rank, scale, mask=None, mask_is_bool_keep=None, causal_sizes=None, dtype=None):
    """softmax(q kᵀ scale [+ mask]) v on values (..., L, E), (..., S, E), (..., S, Ev) of ``rank`` dims.

    Returns (out, weights). A boolean mask keeps (``mask_is_bool_keep``) or drops its True positions; a
    float mask is added to the scores.
    """
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    kt = op.node("Transpose", [k], perm=perm)
    scores = op.node("Mul", [op.node("MatMul", [q, kt]), op.const(scale, dtype)])
    minus_inf = op.const(-numpy.inf, dtype)
    if causal_sizes is not None:
        L, S = causal_sizes
        import onnx.numpy_helper
        ones = op.node("ConstantOfShape", [op.g.ints([L, S])],
                       value=onnx.numpy_helper.from_array(numpy.asarray([1], dtype=numpy.int64)))
        keep = op.g.cast(op.node("Trilu", [ones, op.const(0, numpy.int64)], upper=0), _BOOL)
        scores = op.node("Where", [keep, scores, minus_inf])
    if mask is not None:
        if mask_is_bool_keep is None:
            scores = op.node("Add", [scores, mask])
        elif mask_is_bool_keep:
            scores = op.node("Where", [mask, scores, minus_inf])
        else:
            scores = op.node("Where", [mask, minus_inf, scores])
    weights = op.node("Softmax", [scores], axis=-1)
    return op.node("MatMul", [weights, v]), weights


@converts("F.scaled_dot_product_attention")
def _f_sdpa(op):
    q, k, v = op.args[0], op.arg("key"), op.arg("value")
    if op.arg("dropout_p", 0.0) > 0:
        op.fail("scaled_dot_product_attention with dropout_p > 0 is not exported: pass dropout_p=0 at evaluation")
    if op.arg("enable_gqa") and q.ndim >= 3 and q._array.shape[-3] != k._array.shape[-3]:
        op.fail("grouped-query attention (enable_gqa with fewer key heads) is not exported")
    dtype = out_dtype(op)
    scale = op.arg("scale")
    scale = 1.0 / math.sqrt(q._array.shape[-1]) if scale is None else scale
    mask = op.arg("attn_mask")
    mask_value, keep = None, None
    if mask is not None:
        keep = True if mask._array.dtype == _BOOL else None
        mask_value = op.value(mask) if keep else op.value(mask, dtype)
    causal = None
    if op.arg("is_causal"):
        causal = (op.g.sizes_of(q)[-2], op.g.sizes_of(k)[-2])
    out, _ = _attention_core(op, op.value(q, dtype), op.value(k, dtype), op.value(v, dtype), k.ndim, scale,
                             mask_value, keep, causal, dtype)
    return out


@converts("nn.MultiheadAttention")
def _nn_mha(op):
    m = op.module
    query = op.args[0]
    key = op.arg("key", query) if len(op.args) < 2 else op.args[1]
    value = op.arg("value", key) if len(op.args) < 3 else op.args[2]
    if query.ndim != 3:
        op.fail("unbatched MultiheadAttention input is not exported (give a batch dimension)")
    if m.bias_k is not None or m.add_zero_attn:
        op.fail("MultiheadAttention with add_bias_kv or add_zero_attn is not exported")
    if m.training and m.dropout > 0:
        op.fail("MultiheadAttention dropout in training mode is not exported")
    dtype = out_dtype(op)
    E, H = m.embed_dim, m.num_heads
    D = E // H
    proj = []
    for i, (x, name) in enumerate(((query, "q"), (key, "k"), (value, "v"))):
        if getattr(m, "in_proj_weight", None) is not None:
            w = m.in_proj_weight._array[i * E:(i + 1) * E]
            wname = op.g.param_names.get(id(m.in_proj_weight), "in_proj_weight")
            weight = op.g.constant(numpy.ascontiguousarray(w.T), f"{wname}.{name}.T")
        else:
            p = getattr(m, f"{name}_proj_weight")
            weight = op.g.constant(numpy.ascontiguousarray(p._array.T),
                                   f"{op.g.param_names.get(id(p), name + '_proj_weight')}.T")
        xv = op.value(x, dtype)
        if not m.batch_first:
            xv = op.node("Transpose", [xv], perm=[1, 0, 2])
        y = op.node("MatMul", [xv, weight])
        if getattr(m, "in_proj_bias", None) is not None:
            y = op.node("Add", [y, op.const(m.in_proj_bias._array[i * E:(i + 1) * E])])
        heads = op.node("Reshape", [y, op.const([0, 0, H, D], numpy.int64)])   # 0: keep batch and length
        proj.append(op.node("Transpose", [heads], perm=[0, 2, 1, 3]))
    mask, keep = _mha_masks(op, m, dtype)
    out, weights = _attention_core(op, proj[0], proj[1], proj[2], 4, 1.0 / math.sqrt(D), mask, keep, None, dtype)
    merged = op.node("Reshape", [op.node("Transpose", [out], perm=[0, 2, 1, 3]), op.const([0, 0, E], numpy.int64)])
    result = _linear_value(op, merged, m.out_proj.weight, m.out_proj.bias, dtype)
    if not m.batch_first:
        result = op.node("Transpose", [result], perm=[1, 0, 2])
    if not op.arg("need_weights", True):
        if op.out[1] is not None:
            raise AssertionError("need_weights=False returned weights")
        return [result, None]
    if op.arg("average_attn_weights", True):
        weights = reduce_axes(op, "ReduceMean", weights, [1], False)
    return [result, weights]


def _linear_value(op, value, weight, bias, dtype):
    out = op.node("MatMul", [value, op.node("Transpose", [op.value(weight, dtype)], perm=[1, 0])])
    return op.node("Add", [out, op.value(bias, dtype)]) if bias is not None else out


def _mha_masks(op, m, dtype):
    """One additive float mask (or None) from MultiheadAttention's attn_mask and key_padding_mask."""
    total = None
    for mask, kind in ((op.arg("attn_mask"), "attn"), (op.arg("key_padding_mask"), "padding")):
        if mask is None:
            continue
        mv = op.value(mask)
        if mask._array.dtype == _BOOL:
            mv = op.node("Where", [mv, op.const(-numpy.inf, dtype), op.const(0.0, dtype)])
        else:
            mv = op.value(mask, dtype)
        if kind == "padding":
            mv = op.node("Unsqueeze", [mv, op.const([1, 2], numpy.int64)])        # (N, S) -> (N, 1, 1, S)
        elif mask.ndim == 3:
            mv = op.node("Reshape", [mv, op.const([-1, m.num_heads, 0, 0], numpy.int64)])   # (N*H, L, S)
        total = mv if total is None else op.node("Add", [total, mv])
    if total is None and op.arg("is_causal") and op.arg("attn_mask") is None:
        op.fail("MultiheadAttention(is_causal=True) needs attn_mask, as in PyTorch")
    return total, None

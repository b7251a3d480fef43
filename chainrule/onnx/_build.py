"""One export: prepare the inputs and the model, trace a forward pass, and assemble the ONNX model.

The model runs in eval mode with its parameters' ``requires_grad`` switched off and the float inputs'
switched on (the tracer's safety net: only values computed from the inputs have a ``grad_fn``); all of
this, and the wrapped ops, are restored afterwards whatever happens.
"""
import inspect

from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor
from . import _ops_nn, _ops_rnn, _ops_tensor  # noqa: F401  (they fill the converter table)
from . import _tracer
from ._graph import Graph, onnx_dtype
from .errors import OnnxExporterError


def _split_args(args, kwargs):
    """PyTorch's forms: a tensor, a tuple of arguments, or a tuple ending with a dict of keyword arguments."""
    if isinstance(args, Tensor):
        args = (args,)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if args and isinstance(args[-1], dict) and not kwargs:
        args, kwargs = args[:-1], args[-1]
    return args, dict(kwargs)


def _input_names(model, args, kwargs, given):
    """Names for the tensor arguments: ``input_names`` first, then the forward's parameter names."""
    try:
        params = [p for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names, given = [], list(given or [])
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            names.append(given.pop(0) if given else (params[i].name if i < len(params) else f"input_{i}"))
    for key, a in kwargs.items():
        if isinstance(a, Tensor):
            names.append(given.pop(0) if given else key)
    return names


def _flatten(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    return [out] if isinstance(out, Tensor) else []


def _axes(spec):
    """dynamic_axes entry: {axis: name} or [axes] -> {axis: name}."""
    if isinstance(spec, dict):
        return {int(k): str(v) for k, v in spec.items()}
    return {int(a): f"dim_{a}" for a in spec}


def _value_info(onnx, name, array, dynamic_dims, static):
    dims = []
    for axis, n in enumerate(array.shape):
        if axis in dynamic_dims:
            dims.append(dynamic_dims[axis])
        else:
            dims.append(int(n) if static else None)
    return onnx.helper.make_tensor_value_info(name, onnx_dtype(array.dtype), dims)


def build(onnx, model, args, kwargs, opset, input_names, output_names, dynamic_axes, export_params,
          keep_initializers_as_inputs):
    if not export_params:
        raise OnnxExporterError("chainrule.onnx.export: export_params=False is not supported (the file always "
                                "holds the parameters)")
    args, kwargs = _split_args(args, kwargs)
    names = _input_names(model, args, kwargs, input_names)
    unknown = set(dynamic_axes) - set(names) - set(output_names or []) - {"output"}
    if unknown and output_names is not None:
        raise OnnxExporterError(f"chainrule.onnx.export: dynamic_axes names {sorted(unknown)}, which are neither "
                                f"inputs {names} nor outputs {list(output_names)}")
    params = {}
    for name, t in list(model.state_dict(keep_vars=True).items())[::-1]:
        params[id(t)] = name   # reversed: with tied weights the first name wins
    g = Graph(opset, bool(dynamic_axes), params)
    tracer = _tracer.Tracer(g)
    frozen = [p for p in model.parameters() if p.requires_grad]
    modes = [(m, m.training) for m in model.modules()]

    inputs, call_args, call_kwargs = [], [], {}
    pending = iter(names)

    def as_input(a):
        if not isinstance(a, Tensor):
            return a
        t = a.detach().clone()
        if t.is_floating_point():
            t.requires_grad_(True)
        name = next(pending)
        g.bind(t, name)
        inputs.append((name, t))
        return t

    call_args = [as_input(a) for a in args]
    call_kwargs = {k: as_input(v) for k, v in kwargs.items()}
    try:
        for p in frozen:
            p.requires_grad_(False)
        model.eval()
        _tracer._active = tracer
        tracer.install()
        with enable_grad():
            out = model(*call_args, **call_kwargs)
    finally:
        tracer.uninstall()
        _tracer._active = None
        for p in frozen:
            p.requires_grad_(True)
        for m, mode in modes:
            m.training = mode

    results = _flatten(out)
    if not results:
        raise OnnxExporterError("chainrule.onnx.export: the model returned no tensor")
    out_names = list(output_names or [])
    out_names += ["output" if len(results) == 1 else f"output_{i}" for i in range(len(out_names), len(results))]
    for name, t in zip(out_names, results):
        g.nodes.append(onnx.helper.make_node("Identity", [g.value(t)], [name], name=f"output:{name}"))

    graph_inputs = [_value_info(onnx, n, t._array, _axes(dynamic_axes.get(n, {})), True) for n, t in inputs]
    graph_outputs = [_value_info(onnx, n, t._array, _axes(dynamic_axes.get(n, {})), not g.dynamic)
                     for n, t in zip(out_names, results)]
    if keep_initializers_as_inputs:
        graph_inputs += [onnx.helper.make_tensor_value_info(i.name, i.data_type, list(i.dims))
                         for i in g.initializers]
    graph = onnx.helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs, g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    from .. import __version__
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="chainrule",
                                   producer_version=__version__)
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto)
    return proto


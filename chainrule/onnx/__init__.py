"""``chainrule.onnx.export``: a model to an ONNX file, by tracing one forward pass (PyTorch's ``torch.onnx.export``).

    chainrule.onnx.export(model, (x,), "model.onnx", input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})

The model runs once on the example inputs, in eval mode; each op it applies to them becomes ONNX nodes
(``_tracer``, ``_ops_*``); parameters and buffers become initializers under their ``state_dict`` names.
With ``dynamic_axes`` the sizes the model reads from its inputs are exported as computations, so the file
accepts another batch size. An op with no ONNX mapping raises ``UnsupportedOperatorError`` naming it.
Needs the ``onnx`` package (``pip install 'chainrule[onnx]'``); ``onnxruntime`` runs the result.
"""
import enum
import os

from ._tracer import is_in_onnx_export
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = ["export", "ONNXProgram", "OnnxExporterError", "UnsupportedOperatorError", "TrainingMode",
           "is_in_onnx_export", "DEFAULT_OPSET"]

DEFAULT_OPSET = 18
MIN_OPSET = 14   # Trilu, HardSwish and the Reshape/Split forms used here


class TrainingMode(enum.IntEnum):
    """``torch.onnx.TrainingMode``: the export always runs the model in eval mode (EVAL)."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


class ONNXProgram:
    """What ``export`` returns: the ONNX model (``model_proto``), which ``save`` writes to a file."""

    def __init__(self, model_proto):
        self.model_proto = model_proto

    def save(self, destination):
        data = self.model_proto.SerializeToString()
        if hasattr(destination, "write"):
            destination.write(data)
        else:
            with open(os.fspath(destination), "wb") as out:
                out.write(data)

    def __repr__(self):
        graph = self.model_proto.graph
        return (f"ONNXProgram(opset {self.model_proto.opset_import[0].version}, {len(graph.node)} nodes, inputs "
                f"{[i.name for i in graph.input]}, outputs {[o.name for o in graph.output]})")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("chainrule.onnx.export needs the onnx package: pip install 'chainrule[onnx]' (or pip "
                          "install onnx); onnxruntime runs the exported file") from None
    return onnx


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None, output_names=None,
           opset_version=None, dynamo=True, external_data=True, dynamic_shapes=None, custom_translation_table=None,
           report=False, optimize=True, verify=False, profile=False, dump_exported_program=False, artifacts_dir=".",
           fallback=False, export_params=True, keep_initializers_as_inputs=False, dynamic_axes=None,
           training=TrainingMode.EVAL, operator_export_type=None, do_constant_folding=True, custom_opsets=None,
           export_modules_as_functions=False, autograd_inlining=True):
    """Export ``model`` called on ``args`` to ONNX; write it to ``f`` (a path or binary file) if given.

    PyTorch's signature. Honoured: args/kwargs, input_names, output_names, opset_version (14 to the
    onnx package's newest; default 18), dynamic_axes, export_params, keep_initializers_as_inputs,
    verbose. ``dynamo`` and the options of PyTorch's own exporters (report, optimize, profile...) are
    accepted and have no effect here; ``dynamic_shapes``, ``custom_translation_table``,
    ``export_modules_as_functions`` and ``training=TRAINING`` are refused.
    """
    onnx = _onnx()
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise OnnxExporterError(f"chainrule.onnx.export: opset_version {opset} is outside {MIN_OPSET}..{newest}")
    for name, value in (("dynamic_shapes", dynamic_shapes), ("custom_translation_table", custom_translation_table),
                        ("export_modules_as_functions", export_modules_as_functions),
                        ("custom_opsets", custom_opsets)):
        if value:
            hint = " (dynamic_axes is)" if name == "dynamic_shapes" else ""
            raise OnnxExporterError(f"chainrule.onnx.export: {name} is not supported{hint}")
    if training == TrainingMode.TRAINING:
        raise OnnxExporterError("chainrule.onnx.export: training=TRAINING is not supported; the export runs the "
                                "model in eval mode")
    from . import _build
    proto = _build.build(onnx, model, args, kwargs or {}, opset, input_names, output_names, dynamic_axes or {},
                         export_params, keep_initializers_as_inputs)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    program = ONNXProgram(proto)
    if f is not None:
        program.save(f)
    return program


from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

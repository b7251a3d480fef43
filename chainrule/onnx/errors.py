"""Errors of ``chainrule.onnx.export`` (PyTorch's names: ``torch.onnx.errors``)."""


class OnnxExporterError(RuntimeError):
    """The model cannot be exported as asked (a setting, a construct the trace cannot express)."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op the model calls has no ONNX mapping in chainrule; the message names the op and where it was called."""

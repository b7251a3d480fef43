"""The table of converters: for each op, the function that writes its ONNX nodes.

A converter receives a ``Call`` -- the op's arguments bound to its parameter names, the result it
computed, and the graph -- and returns the value name of the result (a list of names for a tuple). Keys
name where the op was reached: ``Tensor.add`` (a method or operator), ``torch.add`` (a function of the
``chainrule``/``torch`` module), ``F.relu`` (``nn.functional``), ``nn.LSTM`` (a layer, converted whole).
"""
import functools
import inspect

import numpy

from ..tensor import Tensor

CONVERTERS = {}


def converts(*keys):
    def register(fn):
        for key in keys:
            if key in CONVERTERS:
                raise AssertionError(f"two converters for {key}")
            CONVERTERS[key] = fn
        return fn
    return register


def method_and_function(*names):
    """``Tensor.name`` and ``torch.name`` for each name."""
    return tuple(k for n in names for k in (f"Tensor.{n}", f"torch.{n}"))


@functools.lru_cache(maxsize=None)
def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


class Call:
    """One traced op: its bound arguments, its result, and the graph to write into."""

    def __init__(self, g, display, original, args, kwargs, out, module=None):
        self.g, self.display, self.args, self.kwargs, self.out, self.module = g, display, args, kwargs, out, module
        # A layer's arguments bind to its class's forward (self first); an op's to the op function.
        target, bind_args = (type(module).forward, (module, *args)) if module is not None else (original, args)
        sig = _signature(target)
        self.bound = {}
        if sig is not None:
            try:
                bound = sig.bind(*bind_args, **kwargs)
                bound.apply_defaults()
                self.bound = dict(bound.arguments)
            except TypeError:
                pass
        name = display.rsplit(".", 1)[-1]
        self.inplace = (name.endswith("_") and not name.endswith("__")) or name in {
            "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__"}

    def arg(self, name, default=None):
        return self.bound.get(name, default)

    def value(self, x, dtype=None):
        return self.g.value(x, dtype)

    def node(self, op, inputs, n_out=1, **attrs):
        return self.g.node(op, inputs, n_out, **attrs)

    def const(self, array, dtype=None):
        return self.g.constant(numpy.asarray(array, dtype=dtype))

    @property
    def opset(self):
        return self.g.opset

    def fail(self, why):
        from .errors import OnnxExporterError
        from ._tracer import _caller
        raise OnnxExporterError(f"chainrule.onnx.export: {self.display}: {why} (called at {_caller()})")


def out_dtype(op):
    out = op.out[0] if isinstance(op.out, (tuple, list)) else op.out
    return out._array.dtype if isinstance(out, Tensor) else None

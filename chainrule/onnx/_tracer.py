"""Tracing a forward pass: every op the model calls on a traced tensor becomes ONNX nodes.

For the duration of one ``export``, the public ops are wrapped where a model reaches them: the methods and
operators of ``Tensor``, the functions of ``chainrule`` (``torch.cat``) and ``chainrule.nn.functional``,
and ``Module.__call__`` for the standard layers (one layer, one converter, whatever it does inside). A
wrapped call whose arguments include a traced tensor or a symbolic size runs as usual and then hands its
arguments and result to the op's converter (``_registry``), which emits the ONNX nodes that compute that
result; calls made inside it are not traced again. A call with no converter raises
``UnsupportedOperatorError`` naming the op and the line that called it.

A safety net catches ops reached around the wrappers (a function imported by name before the export,
say): float inputs are traced with ``requires_grad`` and parameters without, so a tensor that has a
``grad_fn`` but no value in the graph was computed from the inputs by an op the trace did not see.
"""
import functools
import inspect
import os
import sys

from .. import nn as _nn
from ..nn.modules.module import Module
from ..tensor import Size, Tensor
from . import _registry
from ._graph import SymInt
from .errors import OnnxExporterError, UnsupportedOperatorError

# Tensor attributes that are not ops: left alone.
_NOT_OPS = {"__init__", "__new__", "__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__repr__",
            "__str__", "__format__", "__hash__", "__reduce__", "__reduce_ex__", "__deepcopy__", "__dir__",
            "__sizeof__", "__init_subclass__", "__subclasshook__", "__getstate__", "__array__", "__iter__",
            "__len__", "__class__", "dim", "ndimension", "is_floating_point", "is_contiguous", "element_size",
            "data_ptr", "backward", "register_hook", "register_post_accumulate_grad_hook", "retain_grad",
            "requires_grad_", "cpu", "cuda", "numel", "nelement", "equal", "allclose", "size"}
# Reading a traced tensor's value into Python: the trace would bake in one input's answer.
_READS_VALUE = {"item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__complex__"}
_NOT_FUNCTIONS = {"load", "save", "compile", "install_as_torch", "is_tensor", "is_grad_enabled", "manual_seed",
                  "seed", "initial_seed", "get_rng_state", "set_rng_state", "get_default_dtype", "set_default_dtype",
                  "get_num_threads", "set_num_threads", "numel", "is_floating_point", "equal", "allclose"}

_active = None   # the Tracer of the export in progress


def is_in_onnx_export():
    return _active is not None


def _caller():
    """``file:line`` of the model code that made the call (the first frame outside chainrule)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame = sys._getframe(2)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
    return f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "?"


class Tracer:
    def __init__(self, graph):
        self.g = graph
        self.depth = 0
        self._patches = []

    # -- what a call involves -------------------------------------------------------------------------
    def involves(self, args, kwargs):
        stack = list(args) + list(kwargs.values())
        while stack:
            a = stack.pop()
            if isinstance(a, Tensor):
                if self.g.is_traced(a):
                    return True
                if a.grad_fn is not None:
                    raise UnsupportedOperatorError(
                        f"chainrule.onnx.export: a tensor made by {a.grad_fn.name()} from the model's inputs reached "
                        f"an op ({_caller()}) without passing through the trace: the function that made it was "
                        "probably imported by name before the export (call it through its module, torch.X), or "
                        "has no ONNX mapping")
            elif isinstance(a, SymInt):
                return True
            elif isinstance(a, (list, tuple)):
                stack.extend(a)
            elif isinstance(a, slice):
                stack.extend((a.start, a.stop, a.step))
            elif isinstance(a, dict):
                stack.extend(a.values())
        return False

    # -- a wrapped call --------------------------------------------------------------------------------
    def call(self, key, display, original, args, kwargs, module=None):
        if self.depth or not self.involves(args, kwargs):
            return original(*args, **kwargs)
        convert = _registry.CONVERTERS.get(key)
        if convert is None:
            raise UnsupportedOperatorError(f"chainrule.onnx.export: {display} has no ONNX mapping in chainrule "
                                           f"(called at {_caller()})")
        self.depth += 1
        try:
            out = original(*args, **kwargs)
        finally:
            self.depth -= 1
        op = _registry.Call(self.g, display, original, args, kwargs, out, module)
        if op.inplace:
            self._check_no_alias(args[0], display)
        names = convert(op)
        self._bind(out, names, display)
        return out

    def _bind(self, out, names, display):
        if isinstance(out, Tensor):
            if not isinstance(names, str):
                raise AssertionError(f"converter of {display} returned {names!r} for one tensor")
            self.g.bind(out, names)
        elif isinstance(out, (tuple, list)):
            for o, n in zip(out, names):
                self._bind(o, n, display)

    def _check_no_alias(self, target, display):
        import numpy
        for other in self.g._keep:
            if other is not target and isinstance(other, Tensor) and numpy.may_share_memory(other._array,
                                                                                           target._array):
                raise OnnxExporterError(f"chainrule.onnx.export: {display} changes a tensor in place that shares "
                                        f"memory with another traced tensor (a view); this cannot be exported "
                                        f"(called at {_caller()})")

    # -- installing the wrappers ---------------------------------------------------------------------------
    def _wrap(self, owner, name, key, display):
        original = owner.__dict__[name]
        if name in _READS_VALUE:
            def wrapper(*args, **kwargs):
                if self.depth == 0 and args and self.g.is_traced(args[0]):
                    raise OnnxExporterError(f"chainrule.onnx.export: the model reads a traced tensor's value into "
                                            f"Python ({display}, at {_caller()}); an exported graph cannot repeat a "
                                            "decision made from one input's values")
                return original(*args, **kwargs)
        else:
            def wrapper(*args, **kwargs):
                return self.call(key, display, original, args, kwargs)
        functools.update_wrapper(wrapper, original)
        self._patches.append((owner, name, original))
        setattr(owner, name, wrapper)

    def install(self):
        import chainrule
        from ..nn import functional as F
        for name, attr in list(vars(Tensor).items()):
            if name in _NOT_OPS or (name.startswith("_") and not name.startswith("__")):
                continue
            if inspect.isfunction(attr):
                self._wrap(Tensor, name, f"Tensor.{name}", f"torch.Tensor.{name}")
        for name, attr in list(vars(chainrule).items()):
            if inspect.isfunction(attr) and name not in _NOT_FUNCTIONS and not name.startswith("_"):
                self._wrap(chainrule, name, f"torch.{name}", f"torch.{name}")
        for name, attr in list(vars(F).items()):
            if inspect.isfunction(attr) and not name.startswith("_"):
                self._wrap(F, name, f"F.{name}", f"torch.nn.functional.{name}")
        self._install_properties()
        self._install_module_call()

    def _install_properties(self):
        tracer = self
        shape, transpose, mtranspose = Tensor.__dict__["shape"], Tensor.__dict__["T"], Tensor.__dict__["mT"]
        size, data = Tensor.__dict__["size"], Tensor.__dict__["data"]

        def traced_shape(t):
            return Size(tracer.g.sizes_of(t)) if tracer.depth == 0 else shape.fget(t)

        def traced_size(t, dim=None):
            if tracer.depth or dim is not None and not isinstance(dim, int):
                return size(t, dim)
            sizes = tracer.g.sizes_of(t)
            return Size(sizes) if dim is None else sizes[dim]

        def as_call(prop, key, display):
            def getter(t):
                return tracer.call(key, display, prop.fget, (t,), {})
            return property(getter)

        self._patches += [(Tensor, "shape", shape), (Tensor, "T", transpose), (Tensor, "mT", mtranspose),
                          (Tensor, "size", size), (Tensor, "data", data)]
        Tensor.shape = property(traced_shape)
        Tensor.size = traced_size
        Tensor.T = as_call(transpose, "Tensor.T", "torch.Tensor.T")
        Tensor.mT = as_call(mtranspose, "Tensor.mT", "torch.Tensor.mT")
        Tensor.data = property(as_call(data, "Tensor.data", "torch.Tensor.data").fget, data.fset)

    def _install_module_call(self):
        tracer = self
        original = Module.__dict__["__call__"]

        def call(module, *args, **kwargs):
            cls = type(module)
            key = f"nn.{cls.__name__}"
            # Only chainrule's own layers (not a subclass with its own forward) are converted whole.
            if tracer.depth == 0 and key in _registry.CONVERTERS and getattr(_nn, cls.__name__, None) is cls:
                return tracer.call(key, f"torch.nn.{cls.__name__}", functools.partial(original, module), args, kwargs,
                                   module=module)
            return original(module, *args, **kwargs)

        self._patches.append((Module, "__call__", original))
        Module.__call__ = call

    def uninstall(self):
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)
        self._patches.clear()

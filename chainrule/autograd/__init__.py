"""``chainrule.autograd``: backward, grad, grad modes, anomaly detection, gradcheck, Function."""
from . import grad_mode
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .engine import run_backward
from .function import Function
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "inference_mode",
           "is_grad_enabled", "is_inference_mode_enabled", "detect_anomaly", "set_detect_anomaly",
           "is_anomaly_enabled", "gradcheck", "gradgradcheck",
           "GradcheckError", "Function", "grad_mode", "Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, obj):
        from ..tensor import Tensor
        return isinstance(obj, Tensor)


class Variable(metaclass=_VariableMeta):
    """The pre-0.4 wrapper, kept for old scripts: ``Variable(t, requires_grad=True)`` is a tensor sharing
    ``t``'s data, a leaf that requires grad if asked; every tensor is a Variable."""

    def __new__(cls, data, requires_grad=False, volatile=False):
        from ..tensor import Tensor
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        out = data.detach()
        out.requires_grad_(requires_grad)
        return out


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_grads(outputs, grad_outputs):
    from ..tensor import Tensor, _make
    import numpy as np
    grads = []
    for i, out in enumerate(outputs):
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if out._array.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (this output has "
                                   f"shape {list(out.shape)}); pass gradient= (or grad_outputs=) with that shape")
            g = _make(np.ones_like(out._array))
        elif not isinstance(g, Tensor):
            from ..creation import tensor
            g = tensor(g, dtype=out.dtype)
        elif g._array.shape != out._array.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {list(g.shape)} and "
                               f"output[{i}] has a shape of {list(out.shape)}.")
        elif not g.requires_grad:
            # A copy: the caller keeps this tensor, and it may arrive unchanged at a leaf's .grad
            # (y = x + 0), where a later x.grad.zero_() must not zero the caller's tensor.
            g = _make(g._array.copy())
        grads.append(g)
    return grads


def _check_outputs(outputs):
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's ``.grad`` (what ``loss.backward()`` calls)."""
    outputs = _as_list(tensors)
    grads = _as_list(grad_tensors)
    _check_outputs(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _root_grads(outputs, grads)
    if inputs is not None:
        # Only these leaves get .grad: compute their gradients, then accumulate them.
        inputs = _as_list(inputs)
        results = grad(outputs, inputs, roots, retain_graph=retain_graph, create_graph=create_graph,
                       allow_unused=True)
        for t, g in zip(inputs, results):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    run_backward(outputs, roots, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    With ``create_graph=True`` the result is itself differentiable: gradients of gradients,
    Hessian-vector products, gradient penalties.
    """
    from .engine import edge_of
    from ..creation import zeros_like
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    _check_outputs(outputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    if allow_unused is None:
        allow_unused = materialize_grads
    capture = {}
    slots = []
    for t in inputs:
        node = edge_of(t)
        slots.append(capture.setdefault(node, len(capture)))
    results = run_backward(outputs, _root_grads(outputs, _as_list(grad_outputs)), retain_graph,
                           create_graph, capture=capture)
    out = []
    for t, slot in zip(inputs, slots):
        g = results[slot]
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the "
                                   "graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                g = zeros_like(t)
        elif not create_graph and (g.requires_grad or g.grad_fn is not None):
            g = g.detach()
        out.append(g)
    return tuple(out)

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

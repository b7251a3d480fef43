"""Gradient clipping: rescale (``clip_grad_norm_``) or clamp (``clip_grad_value_``) the ``.grad`` of parameters.

Run between ``loss.backward()`` and ``optimizer.step()`` to stop one huge gradient (an exploding
RNN, an outlier batch) from throwing the weights far away.
"""
import numpy as np

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor, _make


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of all tensors together (as if concatenated into one vector).

    The norm stays an array from start to end (no Python float is read from it), so ``chainrule.compile``
    can capture a step that clips; the finiteness check reads it only when asked for. One pass over each
    gradient (a BLAS dot product for the 2-norm).
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return _make(np.asarray(0.0, dtype=np.float32))
    arrays = [t._array for t in tensors]
    # Each tensor's norm, then the norm of those norms: PyTorch's order (ord=inf: the largest magnitude).
    if norm_type == 2.0:   # √(x·x): one BLAS dot product per tensor, no temporary
        norms = [np.sqrt(np.dot(a.reshape(-1), a.reshape(-1))) if a.size else np.zeros((), a.dtype) for a in arrays]
    else:
        norms = [np.linalg.norm(a.reshape(-1), ord=norm_type) if a.size else np.zeros((), a.dtype) for a in arrays]
    total = np.asarray(np.linalg.norm(np.stack(norms), ord=norm_type), dtype=arrays[0].dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           f"it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           f"norm anyway, set `error_if_nonfinite=False`")
    return _make(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``min(max_norm / (total_norm + 1e-6), 1)`` (computed in the norm's dtype)."""
    grads = _grads(parameters)
    if not grads:
        return
    total = total_norm._array if isinstance(total_norm, Tensor) else np.asarray(total_norm, dtype=np.float32)
    coef = np.minimum(float(max_norm) / (total + 1e-6), 1.0)
    for g in grads:   # in place on the arrays (one pass each, no Tensor op), counted as a change of each .grad
        G = g._array
        if not G.flags.writeable:
            g.mul_(_make(coef.astype(G.dtype)))   # (raises the read-only error)
        G *= coef.astype(G.dtype)
        g._vc[0] += 1


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale all gradients together so their total norm is at most ``max_norm``; returns the norm before clipping.

    The scale is ``max_norm / (total_norm + 1e-6)``, applied only when it is below 1 (PyTorch's rule).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


clip_grad_norm = clip_grad_norm_   # PyTorch's deprecated spelling, kept where PyTorch keeps it

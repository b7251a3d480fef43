"""Gradients of gradients for fused ops: differentiate the op's own composition again.

A fused primitive (whole-sequence LSTM, attention) computes its backward on arrays, which is fast but
carries no history. Under ``create_graph`` its backward calls ``replay_backward`` instead: the op's
composition of differentiable ops (the slow general path, which exists anyway) is rebuilt from the same
input tensors, and its gradient is taken with ``create_graph=True``. The result equals the fused
backward's and is itself differentiable, to any order.
"""


def replay_backward(composite, inputs, grad_outputs):
    """Gradients of ``composite(*inputs)`` with respect to ``inputs``, weighted by ``grad_outputs``, with history.

    inputs: the fused op's inputs (Tensors, or None for an absent optional one), passed to ``composite``
    unchanged. composite returns a Tensor, or a tuple of them matching ``grad_outputs``. Returns one
    gradient (or None) per input, as a backward rule does.
    """
    from . import grad
    from ..tensor import Tensor

    outputs = composite(*inputs)
    if not isinstance(outputs, tuple):
        outputs, grad_outputs = (outputs,), (grad_outputs,)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if g is not None and o.requires_grad]
    wanted = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not pairs or not wanted:
        return tuple(None for _ in inputs)
    grads = iter(grad([o for o, _ in pairs], wanted, [g for _, g in pairs], create_graph=True, allow_unused=True))
    return tuple(next(grads) if isinstance(t, Tensor) and t.requires_grad else None for t in inputs)

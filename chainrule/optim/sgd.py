"""Stochastic gradient descent, optionally with (Nesterov) momentum: ``torch.optim.SGD``.

Per parameter, with gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p                      # L2 penalty, if any
    b = g                       on the first step # momentum buffer
    b = momentum * b + (1 - dampening) * g        afterwards
    g = g + momentum * b  if nesterov  else  b
    p = p - lr * g
"""

from chainrule.tensor import _make

from .optimizer import Optimizer, bump_versions, updatable


class SGD(Optimizer):
    """Implements stochastic gradient descent (optionally with momentum).

    ``foreach``, ``differentiable`` and ``fused`` are accepted for PyTorch
    compatibility and ignored: there is one NumPy implementation, foreach-style (it
    updates the arrays in place, with no Tensor op per parameter).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, momentum = group["lr"], group["momentum"]
        weight_decay, dampening = group["weight_decay"], group["dampening"]
        for p in self._params_with_grad(group):
            P = updatable(p)
            grad = p.grad._array
            if group["maximize"]:
                grad = -grad
            if weight_decay != 0:
                grad = grad + weight_decay * P
            touched = [p]
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = _make(grad.copy())
                else:
                    B = updatable(buf)
                    B *= momentum
                    B += grad if dampening == 0 else (1 - dampening) * grad
                    touched.append(buf)
                grad = grad + momentum * buf._array if group["nesterov"] else buf._array
            P += grad * -lr
            bump_versions(touched)

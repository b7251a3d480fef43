"""Adadelta (Zeiler, 2012): steps sized by the ratio of two running RMS values, of updates and of gradients,
so that it needs no learning rate of its own (``lr`` only scales the step; PyTorch's default is 1).

Per parameter, with gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p                         # if weight_decay != 0
    v = rho * v + (1 - rho) * g * g                  # square_avg
    delta = sqrt(u + eps) / sqrt(v + eps) * g        # u: acc_delta
    u = rho * u + (1 - rho) * delta * delta
    p = p - lr * delta
"""

import chainrule

from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Implements the Adadelta algorithm (``torch.optim.Adadelta``).

    The state (``step``, ``square_avg``, ``acc_delta``) is created at a parameter's first step, as in
    PyTorch. ``foreach``, ``capturable`` and ``differentiable`` are accepted and ignored.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, rho, eps, weight_decay = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = chainrule.tensor(0.0, dtype=chainrule.float32)
                state["square_avg"] = chainrule.zeros_like(p)
                state["acc_delta"] = chainrule.zeros_like(p)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            state["step"].add_(1)
            grad = -p.grad if group["maximize"] else p.grad
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
            std = square_avg.add(eps).sqrt_()
            delta = acc_delta.add(eps).sqrt_().div_(std).mul_(grad)
            acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
            p.add_(delta, alpha=-lr)

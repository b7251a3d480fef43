"""Adagrad (Duchi et al., 2011): per-coordinate step sizes from the sum of squared gradients.

Per parameter, at step ``t`` with gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p                 # if weight_decay != 0
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g * g                            # "sum", starts at initial_accumulator_value
    p = p - clr * g / (sqrt(s) + eps)
"""

import numpy as np

import chainrule

from .optimizer import Optimizer, scalar_like


class Adagrad(Optimizer):
    """Implements the Adagrad algorithm (``torch.optim.Adagrad``).

    As in PyTorch, the state (``step`` and ``sum``) is created for every parameter
    at construction, so it appears in ``state_dict()`` before the first step.
    ``foreach``, ``differentiable`` and ``fused`` are accepted and ignored.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, foreach=None, *, maximize=False,
                 differentiable=False, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group["initial_accumulator_value"])

    def _init_state(self, p, initial_accumulator_value):
        """Create ``p``'s step counter and accumulator, unless it already has them."""
        state = self.state[p]
        if len(state) == 0:
            state["step"] = chainrule.tensor(0.0, dtype=chainrule.float32)
            state["sum"] = chainrule.zeros_like(p).fill_(initial_accumulator_value)

    def _step_group(self, group):
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay = group["weight_decay"]
        for p in self._params_with_grad(group):
            self._init_state(p, group["initial_accumulator_value"])  # groups added later
            state = self.state[p]
            state["step"].add_(1)
            step = state["step"]._array.astype(np.float64)   # a tensor, not a Python float: capturable
            grad = -p.grad if group["maximize"] else p.grad
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)
            clr = lr / (1 + (step - 1) * lr_decay)
            state["sum"].addcmul_(grad, grad, value=1)
            std = state["sum"].sqrt().add_(eps)
            p.addcdiv_(grad, std, value=scalar_like(-clr, p))

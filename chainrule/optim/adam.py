"""Adam (Kingma & Ba, 2015), optionally AMSGrad and decoupled weight decay: ``torch.optim.Adam``.

Per parameter, at step ``t`` with gradient ``g`` (negated when ``maximize``)::

    p = p * (1 - lr * wd)          if decoupled_weight_decay (AdamW)
    g = g + wd * p                 otherwise, if wd != 0 (L2 penalty)
    m = beta1 * m + (1 - beta1) * g            # exp_avg, written as a lerp
    v = beta2 * v + (1 - beta2) * g * g        # exp_avg_sq
    v_max = max(v_max, v)                      # amsgrad only; used instead of v below
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

The operations and their order are PyTorch's, so results agree to rounding.
"""

import numpy as np

import chainrule

from .optimizer import Optimizer, scalar_like


class Adam(Optimizer):
    """Implements the Adam algorithm.

    ``foreach``, ``capturable``, ``differentiable`` and ``fused`` are accepted for
    PyTorch compatibility and ignored.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if len(state) == 0:
                # "step" is a float32 scalar tensor, as in PyTorch's state_dict format.
                state["step"] = chainrule.tensor(0.0, dtype=chainrule.float32)
                state["exp_avg"] = chainrule.zeros_like(p)
                state["exp_avg_sq"] = chainrule.zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = chainrule.zeros_like(p)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

            grad = -p.grad if group["maximize"] else p.grad
            state["step"].add_(1)
            # The step count stays a tensor (chainrule.compile captures this step); the corrections are
            # computed from it in double precision, as PyTorch computes them from its Python float.
            step = state["step"]._array.astype(np.float64)

            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * weight_decay)
                else:
                    grad = grad.add(p, alpha=weight_decay)

            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = np.sqrt(bias_correction2)

            if amsgrad:
                max_exp_avg_sq = state["max_exp_avg_sq"]
                max_exp_avg_sq.copy_(chainrule.maximum(max_exp_avg_sq, exp_avg_sq))
                second = max_exp_avg_sq
            else:
                second = exp_avg_sq
            denom = (second.sqrt() / scalar_like(bias_correction2_sqrt, p)).add_(eps)
            p.addcdiv_(exp_avg, denom, value=scalar_like(-step_size, p))

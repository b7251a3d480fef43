"""Adam (Kingma & Ba, 2015), optionally AMSGrad and decoupled weight decay: ``torch.optim.Adam``.

Per parameter, at step ``t`` with gradient ``g`` (negated when ``maximize``)::

    p = p * (1 - lr * wd)          if decoupled_weight_decay (AdamW)
    g = g + wd * p                 otherwise, if wd != 0 (L2 penalty)
    m = beta1 * m + (1 - beta1) * g            # exp_avg, written as a lerp
    v = beta2 * v + (1 - beta2) * g * g        # exp_avg_sq
    v_max = max(v_max, v)                      # amsgrad only; used instead of v below
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

The operations and their order are PyTorch's, so results agree to rounding. Like PyTorch's ``foreach``
implementation, the update works on the arrays directly (a dozen NumPy passes per parameter, in place,
no Tensor op and no graph bookkeeping), and reads no value into Python, so ``chainrule.compile`` captures it.
"""

import numpy as np

import chainrule

from .optimizer import Optimizer, bump_versions, lerp_, updatable


class Adam(Optimizer):
    """Implements the Adam algorithm.

    ``foreach``, ``capturable``, ``differentiable`` and ``fused`` are accepted for
    PyTorch compatibility and ignored (there is one implementation, foreach-style and capturable).
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
            touched = [p, state["step"], state["exp_avg"], state["exp_avg_sq"]]
            if amsgrad:
                touched.append(state["max_exp_avg_sq"])
            P, step, m, v = (updatable(t) for t in touched[:4])
            grad = p.grad._array
            if group["maximize"]:
                grad = -grad
            step += 1
            # The step count stays a tensor (chainrule.compile captures this step); the corrections are
            # computed from it in double precision, as PyTorch computes them from its Python float.
            t = step.astype(np.float64)
            if weight_decay != 0:
                if group["decoupled_weight_decay"]:
                    P *= 1 - lr * weight_decay
                else:
                    grad = grad + weight_decay * P
            lerp_(m, grad, 1 - beta1)
            v *= beta2
            square = np.multiply(grad, grad)
            square *= 1 - beta2
            v += square
            if amsgrad:
                second = updatable(touched[4])
                np.maximum(second, v, out=second)
            else:
                second = v
            denom = np.sqrt(second, out=square)
            denom /= np.sqrt(1 - beta2 ** t).astype(P.dtype)
            denom += eps
            update = np.divide(m, denom, out=denom)
            update *= (-lr / (1 - beta1 ** t)).astype(P.dtype)
            P += update
            bump_versions(touched)

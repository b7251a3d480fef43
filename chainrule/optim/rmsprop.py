"""RMSprop (Hinton's lecture 6e): divide the gradient by a running RMS of recent gradients.

Per parameter, with gradient ``g`` (negated when ``maximize``)::

    g = g + weight_decay * p                         # if weight_decay != 0
    v = alpha * v + (1 - alpha) * g * g              # square_avg
    centered:  a = lerp(a, g, 1 - alpha);  avg = sqrt(v - a * a) + eps
    else:                                  avg = sqrt(v) + eps
    momentum > 0:  b = momentum * b + g / avg;  p = p - lr * b
    else:          p = p - lr * g / avg
"""

import chainrule

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """Implements the RMSprop algorithm (``torch.optim.RMSprop``).

    ``capturable``, ``foreach`` and ``differentiable`` are accepted and ignored.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        for p in self._params_with_grad(group):
            state = self.state[p]
            if len(state) == 0:
                state["step"] = chainrule.tensor(0.0, dtype=chainrule.float32)
                state["square_avg"] = chainrule.zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = chainrule.zeros_like(p)
                if group["centered"]:
                    state["grad_avg"] = chainrule.zeros_like(p)
            square_avg = state["square_avg"]

            grad = -p.grad if group["maximize"] else p.grad
            state["step"].add_(1)
            if weight_decay != 0:
                grad = grad.add(p, alpha=weight_decay)

            square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            if group["centered"]:
                grad_avg = state["grad_avg"]
                grad_avg.lerp_(grad, 1 - alpha)
                avg = (square_avg - grad_avg * grad_avg).sqrt_()
            else:
                avg = square_avg.sqrt()
            avg = avg.add_(eps)

            if momentum > 0:
                buf = state["momentum_buffer"]
                buf.mul_(momentum).addcdiv_(grad, avg)
                p.add_(buf, alpha=-lr)
            else:
                p.addcdiv_(grad, avg, value=-lr)

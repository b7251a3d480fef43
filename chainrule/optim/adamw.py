"""AdamW (Loshchilov & Hutter, 2019): Adam with weight decay applied to the weights, not the gradient.

The only differences from ``Adam`` are the default ``weight_decay=1e-2`` and
``decoupled_weight_decay=True``: each step first shrinks ``p`` by ``1 - lr * wd``,
so the decay is not rescaled by Adam's adaptive denominator.
"""

from .adam import Adam


class AdamW(Adam):
    """Implements the AdamW algorithm (``torch.optim.AdamW``)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict):
        """Load as Adam does, but stay AdamW even if the dict came from plain Adam."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True

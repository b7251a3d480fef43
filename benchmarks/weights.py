"""Give a model built with either library the same starting weights, drawn once with NumPy.

The real-model workloads (W7-W9) build their model the PyTorch way (``nn.Module`` subclasses), and each
library initialises it from its own random stream. To compare like with like, every parameter is then
overwritten, in ``named_parameters()`` order (the same order in both libraries, since chainrule mirrors
PyTorch's module structure), with a float32 array from a seeded ``RandomState``.
"""
import numpy as np

from benchmarks.mlp import assign


def load_weights(lib, model, draw, seed=0):
    """Overwrite every parameter of ``model`` with ``draw(name, shape, rng)`` (a float array), in place.

    Shared (tied) parameters appear once in ``named_parameters()``, so they get one array.
    """
    rng = np.random.RandomState(seed)
    for name, param in model.named_parameters():
        array = np.asarray(draw(name, tuple(param.shape), rng), dtype=np.float32)
        assign(lib, param, array)


def uniform_fan_in(name, shape, rng):
    """PyTorch's default for Linear, Conv and RNN weights and biases: U(±1/√fan_in) (fan_in from the
    weight's second dim times its kernel size, or the bias's own size for a 1-D tensor)."""
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    bound = 1 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape)

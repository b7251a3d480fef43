"""How big is ∂L/∂W in each layer of a deep network at initialisation? (vanishing gradients)

Backpropagation multiplies, layer by layer, by ``σ'(z)`` and by ``Wᵀ`` (the essay's step 4:
``∂L/∂a_prev = Wᵀ·∂L/∂z``). Sigmoid's slope is at most 1/4, so after 20 sigmoid layers the
gradient reaching the first layer is many orders of magnitude smaller than at the last one,
and the first layers barely learn. ReLU's slope is 1 where it is active; with a matching
initialisation (Kaiming: Var(W) = 2/fan_in) the gradient keeps its size all the way down.

    from chainrule.tools import gradflow
    results = [gradflow.measure(depth=20, activation=a) for a in ("sigmoid", "relu")]
    print(gradflow.format_table(results))
"""
from dataclasses import dataclass

import numpy as np

from .. import manual_seed, nn, randn
from .models import init_weights, mlp

__all__ = ["GradFlow", "layer_grad_norms", "deep_mlp", "measure", "format_table", "plot"]


@dataclass
class GradFlow:
    """‖∂L/∂W‖ (Frobenius norm) of each Linear layer, input side first."""
    activation: str
    depth: int
    width: int
    init: str
    seed: int
    loss: float
    norms: np.ndarray

    @property
    def first_to_last(self):
        """‖∂L/∂W₁‖ / ‖∂L/∂W_last‖: far below 1 means the gradient vanishes on its way back."""
        return float(self.norms[0] / self.norms[-1])


def layer_grad_norms(model, x, y, loss_fn):
    """One forward and backward pass; returns ``[(name, ‖∂L/∂W‖), ...]`` for each Linear weight."""
    model.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    out = []
    for name, module in model.named_modules():
        if type(module).__name__ == "Linear":
            g = module.weight.grad
            if g is None:
                raise RuntimeError(f"layer {name} got no gradient: is it used in the forward pass?")
            out.append((name, float(np.linalg.norm(g.detach().numpy()))))
    return out, float(loss.item())


def deep_mlp(depth=20, width=32, activation="sigmoid", init="kaiming", in_features=None, out_features=1):
    """``depth`` Linear layers (width ``width``) with ``activation`` after each but the last."""
    if depth < 2:
        raise ValueError(f"depth must be at least 2 layers, got {depth}")
    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    sizes = [in_features or width] + [width] * (depth - 1) + [out_features]
    return init_weights(mlp(sizes, activation), init)


def measure(depth=20, width=32, activation="sigmoid", seed=0, batch_size=64, init="kaiming"):
    """‖∂L/∂W‖ per layer of a fresh ``deep_mlp`` on one batch of N(0, 1) inputs and targets (MSE)."""
    manual_seed(seed)
    model = deep_mlp(depth, width, activation, init)
    x = randn(batch_size, width)
    y = randn(batch_size, 1)
    norms, loss = layer_grad_norms(model, x, y, nn.MSELoss())
    return GradFlow(activation, depth, width, init, seed, loss, np.array([n for _, n in norms]))


def format_table(results):
    """The norms side by side, one row per layer (layer 1 = next to the input)."""
    if not results:
        raise ValueError("no results to format")
    depth = len(results[0].norms)
    header = f"{'layer':<12}" + "".join(f"{'‖∂L/∂W‖ ' + r.activation:>20}" for r in results)
    lines = [header, "-" * len(header)]
    for i in range(depth):
        tag = "   (input side)" if i == 0 else "   (output)" if i == depth - 1 else ""
        lines.append(f"{i + 1:<12}" + "".join(f"{r.norms[i]:>20.3e}" for r in results) + tag)
    lines.append("-" * len(header))
    lines.append(f"{'first/last':<12}" + "".join(f"{r.first_to_last:>20.3e}" for r in results))
    return "\n".join(lines)


def plot(results, path):
    """A log-scale line per activation: ‖∂L/∂W‖ against the layer index. Needs matplotlib."""
    from .optional import pyplot
    plt = pyplot("the gradient-flow plot")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        ax.semilogy(np.arange(1, len(r.norms) + 1), r.norms, marker="o", label=f"{r.activation} ({r.init} init)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("‖∂L/∂W‖ at initialisation")
    r0 = results[0]
    ax.set_title(f"Gradient flow: {r0.depth} layers of width {r0.width}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

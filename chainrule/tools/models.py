"""Multi-layer perceptrons for the tools: ``nn.Sequential`` of ``nn.Linear`` + activation layers."""
import math

from .. import nn, no_grad

__all__ = ["ACTIVATION_MODULES", "mlp", "init_weights"]

ACTIVATION_MODULES = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
INITS = ("default", "normal", "kaiming", "xavier")


def mlp(sizes, activation="sigmoid", output_activation=None):
    """``nn.Sequential(Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1])[, out_act])``.

    sizes: layer widths from input to output, e.g. ``[2, 2, 1]`` for the essay's network.
    activation: after every hidden layer; output_activation: after the last (None for logits).
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must list at least an input and an output width, all >= 1; got {sizes}")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        act = activation if i < len(sizes) - 2 else output_activation
        if act is not None:
            layers.append(_activation(act))
    return nn.Sequential(*layers)


def _activation(name):
    if name not in ACTIVATION_MODULES:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_MODULES)}, got {name!r}")
    return getattr(nn, ACTIVATION_MODULES[name])()


def init_weights(model, scheme):
    """Re-initialise every Linear layer of ``model`` in place.

    default: leave nn.Linear's own init (PyTorch's: uniform ±1/√fan_in);
    normal: W ~ N(0, 1), b = 0 (the essay's ``np.random.randn``);
    kaiming: W ~ N(0, 2/fan_in), b = 0 (He et al., keeps ReLU activations' scale);
    xavier: W ~ N(0, 2/(fan_in + fan_out)), b = 0 (Glorot & Bengio, for tanh/sigmoid).
    """
    if scheme not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {scheme!r}")
    if scheme == "default":
        return model
    with no_grad():
        for m in model.modules():
            if type(m).__name__ != "Linear":
                continue
            fan_out, fan_in = m.weight.shape
            std = {"normal": 1.0, "kaiming": math.sqrt(2.0 / fan_in),
                   "xavier": math.sqrt(2.0 / (fan_in + fan_out))}[scheme]
            m.weight.normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
    return model

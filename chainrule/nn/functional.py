"""``chainrule.nn.functional``: stateless building blocks, PyTorch's names and signatures.

Activations come from the core (``chainrule/ops/activation.py``); layers from ``functional_layers``;
losses from ``functional_losses``. This module only gathers them under PyTorch's names.
"""
from ..ops.activation import (elu, gelu, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, relu6, silu,
                              softmax, softplus)
from ..ops.elementwise import relu, sigmoid, tanh
from .functional_layers import (alpha_dropout, bilinear, celu, dropout, embedding, glu, group_norm, hardsigmoid,
                                hardswish, layer_norm, batch_norm, linear, normalize, one_hot, pad, selu, softmin,
                                softsign, tanhshrink, threshold)
from .functional_losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                                huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)


def relu_(input):
    return input.relu_()


__all__ = ["relu", "relu_", "sigmoid", "tanh", "leaky_relu", "gelu", "softplus", "silu", "softmax", "log_softmax",
           "elu", "hardtanh", "relu6", "mish", "logsigmoid", "softmin", "tanhshrink", "softsign", "hardsigmoid",
           "hardswish", "selu", "celu", "glu", "threshold",
           "linear", "bilinear", "dropout", "alpha_dropout", "embedding", "one_hot", "layer_norm", "batch_norm",
           "group_norm", "normalize", "pad",
           "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div"]

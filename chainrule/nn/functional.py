"""``chainrule.nn.functional``: stateless building blocks, PyTorch's names and signatures.

Activations come from the core (``chainrule/ops/activation.py``); layers from ``functional_layers``;
losses from ``functional_losses``. This module only gathers them under PyTorch's names.
"""
from ..ops.activation import (elu, gelu, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, relu6,
                              silu, softmax, softplus)
from ..ops.elementwise import relu, sigmoid, tanh
from .functional_layers import (alpha_dropout, bilinear, celu, cosine_similarity, pairwise_distance, dropout, embedding, glu, group_norm, hardsigmoid,
                                layer_norm, batch_norm, linear, normalize, one_hot, pad, selu, softmin,
                                softsign, tanhshrink, threshold)
from .functional_attention import multi_head_attention_forward, scaled_dot_product_attention
from .functional_conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, fold, unfold
from .functional_dropout2d import dropout1d, dropout2d, dropout3d
from .functional_losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                                huber_loss, kl_div, l1_loss, mse_loss, nll_loss, smooth_l1_loss)
from .functional_pool import (adaptive_avg_pool1d, adaptive_avg_pool2d, avg_pool1d, avg_pool2d, interpolate,
                              max_pool1d, max_pool2d)


def relu_(input):
    return input.relu_()


__all__ = ["relu", "relu_", "sigmoid", "tanh", "leaky_relu", "gelu", "softplus", "silu", "softmax", "log_softmax",
           "elu", "hardtanh", "relu6", "mish", "logsigmoid", "softmin", "tanhshrink", "softsign", "hardsigmoid",
           "hardswish", "selu", "celu", "glu", "threshold",
           "linear", "bilinear", "dropout", "alpha_dropout", "embedding", "one_hot", "layer_norm", "batch_norm",
           "group_norm", "normalize", "pad", "cosine_similarity", "pairwise_distance",
           "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss", "kl_div",
           "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "unfold",
           "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "interpolate", "dropout1d", "dropout2d", "dropout3d", "scaled_dot_product_attention",
           "multi_head_attention_forward"]

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

"""``chainrule.nn.functional``: stateless building blocks, PyTorch's names and signatures."""
from ..ops.activation import (elu, gelu, hardtanh, leaky_relu, log_softmax, logsigmoid, mish, relu6, silu,
                              softmax, softplus)
from ..ops.elementwise import relu, sigmoid, tanh

__all__ = ["relu", "sigmoid", "tanh", "leaky_relu", "gelu", "softplus", "silu", "softmax", "log_softmax",
           "elu", "hardtanh", "relu6", "mish", "logsigmoid"]

"""``chainrule.nn``: Module and Parameter, layers, losses, ``functional``, ``init`` and ``utils``.

Mirrors ``torch.nn``: the same class names, constructor signatures, defaults and parameter names,
so a model written for PyTorch builds here and its ``state_dict`` keys match.
"""
from . import functional, init, utils
from .modules import (CELU, ELU, GELU, GLU, SELU, AlphaDropout, BatchNorm1d, BatchNorm2d, BatchNorm3d, BCELoss,
                      BCEWithLogitsLoss, Bilinear, CrossEntropyLoss, Dropout, Embedding, Flatten, GroupNorm,
                      Hardsigmoid, Hardswish, Hardtanh, HuberLoss, Identity, KLDivLoss, L1Loss, LayerNorm, LazyLinear,
                      LeakyReLU, Linear, LogSigmoid, LogSoftmax, Mish, Module, ModuleDict, ModuleList, MSELoss,
                      NLLLoss, ParameterDict, ParameterList, ReLU, ReLU6, Sequential, Sigmoid, SiLU, SmoothL1Loss,
                      Softmax, Softmin, Softplus, Softsign, Tanh, Tanhshrink, Threshold, Unflatten)
from .modules import (GRU, LSTM, RNN, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d,
                      ConvTranspose1d, ConvTranspose2d, Dropout1d, Dropout2d, Dropout3d, GRUCell, LSTMCell, MaxPool1d,
                      MaxPool2d, MultiheadAttention, RNNBase, RNNCell)
from .modules import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                      TransformerEncoderLayer)
from .parameter import Buffer, Parameter
from . import parallel  # noqa: E402  (after the layers it wraps)
from .parallel import DataParallel  # noqa: E402

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

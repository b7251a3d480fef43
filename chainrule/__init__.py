"""chainrule: backpropagation you can read.

A NumPy-backed Tensor with reverse-mode automatic differentiation and PyTorch's API, so that
``import chainrule as torch`` runs a typical PyTorch script::

    import chainrule
    x = chainrule.tensor(2.0, requires_grad=True)
    y = x * 3
    y.backward()
    x.grad          # tensor(3.)
"""
from . import autograd, cpu, cuda, dtypes, ops
from .autograd import (enable_grad, inference_mode, is_anomaly_enabled, is_grad_enabled, is_inference_mode_enabled,
                       no_grad, set_grad_enabled)
from .creation import (BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, HalfTensor, IntTensor,
                       LongTensor, ShortTensor)
from .creation import (arange, as_tensor, diag, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       logspace, ones, ones_like, tensor, zeros, zeros_like)
from .device import device, get_default_device, set_default_device
from .dtypes import (bfloat16, bool, double, dtype, float, float16, float32, float64, get_default_dtype, half, int,
                     int8, int16, int32, int64, long, set_default_dtype, short, uint8)
from .ops import *  # noqa: F401,F403  (every op as a function: chainrule.exp(x), chainrule.sum(x, 1), ...)
from .ops import _METHODS  # noqa: F401
from .random import (Generator, bernoulli, get_rng_state, initial_seed, manual_seed, multinomial, normal,
                     rand, rand_like, randint, randint_like, randn, randn_like, randperm, seed, set_rng_state)
from .tensor import Size, Tensor
from ._allocator import keep_freed_memory

keep_freed_memory()   # freed arrays reused, not faulted in again: see _allocator.py

__version__ = "0.1.0"

default_generator = random.default_generator()  # noqa: F821  (the module chainrule.random)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


def is_floating_point(x):
    return x.is_floating_point()


def get_num_threads():
    """The threads chainrule splits its large exp/tanh/log passes over (``OMP_NUM_THREADS`` or the usable cores)."""
    from .ops import _parallel
    return _parallel.get_threads()


def set_num_threads(n):
    """How many threads chainrule's large exp/tanh/log passes are split over, as ``torch.set_num_threads``
    sets PyTorch's intra-op pool (1: none). NumPy's BLAS keeps its own threads."""
    from .ops import _parallel
    _parallel.set_threads(n)


_MATMUL_PRECISIONS = ("highest", "high", "medium")
_matmul_precision = "highest"


def set_float32_matmul_precision(precision):
    """Accepted and remembered as PyTorch does; chainrule computes float32 matmuls in float32 (NumPy's BLAS)
    whatever the setting: "high" and "medium" only permit the lower precisions that GPUs offer."""
    global _matmul_precision
    if precision not in _MATMUL_PRECISIONS:
        import warnings
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current"
                      "setFloat32MatmulPrecision call has no effect.")
        return
    _matmul_precision = precision


def get_float32_matmul_precision():
    return _matmul_precision


def _bind_random_methods():
    from . import random as _random
    for name in ("uniform_", "normal_", "bernoulli_", "exponential_", "random_"):
        setattr(Tensor, name, getattr(_random, name))


_bind_random_methods()

# The layers above the core (imported last: they are built from everything above).
from . import distributed  # noqa: E402  (before nn: nn.parallel builds on it; MPI starts only in init_process_group)
from . import datasets, nn, optim, utils  # noqa: E402
from . import accelerator, amp, backends, functional  # noqa: E402  (torch.accelerator, torch.amp, ...)
from .amp.autocast_mode import (autocast, get_autocast_cpu_dtype, get_autocast_dtype,  # noqa: E402
                                 is_autocast_cpu_enabled, is_autocast_enabled)
from .serialization import load, save  # noqa: E402
from . import onnx, serialization  # noqa: E402  (torch.onnx.export, torch.serialization.safe_globals)
from . import compiler  # noqa: E402
from .compile import CaptureError, compile  # noqa: E402
from . import explain, viz  # noqa: E402  (tools for people: the step-by-step explainer, graph drawing)
from .nn.functional import cosine_similarity, pairwise_distance  # noqa: E402  (torch.cosine_similarity too)
from ._as_torch import install_as_torch  # noqa: E402  (`import torch` gives chainrule; `chainrule run` uses it)
from ._pytorch_api import module_getattr as _module_getattr  # noqa: E402

# A name PyTorch has and chainrule lacks: "chainrule does not implement torch.fft yet", not a bare AttributeError.
__getattr__ = _module_getattr(__name__)

"""``torch.backends``: the switches PyTorch programs set before training.

chainrule computes on the CPU with NumPy, in the dtype asked for: there is no CUDA, cuDNN or MPS backend, so
those report that they are unavailable, and their precision switches (TF32, reduced-precision reductions,
cuDNN autotuning) are kept as set but change nothing, exactly as in a CPU-only PyTorch, where they only
concern the GPU.
"""
from . import cpu, cuda, cudnn, mha, mps  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mha", "mps"]

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

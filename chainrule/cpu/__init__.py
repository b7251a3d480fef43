"""``torch.cpu``: the device chainrule computes on, answered as PyTorch answers for it; and ``torch.cpu.amp``."""
from . import amp  # noqa: F401

__all__ = ["amp", "is_available", "device_count", "current_device", "set_device", "synchronize", "is_initialized"]


def is_available():
    return True


def is_initialized():
    return True


def device_count():
    return 1


def current_device():
    return "cpu"


def set_device(device):
    """Accepted as in PyTorch, where it does nothing: there is one CPU device."""


def synchronize(device=None):
    """Nothing to wait for: chainrule's CPU work is done when the call returns."""


from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

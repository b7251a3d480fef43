"""``chainrule.cuda``: what PyTorch scripts ask before choosing a device. No GPU backend: every answer is
the one a CPU-only PyTorch gives (``is_available()`` False; asking for the current device is an error)."""
from . import amp  # noqa: F401


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def is_bf16_supported(including_emulation=True):
    return False


def manual_seed(seed):
    """No GPU generator to seed; accepted so that scripts seeding both run unchanged."""


def manual_seed_all(seed):
    """See ``manual_seed``."""


def empty_cache():
    """Nothing is cached: there is no GPU memory."""


def memory_allocated(device=None):
    return 0


def max_memory_allocated(device=None):
    return 0


def _not_compiled(*args, **kwargs):
    raise AssertionError("Torch not compiled with CUDA enabled")


current_device = synchronize = get_device_name = get_device_properties = set_device = _not_compiled

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

"""``chainrule.accelerator``: the device-agnostic questions current PyTorch examples ask before choosing a
device (``torch.accelerator.is_available()``, ``current_accelerator()``). No accelerator backend: every
answer is the one a CPU-only PyTorch gives, and touching the (absent) device is its error."""


def is_available():
    return False


def current_accelerator(check_available=False):
    """The accelerator's device type, or None: there is none (whether or not ``check_available``)."""
    return None


def device_count():
    return 0


def _no_device(*args, **kwargs):
    raise RuntimeError("Cannot access accelerator device when none is available.")


current_device_index = current_device_idx = set_device_index = set_device_idx = synchronize = _no_device

from ._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

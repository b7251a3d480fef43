"""``chainrule.cuda``: what PyTorch scripts ask before choosing a device. No GPU backend yet."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """No GPU generator to seed; accepted so that scripts seeding both run unchanged."""


def manual_seed_all(seed):
    """See ``manual_seed``."""

from ._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

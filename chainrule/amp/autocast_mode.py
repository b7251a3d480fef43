"""``autocast``: mixed-precision regions (``torch.autocast`` / ``torch.amp.autocast``).

On the CPU an enabled region runs PyTorch's lower-precision ops (matrix products, linear, convolutions,
attention) in bfloat16 (or float16) and its float32 ops (the losses...) in float32; which op does what is
``chainrule.ops._autocast``. ``autocast("cuda", ...)`` is disabled with PyTorch's warning (there is no CUDA, as
in CPU-only PyTorch). Both work as context managers and as decorators, nest, and restore what they found.
"""
import functools
import warnings

from .. import dtypes
from ..ops import _autocast

_DEFAULT_DTYPES = {"cpu": "bfloat16", "cuda": "float16"}
_CPU_DTYPES = ("bfloat16", "float16")


def is_autocast_available(device_type):
    return device_type in _DEFAULT_DTYPES


def is_autocast_enabled(device_type=None):
    """Is an autocast region for ``device_type`` on? With no argument PyTorch asks about "cuda"."""
    return _autocast.region("cuda" if device_type is None else device_type)[0]


def get_autocast_dtype(device_type):
    dtype = _autocast.region(device_type)[1]
    return dtype if dtype is not None else getattr(dtypes, _DEFAULT_DTYPES[device_type])


def is_autocast_cpu_enabled():
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


class autocast:
    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if not is_autocast_available(device_type):
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        self.device = device_type
        self.fast_dtype = dtype if dtype is not None else get_autocast_dtype(device_type)
        if enabled and device_type == "cuda":
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling")
            enabled = False
        if enabled and device_type == "cpu" and self.fast_dtype.name not in _CPU_DTYPES:
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
                          "CPU Autocast only supports dtypes of torch.bfloat16, torch.float16 currently.")
            enabled = False
        if enabled:
            self.fast_dtype.np   # bfloat16 needs ml_dtypes: say so now, not at the first matmul
        self._enabled = enabled

    def __enter__(self):
        self._saved = _autocast.set_region(self.device, self._enabled, self.fast_dtype)
        return self

    def __exit__(self, *exc):
        _autocast.set_region(self.device, *self._saved)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def in_autocast(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return func(*args, **kwargs)
        return in_autocast

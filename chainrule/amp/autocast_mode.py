"""``autocast``: mixed-precision regions (``torch.autocast`` / ``torch.amp.autocast``).

What chainrule has: the scaffolding that training scripts carry. ``autocast("cuda", ...)`` is disabled with
PyTorch's warning (there is no CUDA, as in CPU-only PyTorch), and ``enabled=False`` makes a region that
changes nothing, both as a context manager and as a decorator. What it does not have yet: autocasting on
the CPU. An enabled ``autocast("cpu")`` raises NotImplementedError when entered instead of silently
computing in float32 where PyTorch would compute in bfloat16.
"""
import functools
import threading
import warnings

from .. import dtypes

_DEFAULT_DTYPES = {"cpu": "bfloat16", "cuda": "float16"}
_state = threading.local()   # device_type -> (enabled, dtype), per thread as in PyTorch


def _current(device_type):
    return getattr(_state, "modes", {}).get(device_type, (False, None))


def is_autocast_available(device_type):
    return device_type in _DEFAULT_DTYPES


def is_autocast_enabled(device_type=None):
    return _current("cuda" if device_type is None else device_type)[0]


def get_autocast_dtype(device_type):
    dtype = _current(device_type)[1]
    return dtype if dtype is not None else getattr(dtypes, _DEFAULT_DTYPES[device_type])


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
        self._enabled = enabled

    def __enter__(self):
        if self._enabled:
            raise NotImplementedError("chainrule does not implement autocast on the CPU yet "
                                      f"(torch.autocast('cpu', dtype={self.fast_dtype})); run the region "
                                      "without it, or with enabled=False")
        modes = getattr(_state, "modes", None)
        if modes is None:
            modes = _state.modes = {}
        self._saved = modes.get(self.device)
        modes[self.device] = (False, self.fast_dtype)
        return self

    def __exit__(self, *exc):
        modes = _state.modes
        if self._saved is None:
            modes.pop(self.device, None)
        else:
            modes[self.device] = self._saved
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def in_autocast(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return func(*args, **kwargs)
        return in_autocast

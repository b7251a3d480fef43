"""``detect_anomaly()``: name the op whose backward produced NaN, and where it ran forward.

Anomaly mode is one setting for the whole process, as in PyTorch (unlike grad mode, which belongs
to each thread): switching it on in one thread turns it on in all.
"""
import traceback

enabled = False     # ops remember their forward stack
check_nan = True    # backward raises on a NaN gradient (only while enabled)


def is_anomaly_enabled():
    return enabled


def is_anomaly_check_nan_enabled():
    return check_nan


def _get():
    return enabled, check_nan


def _set(mode, nan):
    global enabled, check_nan
    enabled, check_nan = bool(mode), bool(nan)


class detect_anomaly:
    """While active, ops remember their forward stack and backward checks every gradient for NaN."""

    def __init__(self, check_nan=True):
        self._mode, self._check_nan = True, check_nan

    def __enter__(self):
        self._prev = _get()
        _set(self._mode, self._check_nan)

    def __exit__(self, *exc):
        _set(*self._prev)
        return False


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(True)`` switches at once (as a call) and restores on exit (as a context)."""

    def __init__(self, mode, check_nan=True):
        self._prev = _get()
        _set(mode, check_nan)

    def __enter__(self):
        pass  # already switched in __init__; __exit__ restores


def forward_stack():
    """The user's stack at the point an op ran (chainrule's own frames dropped)."""
    frames = [f for f in traceback.extract_stack()[:-1] if "/chainrule/" not in f.filename.replace("\\", "/")]
    return "".join(traceback.format_list(frames[-8:]))

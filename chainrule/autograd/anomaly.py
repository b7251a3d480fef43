"""``detect_anomaly()``: name the op whose backward produced NaN, and where it ran forward."""
import traceback

enabled = False


def is_anomaly_enabled():
    return enabled


class detect_anomaly:
    """While active, ops remember their forward stack and backward checks every gradient for NaN."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        global enabled
        self._prev = enabled
        enabled = self.check_nan

    def __exit__(self, *exc):
        global enabled
        enabled = self._prev
        return False


class set_detect_anomaly(detect_anomaly):
    def __init__(self, mode):
        super().__init__(mode)


def forward_stack():
    """The user's stack at the point an op ran (chainrule's own frames dropped)."""
    frames = [f for f in traceback.extract_stack()[:-1] if "/chainrule/" not in f.filename.replace("\\", "/")]
    return "".join(traceback.format_list(frames[-8:]))

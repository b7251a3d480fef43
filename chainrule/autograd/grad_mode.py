"""Whether ops record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is a module global read on every op (the cheapest lookup Python has), not thread-local:
chainrule runs one graph at a time.
"""
import functools

enabled = True


def is_grad_enabled():
    return enabled


class _GradModeContext:
    """Base for the three switches: each is a context manager and a decorator, like PyTorch's."""

    _mode = True

    def __enter__(self):
        global enabled
        self._prev = enabled
        enabled = self._mode

    def __exit__(self, *exc):
        global enabled
        enabled = self._prev
        return False

    def __call__(self, func):
        mode = self._mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            global enabled
            prev, enabled = enabled, mode
            try:
                return func(*args, **kwargs)
            finally:
                enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Run ops without recording a graph (inference, and the weight update ``w -= lr * w.grad``)."""

    _mode = False


class inference_mode(no_grad):
    """PyTorch's faster no_grad; here the same as ``no_grad``."""

    def __init__(self, mode=True):
        self._mode = not mode


class enable_grad(_GradModeContext):
    """Record the graph again inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches at once (as a call) and restores on exit (as a context)."""

    def __init__(self, mode):
        global enabled
        self._mode = bool(mode)
        self._prev = enabled
        enabled = self._mode

    def __enter__(self):
        pass  # already switched in __init__; __exit__ restores

    def __call__(self, func):
        # Used as a decorator: construction switched the mode at decoration time; undo that.
        global enabled
        enabled = self._prev
        return super().__call__(func)

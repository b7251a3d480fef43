"""Whether ops record the graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

The mode belongs to the thread, as in PyTorch: a ``no_grad`` block in one thread does not stop another
thread from recording, and every new thread starts with recording on. ``state.enabled`` is the flag
every op reads (a thread-local attribute: one lookup); ``grad_mode.enabled`` reads and writes the same
flag, for code written before it was thread-local.
"""
import functools
import sys
import threading
import types


class _State(threading.local):
    # Class attributes are every thread's starting values (threading.local re-runs nothing else).
    enabled = True      # record the graph
    inference = False   # inside inference_mode()


state = _State()


def is_grad_enabled():
    return state.enabled


def is_inference_mode_enabled():
    return state.inference


class _GradModeContext:
    """Base for the switches: each is a context manager and a decorator, like PyTorch's."""

    _mode = True

    def _switch(self):
        """Set this thread's mode; return what to restore afterwards."""
        prev = (state.enabled, state.inference)
        state.enabled = self._mode
        return prev

    def __enter__(self):
        # A stack, so that one instance can be entered again inside itself.
        self.__dict__.setdefault("_prev", []).append(self._switch())

    def __exit__(self, *exc):
        state.enabled, state.inference = self._prev.pop()
        return False

    def __call__(self, func):
        # As a decorator, each call saves and restores in its own frame: safe from several threads.
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = self._switch()
            try:
                return func(*args, **kwargs)
            finally:
                state.enabled, state.inference = prev
        return wrapper


class no_grad(_GradModeContext):
    """Run ops without recording a graph (inference, and the weight update ``w -= lr * w.grad``)."""

    _mode = False


class inference_mode(_GradModeContext):
    """PyTorch's faster no_grad; here ``no_grad`` that also sets ``is_inference_mode_enabled()``.

    ``inference_mode(False)`` records again and leaves inference mode, as PyTorch's does.
    """

    def __init__(self, mode=True):
        self._mode = not mode

    def _switch(self):
        prev = (state.enabled, state.inference)
        state.enabled, state.inference = self._mode, not self._mode
        return prev


class enable_grad(_GradModeContext):
    """Record the graph again inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` switches at once (as a call) and restores on exit (as a context)."""

    def __init__(self, mode):
        self._mode = bool(mode)
        self._prev = [self._switch()]

    def __enter__(self):
        pass  # already switched in __init__; __exit__ restores

    def __call__(self, func):
        # Used as a decorator: construction switched the mode at decoration time; undo that.
        state.enabled, state.inference = self._prev.pop()
        return super().__call__(func)


class _GradModeModule(types.ModuleType):
    """This module, with ``enabled`` as a property over the calling thread's flag."""

    @property
    def enabled(self):
        return state.enabled

    @enabled.setter
    def enabled(self, value):
        state.enabled = bool(value)


sys.modules[__name__].__class__ = _GradModeModule

"""Utilities with PyTorch's layout: ``chainrule.utils.data`` holds datasets and the DataLoader."""

from . import data

__all__ = ["data"]

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

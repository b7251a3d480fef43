"""``chainrule.install_as_torch()``: ``import torch`` (and every ``torch.*`` path) gives chainrule.

chainrule mirrors PyTorch's module paths, so ``torch.X.Y`` is served by ``chainrule.X.Y`` — the same module
object under both names, so ``torch.nn.Linear is chainrule.nn.Linear``. A path that PyTorch has and chainrule
does not yet is refused with an ImportError that says so (``chainrule does not implement torch.fft yet``); a
path PyTorch does not have either gets Python's usual "No module named" error.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from ._pytorch_api import pytorch_has_module

__all__ = ["install_as_torch", "uninstall_as_torch", "is_installed_as_torch"]


class _AliasLoader(importlib.abc.Loader):
    """Hands back an already imported chainrule module instead of executing anything."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


class TorchAliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``torch`` and ``torch.*`` by importing the chainrule module of the same path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" and not fullname.startswith("torch."):
            return None
        target_name = "chainrule" + fullname[len("torch"):]
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as e:
            if e.name is None or not target_name.startswith(e.name):
                raise   # a module chainrule needs is missing: that error is the true one
            if pytorch_has_module(fullname):
                raise ModuleNotFoundError(f"chainrule does not implement {fullname} yet", name=fullname) from None
            return None   # not a PyTorch module either: Python says "No module named ..."
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module), origin=module.__spec__.origin)


_finder = TorchAliasFinder()


def is_installed_as_torch():
    return _finder in sys.meta_path


def install_as_torch():
    """Make ``import torch`` (and ``import torch.nn as nn``, ``from torch.utils.data import DataLoader``…)
    import chainrule, for the rest of this process. Call it before anything imports PyTorch.

    Raises RuntimeError if the real PyTorch is already imported here: two libraries under one name would
    mix their tensors.
    """
    if is_installed_as_torch():
        return
    real = sys.modules.get("torch")
    if real is not None and not getattr(real, "__name__", "").startswith("chainrule"):
        raise RuntimeError("install_as_torch(): the real PyTorch is already imported in this process "
                           f"({getattr(real, '__file__', real)}); call install_as_torch() before anything "
                           "imports torch, or run the program with `chainrule run prog.py`")
    sys.meta_path.insert(0, _finder)


def uninstall_as_torch():
    """Undo ``install_as_torch``: ``torch`` names are forgotten, so a later ``import torch`` is PyTorch's."""
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name in [n for n in sys.modules if n == "torch" or n.startswith("torch.")]:
        if getattr(sys.modules[name], "__name__", "").startswith("chainrule"):
            del sys.modules[name]

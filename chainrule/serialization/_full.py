"""Full unpickling (``load(..., weights_only=False)``): Python's unpickler, PyTorch's names read as chainrule's.

This runs whatever code the file names -- only for files you trust. A name under ``torch.`` is read as
chainrule's object of the same path (``torch.nn.modules.linear.Linear`` is ``chainrule.nn.modules.linear.Linear``),
and the tensor, storage and dtype names of ``_names.ALLOWED`` as chainrule's counterparts, so whole modules
that PyTorch pickled load as chainrule modules where chainrule has the class.
"""
import importlib
import pickle

from . import _names


class FullUnpickler(pickle.Unpickler):
    def __init__(self, file, persistent_load, **kwargs):
        super().__init__(file, **kwargs)
        self._load_persistent = persistent_load

    def persistent_load(self, pid):
        return self._load_persistent(pid)

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full in _names.ALLOWED:
            return _names.ALLOWED[full]
        translated = _names.chainrule_module(module)
        if translated == module:
            return super().find_class(module, name)
        try:
            obj = importlib.import_module(translated)
            for part in name.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            raise AttributeError(f"the file names {full}, which chainrule does not have "
                                 f"(looked for {translated}.{name})") from None
        return obj

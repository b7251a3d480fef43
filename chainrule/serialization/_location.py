"""``map_location``: where each loaded storage goes, in every form ``torch.load`` accepts.

Each storage in a checkpoint carries the location it was saved from (``'cpu'``, ``'cuda:0'``...).
chainrule computes on the CPU, so a storage ends on the CPU or loading stops with PyTorch's error:

* ``None``: keep the saved location -- a CUDA storage raises PyTorch's "CUDA is not available" error;
* a string or ``device``: every storage goes there (``'cpu'``);
* a dict: saved locations are renamed (``{'cuda:0': 'cpu'}``), the others kept;
* a callable ``f(storage, location)``: returns the storage to use, or None for the default.
"""
from ..device import device as _device
from . import _storage

_NO_CUDA = ("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. If you are "
            "running on a CPU-only machine, please use torch.load with map_location=torch.device('cpu') to map your "
            "storages to the CPU.")
_NO_MPS = ("Attempting to deserialize object on MPS device but torch.backends.mps.is_available() is False. If you "
           "are running on a machine without MPS, please use torch.load with map_location=torch.device('cpu') to "
           "map your storages to the CPU.")


def default_restore(storage, location):
    """Put ``storage`` at ``location``: the CPU is the only place chainrule has."""
    location = str(location)
    if location == "cpu" or location.startswith("cpu:"):
        return storage
    if location.startswith("cuda"):
        raise RuntimeError(_NO_CUDA)
    if location.startswith("mps"):
        raise RuntimeError(_NO_MPS)
    raise RuntimeError(f"don't know how to restore data location of {type(storage).__name__} (tagged with "
                       f"{location})")


def restorer(map_location):
    """The function ``(storage, saved_location) -> storage`` that ``map_location`` asks for."""
    if map_location is None:
        return default_restore
    if isinstance(map_location, dict):
        return lambda storage, location: default_restore(storage, map_location.get(location, location))
    if isinstance(map_location, (str, bytes, _device)):
        target = map_location.decode() if isinstance(map_location, bytes) else str(map_location)
        return lambda storage, location: default_restore(storage, target)
    if callable(map_location):
        def call(storage, location):
            result = map_location(storage, location)
            if result is None:
                return default_restore(storage, location)
            if not isinstance(result, _storage.UntypedStorage):
                raise TypeError(f"map_location returned {type(result).__name__}; it must return a storage or None")
            return result
        return call
    raise TypeError(f"map_location must be None, a string, a device, a dict or a callable, not "
                    f"{type(map_location).__name__}")

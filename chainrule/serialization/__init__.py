"""``save`` and ``load``: checkpoints in PyTorch's format (and chainrule's own), read safely by default.

``chainrule.save(obj, f)`` writes PyTorch's zip format, so ``torch.load(f)`` reads it (with PyTorch's
default ``weights_only=True`` when ``obj`` is tensors and containers: a ``state_dict``, an optimizer's
``state_dict``, a dict of them). ``chainrule.load(f)`` reads that format, PyTorch's legacy format and
chainrule's own, telling them apart by their first bytes.

Loading is ``weights_only`` unless asked otherwise: the pickle inside a PyTorch checkpoint is read by an
interpreter that builds tensors, containers and numbers, and refuses anything else a file names (any
class or function not on the allow-list) without importing or calling it. ``add_safe_globals`` /
``safe_globals`` extend the allow-list (a whole model's classes, say). ``weights_only=False`` unpickles
everything, which runs whatever code the file names: never do that with a file you do not trust.

``save(obj, f, format="chainrule")`` writes chainrule's own format (``native``): a JSON header and raw
bytes, never pickle, for tensors, arrays and plain containers only.

Whatever the format, a truncated, corrupted, oversized or hostile file fails fast with a
``CheckpointError`` that names it, within memory bounded by the file's size; saves are atomic.
"""
import pickle
import warnings

from . import legacy, native, torch_zip
from ._atomic import atomic_write
from ._pickler import DEFAULT_PROTOCOL
from ._safe_globals import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from ._source import Source, is_path
from .errors import CheckpointError, WeightsOnlyError

__all__ = ["save", "load", "CheckpointError", "WeightsOnlyError", "add_safe_globals", "safe_globals",
           "get_safe_globals", "clear_safe_globals", "DEFAULT_PROTOCOL"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
FORMATS = ("pytorch", "chainrule")


def save(obj, f, pickle_module=pickle, pickle_protocol=DEFAULT_PROTOCOL, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False, *, format="pytorch"):
    """Save ``obj`` to ``f`` (a path, written atomically, or a binary file object).

    ``format="pytorch"`` (the default): PyTorch's zip format, any picklable object; ``torch.load`` reads it.
    ``format="chainrule"``: chainrule's own format, tensors/arrays/containers only, never pickled.
    """
    if format not in FORMATS:
        raise ValueError(f"chainrule.save: format must be one of {FORMATS}, got {format!r}")
    if pickle_module is not pickle and pickle_module is not None:
        raise ValueError("chainrule.save pickles with Python's pickle module; pickle_module="
                         f"{getattr(pickle_module, '__name__', pickle_module)!r} is not supported")
    if not _use_new_zipfile_serialization:
        raise ValueError("chainrule.save writes PyTorch's zip format (or format='chainrule'); the legacy format "
                         "of _use_new_zipfile_serialization=False can be loaded but not written")
    if format == "chainrule":
        chunks = native.serialize(obj)

        def write(out):
            for chunk in chunks:
                out.write(chunk)
    else:
        if not isinstance(pickle_protocol, int) or not 2 <= pickle_protocol <= pickle.HIGHEST_PROTOCOL:
            raise ValueError(f"chainrule.save: pickle_protocol must be 2 to {pickle.HIGHEST_PROTOCOL}, "
                             f"got {pickle_protocol!r}")
        name = torch_zip.archive_name(f)

        def write(out):
            torch_zip.save(obj, out, name, pickle_protocol)
    if is_path(f):
        atomic_write(f, write)
    elif hasattr(f, "write"):
        write(f)
    else:
        raise AttributeError(f"chainrule.save: expected a path (str or os.PathLike) or a binary file object with "
                             f"write(), got {type(f).__name__}")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Load what ``save`` or ``torch.save`` wrote (or chainrule's own format) from a path or binary file object.

    weights_only: True (the default) reads only tensors, containers, numbers, strings and allow-listed
        globals, and never runs code; False unpickles anything -- unsafe for files you do not trust.
    map_location: where storages go: None, "cpu", a device, a dict renaming saved locations, or a
        callable ``f(storage, location)``. chainrule computes on the CPU; a storage saved on a GPU needs
        ``map_location="cpu"`` (as in PyTorch on a machine without one).
    mmap: map the file and view storages in place instead of reading them (a path is needed).
    """
    if weights_only is None:
        weights_only = pickle_module is None
    if weights_only and pickle_module is not None:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("chainrule.load unpickles with Python's pickle module; pickle_module="
                         f"{getattr(pickle_module, '__name__', pickle_module)!r} is not supported")
    if pickle_load_args and weights_only:
        warnings.warn("pickle_load_args only works if `weights_only=False`.", stacklevel=2)
    encoding = pickle_load_args.pop("encoding", "utf-8")
    if mmap and not is_path(f):
        raise ValueError("f must be a file path in order to use the mmap argument")
    with Source(f) as source:
        if source.size == 0:
            raise CheckpointError(f"chainrule.load: {source.name} is empty")
        head = source.read(0, min(source.size, 512), "the first bytes")
        if head.startswith(_ZIP_MAGIC):
            return torch_zip.load(source, map_location, weights_only, bool(mmap), encoding, pickle_load_args)
        if head.startswith(native.MAGIC):
            return native.read(source)
        if native.MAGIC.startswith(head) or _ZIP_MAGIC[0].startswith(head):
            raise CheckpointError(f"chainrule.load: {source.name} is truncated")
        if mmap:
            raise RuntimeError("mmap can only be used with files saved with `torch.save(_use_new_zipfile_"
                               "serialization=True)`, please torch.save your checkpoint with this option in "
                               "order to use mmap.")
        if legacy.is_tar(head):
            raise CheckpointError(f"chainrule.load: {source.name} is in the tar format of PyTorch before 0.4, "
                                  "which chainrule does not read; load and re-save it with PyTorch")
        if head[:1] == b"\x80":
            return legacy.load(source, map_location, weights_only, encoding, pickle_load_args)
        raise CheckpointError(f"chainrule.load: {source.name} is not a checkpoint (neither PyTorch's format nor "
                              f"chainrule's: it starts with {head[:8]!r})")


from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

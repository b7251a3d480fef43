"""PyTorch's names for what a checkpoint pickle may contain, and the chainrule objects they stand for.

One table serves both directions: loading turns the global ``torch._utils._rebuild_tensor_v2`` in a file
into chainrule's rebuild function, and saving writes that same name for it, so ``torch.load`` reads
chainrule's files. The table is also the default allow-list of ``weights_only`` loading: PyTorch's
(containers, numbers, strings, tensors, storages, dtypes, ``torch.Size``, ``torch.device``...).
"""
import _codecs
import collections
import sys

from .. import dtypes
from ..device import device
from ..nn.parameter import Parameter
from ..tensor import Size, Tensor
from . import _rebuild, _storage


def _encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as protocol-2 pickles use it (bytes written as latin-1 text), text codecs only."""
    if _codecs.lookup(encoding).name not in ("iso8859-1", "utf-8", "ascii") or not isinstance(obj, str):
        raise ValueError(f"_codecs.encode is allowed for text codecs only, not {encoding!r}")
    return _codecs.encode(obj, encoding, errors)


def _bytearray(*args):
    """``bytearray`` from bytes, as pickles use it; never ``bytearray(n)``, which a file could make huge."""
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise ValueError("bytearray() is allowed from bytes only")
    return bytearray(*args)


def _get_layout(name):
    if name == "torch.strided":
        return name
    raise TypeError(f"the file holds tensors of layout {name}, which chainrule does not support")


def _dtype_globals():
    out = {}
    for name in _storage.ITEMSIZE:
        found = getattr(dtypes, name, None)
        out[f"torch.{name}"] = found if isinstance(found, dtypes.dtype) else _rebuild.MissingDtype(name)
    return out


def _storage_globals():
    out = {"torch.storage.UntypedStorage": _storage.UNTYPED}
    for name, kind in _storage.LEGACY_TYPES.items():
        out[f"torch.{name}"] = kind
        out[f"torch.cuda.{name}"] = kind   # GPU checkpoints: the location tag says cuda; map_location decides
    return out


_UNSUPPORTED = {
    "_rebuild_qtensor": "quantized tensors", "_rebuild_sparse_tensor": "sparse tensors",
    "_rebuild_nested_tensor": "nested tensors", "_rebuild_meta_tensor_no_storage": "meta tensors",
    "_rebuild_wrapper_subclass": "wrapper tensor subclasses",
}

ALLOWED = {
    "collections.OrderedDict": collections.OrderedDict,
    "collections.Counter": collections.Counter,
    "torch.nn.parameter.Parameter": Parameter,
    "torch.serialization._get_layout": _get_layout,
    "torch.Size": Size,
    "torch.Tensor": Tensor,
    "torch.device": device,
    "_codecs.encode": _encode,
    "builtins.bytearray": _bytearray,
    "builtins.set": set,
    "builtins.complex": complex,
    "torch._utils._rebuild_tensor": _rebuild.rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild.rebuild_tensor_v2,
    "torch._utils._rebuild_tensor_v3": _rebuild.rebuild_tensor_v3,
    "torch._utils._rebuild_parameter": _rebuild.rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild.rebuild_parameter_with_state,
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": _rebuild.rebuild_device_tensor_from_cpu_tensor,
    "torch._utils._rebuild_device_tensor_from_numpy": _rebuild.rebuild_device_tensor_from_numpy,
    "torch._tensor._rebuild_from_type_v2": _rebuild.rebuild_from_type_v2,
    **{f"torch._utils.{name}": _rebuild.unsupported(what) for name, what in _UNSUPPORTED.items()},
    **{f"torch.{scheme}": scheme for scheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                                                "per_channel_symmetric", "per_channel_affine_float_qparams")},
    **_dtype_globals(),
    **_storage_globals(),
}

# Saving writes these names for these chainrule objects (the reverse of the table, where it is one-to-one).
TORCH_NAME = {id(obj): name for name, obj in ALLOWED.items()
              if not name.startswith(("torch.cuda.", "_codecs", "builtins", "collections", "torch.per_"))
              and not isinstance(obj, (str, _rebuild.MissingDtype))}
TORCH_NAME[id(Size)] = "torch.Size"
TORCH_NAME[id(Tensor)] = "torch.Tensor"


def torch_global(obj):
    """``(module, name)`` PyTorch uses for ``obj`` (a rebuild function, dtype, storage type...), or None."""
    full = TORCH_NAME.get(id(obj))
    if full is None:
        return None
    module, _, name = full.rpartition(".")
    return module, name


def chainrule_module(module):
    """``torch.nn.modules.rnn`` -> ``chainrule.nn.modules.rnn``; other modules unchanged."""
    if module == "torch" or module.startswith("torch."):
        return "chainrule" + module[len("torch"):]
    return module


def lookup_loaded(module, name):
    """The object ``module.name`` names if that module is already imported (nothing is imported here)."""
    obj = sys.modules.get(module)
    if obj is None:
        return None
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj

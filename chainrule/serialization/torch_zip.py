"""PyTorch's checkpoint format (``torch.save`` since 1.6), written and read without PyTorch.

A zip archive (``_zip``) holding, under one folder::

    data.pkl                  the object, pickled; each storage is a persistent id
                              ('storage', <storage type>, key, location, numel)
    data/KEY                  each storage's bytes, in the byte order of ``byteorder``
    byteorder                 'little' or 'big'
    .format_version, .storage_alignment, version, .data/serialization_id

Reading checks the archive (``_zip.ZipArchive``) before touching the pickle, reads a storage only when the
pickle first asks for it, checks that its record holds exactly the bytes the pickle says, and with
``mmap=True`` maps the record instead of reading it. Unpickling is ``_weights_only`` unless the caller
passed ``weights_only=False``.
"""
import io
import os
import pickle
import secrets
import struct
import sys

import numpy

from . import _location, _pickler, _storage, _weights_only
from ._full import FullUnpickler
from ._zip import ZipArchive, ZipWriter
from .errors import CheckpointError, WeightsOnlyError, weights_only_message


# -- writing -----------------------------------------------------------------------------------------


def archive_name(f):
    """The folder inside the archive: the file's name without extension, as torch.save names it."""
    if isinstance(f, (str, bytes, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.fsdecode(os.fspath(f))))[0]
        if stem and stem.isprintable() and "/" not in stem:
            return stem
    return "archive"


def save(obj, out, name, protocol=_pickler.DEFAULT_PROTOCOL):
    """Pickle ``obj`` and write the archive to the binary stream ``out``."""
    data, storages = _pickler.dumps(obj, protocol)
    writer = ZipWriter(out)
    writer.write_record(f"{name}/data.pkl", data)
    writer.write_record(f"{name}/.format_version", b"1")
    writer.write_record(f"{name}/.storage_alignment", b"64")
    writer.write_record(f"{name}/byteorder", sys.byteorder.encode())
    for ref in storages:
        writer.write_record(f"{name}/data/{ref.key}", ref.block)
    writer.write_record(f"{name}/version", b"3\n")
    writer.write_record(f"{name}/.data/serialization_id", "".join(secrets.choice("0123456789")
                                                                    for _ in range(40)).encode())
    writer.finish()


# -- reading -----------------------------------------------------------------------------------------


class _Passthrough(Exception):
    """Carries an error that must reach the user unchanged (map_location's device errors)."""

    def __init__(self, error):
        self.error = error


def _folder(archive):
    names = list(archive.records)
    prefix = names[0].split("/", 1)[0] if names and "/" in names[0] else None
    if prefix is None or any(not n.startswith(prefix + "/") for n in names):
        raise archive.corrupted("its records are not in one folder, as torch.save writes them")
    return prefix


def load(source, map_location, weights_only, use_mmap, encoding="utf-8", pickle_load_args=None):
    archive = ZipArchive(source)
    folder = _folder(archive)

    def record(name):
        return f"{folder}/{name}"

    if archive.has(record("constants.pkl")):
        raise CheckpointError(f"chainrule.load: {source.name} is a TorchScript archive (torch.jit.save); chainrule "
                              "loads checkpoints written by torch.save, not TorchScript programs")
    if not archive.has(record("data.pkl")):
        raise CheckpointError(f"chainrule.load: {source.name} is a zip archive without data.pkl: not a checkpoint "
                              "written by torch.save or chainrule.save")
    order = archive.read(record("byteorder")) if archive.has(record("byteorder")) else b"little"
    if order not in (b"little", b"big"):
        raise CheckpointError(f"chainrule.load: {source.name} is corrupted (unknown byte order {order[:16]!r})")
    swap = order.decode() != sys.byteorder
    mapped = source.map() if use_mmap else None
    restore = _location.restorer(map_location)
    loaded = {}

    def persistent_load(pid):
        kind, key, location, numel = _storage_reference(pid)
        if key in loaded:
            return loaded[key]
        name = record(f"data/{key}")
        if not archive.has(name):
            raise ValueError(f"the pickle refers to storage {key}, but the archive has no record data/{key}")
        nbytes = numel * _storage.ITEMSIZE[kind.dtype_name]
        if archive.size(name) != nbytes:
            raise ValueError(f"record data/{key} holds {archive.size(name)} bytes, but the pickle says {numel} "
                             f"elements of {kind.dtype_name} ({nbytes} bytes)")
        if mapped is not None:
            array = numpy.frombuffer(mapped, dtype=numpy.uint8, count=nbytes, offset=archive.offset(name))
        else:
            array = archive.read_array(name)
        if swap:
            _byteswap(array, kind.dtype_name)
        storage = _storage.TypedStorage(array, kind.dtype_name)
        storage.key = f"data/{key}"
        try:
            storage = restore(storage, location)
        except Exception as exc:   # the user's own map_location, or PyTorch's device errors: unchanged
            raise _Passthrough(exc) from None
        loaded[key] = storage
        return storage

    data = archive.read(record("data.pkl"))
    return unpickle(data, persistent_load, weights_only, source.name, "data.pkl", encoding, pickle_load_args)


def unpickle(data, persistent_load, weights_only, name, entry, encoding="utf-8", pickle_load_args=None):
    """Unpickle ``data`` (bytes or a binary stream), turning every failure into an error that names the file."""
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        if weights_only:
            return _weights_only.WeightsOnlyUnpickler(stream, persistent_load, encoding).load()
        return FullUnpickler(stream, persistent_load, encoding=encoding, **(pickle_load_args or {})).load()
    except _Passthrough as wrapped:
        raise wrapped.error from None
    except _weights_only.Malformed as exc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted ({entry}: {exc})") from None
    except WeightsOnlyError as exc:
        raise WeightsOnlyError(weights_only_message(name, str(exc))) from None
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, struct.error) as exc:
        raise CheckpointError(f"chainrule.load: {name} is corrupted ({entry}: {exc})") from None
    except (TypeError, ValueError, AttributeError, OverflowError, UnicodeDecodeError, RuntimeError) as exc:
        if not weights_only and not isinstance(exc, (TypeError, ValueError)):
            raise   # full unpickling runs the file's own code: its errors are its own
        raise CheckpointError(f"chainrule.load: cannot load {name}: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"chainrule.load: {name} is nested too deeply to load") from None


def _storage_reference(pid):
    """``(storage type, key, location, numel)`` from a persistent id, checked."""
    if not (isinstance(pid, tuple) and len(pid) == 5):
        raise ValueError(f"a storage reference of the wrong form: {str(pid)[:80]}")
    typename, kind, key, location, numel = (_text(v) for v in pid)
    if typename != "storage" or not isinstance(kind, _storage.StorageType):
        raise ValueError(f"a storage reference of the wrong form: {str(pid)[:80]}")
    if not isinstance(key, str) or not isinstance(location, str):
        raise ValueError(f"a storage reference of the wrong form: {str(pid)[:80]}")
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        raise ValueError(f"storage {key} has a bad size {numel!r}")
    return kind, key, location, numel


def _text(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def _byteswap(array, dtype_name):
    """Bring a storage saved on a machine of the other byte order to this one's, in place."""
    swap_as = _storage.as_numpy_dtype(dtype_name)
    if swap_as is not None and array.nbytes % swap_as.itemsize == 0:
        array.view(swap_as).byteswap(inplace=True)

"""Turning a list of samples into a batch: ``default_collate`` and ``default_convert``.

The batch mirrors the structure of one sample: tensors (and NumPy arrays) are
stacked along a new first dimension, Python numbers become a 1-d tensor,
tuples/lists are transposed (a list of ``(x, y)`` pairs becomes ``[xs, ys]``),
dicts are collated key by key, and strings are left as a list.
"""

import collections.abc
import numbers

import numpy as np

import chainrule


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def default_collate(batch):
    """Collate a list of samples into one batch, recursively (see the module docstring)."""
    elem = batch[0]
    if isinstance(elem, chainrule.Tensor):
        return chainrule.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(f"default_collate: cannot collate NumPy arrays of dtype {elem.dtype}")
        return chainrule.from_numpy(np.stack(batch))
    if isinstance(elem, np.generic):
        return chainrule.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return chainrule.tensor(list(batch), dtype=chainrule.bool)
    if isinstance(elem, numbers.Integral):
        return chainrule.tensor(list(batch), dtype=chainrule.int64)
    if isinstance(elem, numbers.Real):
        return chainrule.tensor(list(batch), dtype=chainrule.float64)
    if isinstance(elem, (str, bytes)) or elem is None:
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(
        "default_collate: batch must contain tensors, NumPy arrays, numbers, dicts or "
        f"lists; found {type(elem)}"
    )


def default_convert(data):
    """Convert one unbatched sample (``batch_size=None``): NumPy arrays become tensors."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return chainrule.from_numpy(data)
    if isinstance(data, np.generic):
        return chainrule.from_numpy(np.array(data))
    if isinstance(data, collections.abc.Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data

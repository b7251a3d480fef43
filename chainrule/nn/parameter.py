"""``nn.Parameter``: a tensor that a Module registers as one of its learnable weights.

A Parameter *is* a Tensor (a subclass), holding the very array of the data it was built from, so
``Parameter(t)`` copies nothing. What makes it special is only what ``Module.__setattr__`` does with
it: assigning one to a module attribute adds it to ``module.parameters()``.
"""
import numpy as np

from .. import dtypes
from ..tensor import Tensor, _make


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is registered by the Module it is assigned to."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _make(np.empty(0, dtype=dtypes.get_default_dtype().np))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(data): data must be a Tensor, got {type(data).__name__}")
        # A fresh leaf over the same array: no history, no grad, but the data's version counter (so an
        # in-place change through either is seen by backward rules that saved the other).
        self._copy_state(_make(data._array))
        self._vc = data._vc
        self.requires_grad = requires_grad

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self._array, self._requires_grad))


def _rebuild_parameter(array, requires_grad):
    return Parameter(_make(array.copy()), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute (``nn.Buffer``)."""

    def __init__(self, data, *, persistent=True):
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer(data): data must be a Tensor, got {type(data).__name__}")
        self._copy_state(_make(data._array))
        self._vc = data._vc
        self.persistent = persistent

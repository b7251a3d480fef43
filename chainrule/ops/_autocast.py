"""Autocast on the CPU: which ops an enabled ``torch.autocast("cpu")`` region runs in lower precision, and
which in float32. The region itself (the context manager) is ``chainrule.amp.autocast``; this is the part
the ops consult, so it lives with them.

PyTorch's CPU rules, checked op by op against PyTorch 2.13 (``tests/test_autocast.py``):

- Ops on its lower-precision list (matrix products, linear, convolutions, ``prelu``, attention) cast their
  floating inputs to the region's dtype (bfloat16 by default, or float16) and compute there: float32 in,
  bfloat16 out.
- Ops on its float32 list (the losses, ``prod``, reflection/replication padding) cast half-precision inputs
  up to float32.
- Every other op runs in the dtype its inputs have, with the usual promotion (``float32 + bfloat16`` is
  float32).

Only float32 and half-precision tensors are cast: float64 tensors, integers and bools never are. Inside an
op that autocast has cast for, autocast is off, so the op's own building blocks are not cast again; the
casts are ordinary differentiable ``to()`` calls, so gradients come back in each input's own dtype. The
state belongs to the thread, as in PyTorch.
"""
import functools
import threading

from .._backend import xp as np

from .. import dtypes
from ..tensor import Tensor
from ._common import _HALF_FLOATS, is_half, run_in_float32


class _State(threading.local):
    cpu_dtype = None   # what an enabled CPU region casts to; None when off, or inside an op already cast for
    regions = None     # device type -> (enabled, dtype) as the innermost region set it


_state = _State()
# How many threads are inside an enabled CPU region: while none is (nearly always), an op's wrapper reads
# this one global and not the thread-local state, which costs more on every call.
_threads_in_a_region = 0
_count_lock = threading.Lock()


def region(device_type):
    """``(enabled, dtype)`` of the innermost autocast region for ``device_type`` on this thread."""
    return (_state.regions or {}).get(device_type, (False, None))


def set_region(device_type, enabled, dtype):
    """Enter (or restore) a region's settings; returns the settings it replaces."""
    global _threads_in_a_region
    if _state.regions is None:
        _state.regions = {}
    previous = region(device_type)
    _state.regions[device_type] = (enabled, dtype)
    if device_type == "cpu":
        _state.cpu_dtype = dtype if enabled else None
        if bool(enabled) != bool(previous[0]):
            with _count_lock:
                _threads_in_a_region += 1 if enabled else -1
    return previous


def _eligible(v, target):
    """A tensor autocast casts: floating, not float64 (PyTorch leaves doubles alone), not already ``target``."""
    if not isinstance(v, Tensor):
        return False
    np_dtype = v._array.dtype
    return dtypes.is_float_np(np_dtype) and np_dtype != np.float64 and np_dtype != target.np


def _policy(cast_to, in_float32):
    """A decorator: inside an enabled CPU region, cast the op's eligible tensor arguments to ``cast_to(region
    dtype)`` and run the op with autocast off. With ``in_float32``, the op also computes half-precision inputs
    in float32 and rounds once (``half_in_float32``), in the same wrapper: these are hot ops (matmul, linear),
    and each wrapper is a Python call."""
    def decorate(op):
        def autocast_wrapper(*args, **kwargs):
            region_dtype = _state.cpu_dtype if _threads_in_a_region else None
            if region_dtype is None:
                if in_float32 and args:   # (is_half, inlined: this runs on every matmul)
                    x = args[0]
                    if isinstance(x, Tensor) and x._array.itemsize == 2 and x._array.dtype in _HALF_FLOATS:
                        return run_in_float32(op, x, args[1:], kwargs)
                return op(*args, **kwargs)
            target = cast_to(region_dtype)
            if target is not None:
                args = [a.to(target) if _eligible(a, target) else a for a in args]
                kwargs = {k: v.to(target) if _eligible(v, target) else v for k, v in kwargs.items()}
            _state.cpu_dtype = None
            try:
                if in_float32 and args and is_half(args[0]):
                    return run_in_float32(op, args[0], args[1:], kwargs)
                return op(*args, **kwargs)
            finally:
                _state.cpu_dtype = region_dtype
        functools.update_wrapper(autocast_wrapper, op)
        return autocast_wrapper
    return decorate


# Each op that PyTorch lists computes half-precision inputs in float32 and rounds once, as its kernels do.
autocast_to_lower_precision = _policy(lambda region_dtype: region_dtype, in_float32=True)
autocast_to_float32 = _policy(lambda region_dtype: dtypes.float32, in_float32=True)
# An op PyTorch computes in one kernel and does not list (``mv``, ``adaptive_avg_pool2d``): it runs in its
# inputs' dtype, so the listed ops chainrule builds it from must not be cast inside it.
autocast_runs_as_is = _policy(lambda region_dtype: None, in_float32=True)

"""Graph capture: ``chainrule.compile(step)`` traces one training step into a flat NumPy program.

Eager mode pays Python overhead per op twice (building the graph, then walking it). For a step
that runs many times with the same shapes (forward, loss, backward, optimizer update) that work
is the same every time, so ``compile`` does it once:

    step = chainrule.compile(train_step)     # train_step(x, y) -> loss tensor
    for x, y in loader:
        loss = step(x, y)

How it works. The first call runs eagerly (optimizers create their state lazily). The second call
is traced: the arrays of the inputs and of the step's state (the parameters, buffers, gradients
and optimizer state of the modules, optimizers and tensors the function refers to) are swapped
for ``_Traced`` views, an ndarray subclass that records every NumPy kernel applied to them (ufuncs
through ``__array_ufunc__``, functions through ``__array_function__``, and the view methods).
The recording is then linked into a list of zero-argument kernels over preallocated buffers
(``out=``), checked against eager mode on the next step, and replayed on later calls.

Before each replay the program's guard (``_compile_guards.py``) checks the Python values the step can
reach (closure cells, globals, module attributes and children, tensors' requires_grad and arrays, optimizer
groups): a change makes a new trace, as new input shapes or dtypes do.

What cannot be captured is refused, and the step runs eagerly instead (with a warning, or an error under
``fullgraph=True``): Python control flow that reads tensor values (``.item()``, ``if loss > 0``), random
numbers inside the step (dropout in training mode), Python side effects of the step (a counter it
increments), a step that rebinds state instead of updating it in place, or a value the guards cannot read.
A trace that meets one of these goes on as a plain eager step (traced arrays then compute as plain ones),
so the call that discovered the refusal is still the step's one real call.
"""
import functools
import gc
import io
import os
from builtins import compile as builtins_compile
import sys
import time
import traceback
import types
import warnings

import numpy as np

from . import _compile_guards as _guards
from ._backend import restore_array_module, swap_array_module
from .tensor import Tensor, _make


class CaptureError(RuntimeError):
    """The step does something a captured program cannot repeat faithfully."""


class _Traced(np.ndarray):
    """An array whose operations are recorded. ``_slot`` is its value's number in the program."""

    _slot = None

    def __array_finalize__(self, obj):
        self._slot = None   # derived by a path the tracer did not see: unusable until recorded

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _tracer.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _tracer.function(func, args, kwargs)

    # Methods that make views or copies without a ufunc: recorded as the equivalent call.
    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _tracer.call(np.reshape, (self, shape), {})

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None)
        return _tracer.call(np.transpose, (self, axes), {})

    def swapaxes(self, a, b):
        return _tracer.call(np.swapaxes, (self, a, b), {})

    @property
    def T(self):
        return _tracer.call(np.transpose, (self, None), {})

    def squeeze(self, axis=None):
        return _tracer.call(np.squeeze, (self, axis), {})

    def ravel(self, order="C"):
        return _tracer.call(np.ravel, (self,), {})

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return _tracer.call(_astype, (self, np.dtype(dtype), copy), {})

    def view(self, *args, **kwargs):
        """``a.view(dtype)`` (the same bytes read as another dtype: a ReLU mask ANDed into a float's bits) is
        recorded; views as another array class (the tracer's own ``.view(np.ndarray)``) are not."""
        dtype = args[0] if args else kwargs.get("dtype")
        if (dtype is not None and len(args) + len(kwargs) == 1
                and not (isinstance(dtype, type) and issubclass(dtype, np.ndarray))):
            return _tracer.call(_view_dtype, (self, np.dtype(dtype)), {})
        return np.ndarray.view(self, *args, **kwargs)

    def copy(self, order="C"):   # ndarray.copy makes C order by default (np.copy keeps the layout)
        return _tracer.call(np.copy, (self,), {"order": order})

    def argmax(self, axis=None, out=None, keepdims=False):
        return _tracer.call(np.argmax, (self,), {"axis": axis, "keepdims": keepdims})

    def argmin(self, axis=None, out=None, keepdims=False):
        return _tracer.call(np.argmin, (self,), {"axis": axis, "keepdims": keepdims})

    def fill(self, value):
        _tracer.call(np.copyto, (self, value), {"casting": "unsafe"})

    def __getitem__(self, index):
        return _tracer.call(_getitem, (self, index), {})

    def __setitem__(self, index, value):
        _tracer.call(_setitem, (self, index, value), {})

    # In-place methods that bypass __array_ufunc__: recorded as writes into this array.
    def sort(self, axis=-1, kind=None, order=None):
        _tracer.call(_sort_inplace, (self, axis, kind), {}, writes=_Slot(self._slot))

    def put(self, indices, values, mode="raise"):
        _tracer.call(np.put, (self, indices, values), {"mode": mode})

    def nonzero(self):
        return np.nonzero(self)

    # Reading a value into Python makes the step's control flow depend on data: the program cannot repeat
    # that decision. The trace goes on with the real value (it is a real step) but will not be captured.
    def _reads_value(name):
        real = getattr(np.ndarray, name)

        def method(self, *args, **kwargs):
            _tracer.refuse("the step reads a tensor's value into Python (.item(), float(), bool(), an `if` on a "
                           "tensor...): a captured program cannot repeat that decision")
            return real(self.view(np.ndarray), *args, **kwargs)
        method.__name__ = name
        return method

    for _name in ("item", "tolist", "tobytes", "__bool__", "__float__", "__int__", "__index__", "__complex__",
                  "__contains__"):
        locals()[_name] = _reads_value(_name)

    def _writes_unrecorded(name):
        real = getattr(np.ndarray, name)

        def method(self, *args, **kwargs):
            _tracer.refuse(f"the step changes an array in place by a NumPy method the tracer does not record "
                           f"(ndarray.{name})")
            return real(self.view(np.ndarray), *args, **kwargs)
        method.__name__ = name
        return method

    for _name in ("partition", "resize", "byteswap", "setfield"):
        locals()[_name] = _writes_unrecorded(_name)
    del _name, _reads_value, _writes_unrecorded


def _astype(a, dtype, copy=True):
    return a.astype(dtype, copy=copy)


def _view_dtype(a, dtype):
    return a.view(dtype)


def _getitem(a, index):
    return a[index]


def _setitem(a, index, value):
    a[index] = value


def _sort_inplace(a, axis, kind):
    a.sort(axis=axis, kind=kind)


def _nth(func, i):
    """``func``'s ``i``-th result, for functions that return several arrays (split, broadcast_arrays)."""
    def nth(*args, **kwargs):
        return func(*args, **kwargs)[i]
    nth.__name__ = f"{getattr(func, '__name__', 'func')}[{i}]"
    nth.__wrapped__ = func
    return nth


def _root(a):
    """The array that owns ``a``'s memory."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _has_index_mask(index):
    """Whether a traced index selects by a boolean mask: the result's shape depends on its values."""
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, _Traced) and i.dtype == bool for i in items)


# Functions whose results' shapes depend on the values: a fixed buffer cannot hold them.
_DATA_DEPENDENT_SHAPE = {np.nonzero, np.argwhere, np.flatnonzero, np.unique, np.extract, np.compress}


# ----- the tracer --------------------------------------------------------------------------------
class _Instruction:
    __slots__ = ("func", "args", "kwargs", "out_slot", "writes", "is_view")

    def __init__(self, func, args, kwargs, out_slot, writes, is_view):
        self.func, self.args, self.kwargs = func, args, kwargs
        self.out_slot, self.writes, self.is_view = out_slot, writes, is_view


class _Slot:
    """A reference to a value of the program inside an instruction's arguments."""
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


_VIEW_FUNCS = {np.reshape, np.transpose, np.swapaxes, np.squeeze, np.ravel, np.broadcast_to,
               np.expand_dims, np.moveaxis, np.diagonal}


def _holds_slot(obj):
    if isinstance(obj, _Slot):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_holds_slot(o) for o in obj)
    if isinstance(obj, dict):
        return any(_holds_slot(o) for o in obj.values())
    return False


def _value_args(func, args, kwargs):
    """The arguments that decide a creation function's values (not its shape): full's fill value."""
    if func is np.full:
        return (args[1:], kwargs.get("fill_value"))
    if func is np.full_like:
        return (args[1:], kwargs.get("fill_value"))
    return ()


class _RaiseIf:
    """A check a replay makes on its values (``compiler.raise_if``): raises where eager mode raises."""

    __slots__ = ("error", "__name__")

    def __init__(self, error):
        self.error = error
        self.__name__ = "raise_if"

    def __call__(self, flag, *arrays):
        if flag.any():
            raise self.error(flag, *arrays)


def _bare(obj):
    """``obj`` with every traced array replaced by a plain view of the same memory."""
    if isinstance(obj, _Traced):
        return obj.view(np.ndarray)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_bare(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _bare(v) for k, v in obj.items()}
    return obj


def _where():
    """`` (at file:line, in function)``: the innermost frame outside this module, NumPy and the frozen standard
    modules (``os.environ``'s methods), where the step did what the tracer refuses."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if (frame.filename != __file__ and f"{os.sep}numpy{os.sep}" not in frame.filename
                and not frame.filename.startswith("<frozen")):
            return f" (at {os.path.basename(frame.filename)}:{frame.lineno}, in {frame.name})"
    return ""


class _PassThrough:
    """The tracer when none runs, and what a refused trace becomes: NumPy on plain views, nothing recorded.
    (A traced array that outlives its trace, or a trace that saw something it cannot replay, computes as
    a plain array would: the step it belongs to is a real step and finishes as one.)"""

    refused = "not tracing"

    def refuse(self, reason):
        pass

    def check_plain(self, array):
        pass

    def call(self, func, args, kwargs, writes=None):
        return func(*_bare(args), **_bare(kwargs))

    def ufunc(self, ufunc, method, inputs, kwargs):
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return fn(*_bare(inputs), **_bare(kwargs))

    def function(self, func, args, kwargs):
        return func(*_bare(args), **_bare(kwargs))


_IDLE = _PassThrough()
_tracer = _IDLE


class Tracer(_PassThrough):
    def __init__(self):
        self.instructions = []
        self.values = []          # slot -> the value the trace computed (plain ndarray)
        self.external = {}        # slot -> the persistent array it stands for
        self.fresh = {}           # slot -> initial content of an array the step creates (zeros, ones)
        self.roots = set()        # ids of the arrays owning the memory of the values: a plain array
        #                           viewing one of them escaped the tracer
        self.refused = None       # why this trace cannot become a program (the first reason seen)

    def refuse(self, reason):
        """The program cannot repeat this step: record why (and where), and let the step finish as a plain
        eager step."""
        if self.refused is None:
            self.refused = reason + _where()

    def new_slot(self, value, external=None):
        value = np.asarray(value)
        self.values.append(value)
        self.roots.add(id(_root(value)))
        slot = len(self.values) - 1
        if external is not None:
            self.external[slot] = external
        traced = value.view(_Traced)
        traced._slot = slot
        return traced

    def _unwrap(self, obj):
        """Replace traced arrays by slot references (refusing the trace where one was not recorded)."""
        if isinstance(obj, _Traced):
            if obj._slot is None:
                self.refuse("an array was derived by a NumPy path the tracer does not record")
            return _Slot(obj._slot)
        if isinstance(obj, np.ndarray):
            self.check_plain(obj)
        if isinstance(obj, (tuple, list)):
            items = [self._unwrap(o) for o in obj]
            return type(obj)(items)
        if isinstance(obj, dict):
            return {k: self._unwrap(v) for k, v in obj.items()}
        return obj

    def check_plain(self, array):
        """A plain array is a constant of the program, unless it views a value's memory: then it was
        derived from the step's tensors by a path the tracer did not see, and baking it in would be wrong."""
        if id(_root(array)) in self.roots:
            self.refuse("an array was derived from the step's tensors by a NumPy path the tracer does not record "
                        "(np.asarray, as_strided, a view of a tensor's raw memory...)")

    def _plain(self, obj):
        if isinstance(obj, _Slot):
            return self.values[obj.n]
        if isinstance(obj, (tuple, list)):
            return type(obj)(self._plain(o) for o in obj)
        if isinstance(obj, dict):
            return {k: self._plain(v) for k, v in obj.items()}
        return obj

    def call(self, func, args, kwargs, writes=None):
        """Run ``func`` on plain arrays, record it, return its result as a traced array."""
        if self.refused is None:
            uargs, ukwargs = self._unwrap(args), self._unwrap(kwargs)
            if func in _DATA_DEPENDENT_SHAPE or (func is _getitem and _has_index_mask(args[1])):
                if _holds_slot((uargs, ukwargs)):
                    self.refuse(f"{getattr(func, '__name__', func)}'s result has a shape that depends on the values "
                                f"(nonzero, unique, a boolean mask index): a fixed program cannot hold it")
        if self.refused is not None:
            return _PassThrough.call(self, func, args, kwargs)
        plain_args = self._plain(uargs)
        result = func(*plain_args, **self._plain(ukwargs))
        if result is None and writes is None:
            # NumPy's functions that return nothing (copyto, put_along_axis, putmask, ...) write into
            # their first argument: that buffer changes during a replay, so it is no constant.
            if not (uargs and isinstance(uargs[0], _Slot)):
                self.refuse(f"{getattr(func, '__name__', func)} writes into an array the tracer cannot see")
                return None
            writes = uargs[0]
        if writes is not None or result is None:
            self.instructions.append(_Instruction(func, uargs, ukwargs, None, writes, False))
            return self._wrap_written(writes) if writes is not None and result is not None else None
        if isinstance(result, (tuple, list)) and any(isinstance(r, np.ndarray) for r in result):
            if not _holds_slot((uargs, ukwargs)):
                return result   # made from constants only: a constant
            # Several arrays (split, broadcast_arrays): one instruction per result.
            return type(result)(self._record(_nth(func, i), uargs, ukwargs, plain_args, r)
                                for i, r in enumerate(result))
        if not isinstance(result, (np.ndarray, np.generic)):
            return result   # a query (shape, dtype, may_share_memory): nothing to record
        return self._record(func, uargs, ukwargs, plain_args, result)

    def _record(self, func, uargs, ukwargs, plain_args, result):
        out = self.new_slot(result)
        first = plain_args[0] if plain_args else None
        is_view = (isinstance(result, np.ndarray) and isinstance(first, np.ndarray)
                   and np.may_share_memory(result, first))
        if func in _FRESH and not _holds_slot(_value_args(func, uargs, ukwargs)):
            self.fresh[out._slot] = np.array(result)   # its content at creation, refilled each replay
        self.instructions.append(_Instruction(func, uargs, ukwargs, out._slot, None, is_view))
        return out

    def _wrap_written(self, target):
        value = self.values[target.n].view(_Traced)
        value._slot = target.n
        return value

    def check(self, flag, error, arrays):
        """``compiler.raise_if`` while tracing: raise now if the values say so (the trace is a real step), and
        record the check, so that every replay makes it on its own values."""
        plain = flag.view(np.ndarray)
        if plain.any():
            raise error(plain, *_bare(arrays))
        uargs = self._unwrap((flag,) + tuple(arrays))
        if self.refused is None:
            self.instructions.append(_Instruction(_RaiseIf(error), uargs, {}, None, None, False))

    def ufunc(self, ufunc, method, inputs, kwargs):
        if self.refused is None:
            out = kwargs.get("out")
            out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
            if out is not None and not isinstance(out, _Traced):
                self.refuse(f"{ufunc.__name__} writes into an array that is not part of the step's state (the "
                            f"tracer cannot see it)")
            elif method == "at" and not isinstance(inputs[0], _Traced):
                self.refuse(f"{ufunc.__name__}.at writes into an array the tracer cannot see")
        if self.refused is not None:
            return _PassThrough.ufunc(self, ufunc, method, inputs, kwargs)
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        if out is not None:
            target = self._unwrap(out)
            self.call(fn, inputs, dict(kwargs, out=out), writes=target)
            return self._wrap_written(target) if self.refused is None else out
        if method == "at":
            self.call(fn, inputs, kwargs, writes=self._unwrap(inputs[0]))
            return None
        return self.call(fn, inputs, kwargs)

    def function(self, func, args, kwargs):
        return self.call(func, args, kwargs)


# ----- creation functions made during the step: recorded as fresh allocations ----------------------
class _TracingNumpy:
    """Stands in for ``numpy`` inside chainrule's modules during a trace: arrays a step creates
    from nothing (zeros, ones, full, empty) become program values refilled on every replay."""

    _is_array_module_stand_in = True

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def _fresh(maker, *args, **kwargs):
        return _tracer.call(maker, args, kwargs)

    def zeros(self, *args, **kwargs):
        return self._fresh(np.zeros, *args, **kwargs)

    def ones(self, *args, **kwargs):
        return self._fresh(np.ones, *args, **kwargs)

    def empty(self, *args, **kwargs):
        return self._fresh(np.empty, *args, **kwargs)

    def full(self, *args, **kwargs):
        return self._fresh(np.full, *args, **kwargs)

    def asarray(self, a, dtype=None, **kwargs):
        if isinstance(a, _Traced) and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        if isinstance(a, _Traced):
            return a.astype(dtype)
        return _convert(np.asarray, a, dtype=dtype, **kwargs)

    def array(self, a, dtype=None, copy=True, **kwargs):
        if isinstance(a, _Traced):
            return a.astype(dtype or a.dtype) if copy else self.asarray(a, dtype)
        return _convert(np.array, a, dtype=dtype, copy=copy, **kwargs)

    def asanyarray(self, a, dtype=None, **kwargs):
        return self.asarray(a, dtype, **kwargs)

    def ascontiguousarray(self, a, dtype=None, **kwargs):
        return _convert(np.ascontiguousarray, a, dtype=dtype, **kwargs)

    def asfortranarray(self, a, dtype=None, **kwargs):
        return _convert(np.asfortranarray, a, dtype=dtype, **kwargs)

    @property
    def random(self):
        return _RefusingRandom(np.random)


def _contains_traced(obj):
    if isinstance(obj, _Traced):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_contains_traced(o) for o in obj)
    return False


def _convert(func, a, **kwargs):
    """np.asarray and its kin, which NumPy does not dispatch: recorded when they read traced arrays
    (a traced array, or a list of them), refused when they read a plain view of a traced array."""
    if _contains_traced(a):
        return _tracer.call(func, (a,), kwargs)
    if isinstance(a, np.ndarray):
        _tracer.check_plain(a)
    return func(a, **kwargs)


_real_as_strided = np.lib.stride_tricks.as_strided


def _traced_as_strided(x, shape=None, strides=None, subok=False, writeable=True):
    """as_strided on a traced array: recorded as a view (NumPy does not dispatch it)."""
    if isinstance(x, _Traced):
        return _tracer.call(_as_strided_view, (x, tuple(shape), tuple(strides), writeable), {})
    if isinstance(x, np.ndarray):
        _tracer.check_plain(x)
    return _real_as_strided(x, shape, strides, subok, writeable)


def _as_strided_view(x, shape, strides, writeable):
    return _real_as_strided(x, shape, strides, writeable=writeable)


def _swap_functions(replacements):
    """Rebind, in chainrule's modules, names imported from NumPy that it does not dispatch."""
    swapped = []
    for name, module in list(sys.modules.items()):
        if module is None or name == __name__ or not (name == "chainrule" or name.startswith("chainrule.")):
            continue
        for attr, value in list(vars(module).items()):
            for real, stand_in in replacements:
                if value is real:
                    swapped.append((module, attr, value))
                    setattr(module, attr, stand_in)
    return swapped


def _restore_functions(swapped):
    for module, attr, value in swapped:
        setattr(module, attr, value)


class _RefusingRandom:
    """Stands in for a random generator during a trace: a draw refuses the trace, then draws for real."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        _tracer.refuse(_RANDOM_REASON)
        return getattr(self._real, name)


_RANDOM_REASON = ("the step draws random numbers (dropout in training mode, randn, ...): a captured program "
                  "would repeat the same numbers every time")


_FRESH = {np.zeros, np.ones, np.full, np.zeros_like, np.ones_like, np.full_like}


# ----- linking: the recording becomes a list of kernels over fixed buffers -------------------------
def _link(tracer, input_slots, grad_input_slots=(), needed=()):
    """``(kernels, buffers, written inputs, unread gradients)``: every slot gets one buffer for good, so each
    kernel can be bound once. The gradients a step starts from get buffers of their own: a replay copies the
    current ``.grad`` into them (unless no kernel reads them: the unread gradients), and leaves the arrays of
    older gradient tensors alone.

    ``needed``: the slots a replay hands out (the result, the gradients it binds). Two passes make the
    program shorter than the recording: values computed from constants only are computed once, here
    (constant folding: the gradient seed and what is derived from it), and instructions whose results
    nothing needed reads are dropped (dead code: a detach's copy, a value the backward pass never used).
    """
    buffers = {}
    for slot, array in tracer.external.items():
        buffers[slot] = array
    for slot in list(input_slots) + list(grad_input_slots):
        buffers[slot] = np.empty_like(tracer.values[slot])

    def arg(obj):
        if isinstance(obj, _Slot):
            return buffers[obj.n]
        if isinstance(obj, (tuple, list)):
            return type(obj)(arg(o) for o in obj)
        if isinstance(obj, dict):
            return {k: arg(v) for k, v in obj.items()}
        return obj

    aliases = _Aliases(tracer)
    mutable_roots = ({aliases.root(s) for s in tracer.external} | {aliases.root(s) for s in input_slots}
                     | {aliases.root(s) for s in grad_input_slots})
    written_roots = {aliases.root(ins.writes.n) for ins in tracer.instructions if isinstance(ins.writes, _Slot)}
    immutable = {n for n in range(len(tracer.values)) if aliases.root(n) not in mutable_roots | written_roots}
    constant, constant_roots = _constant_slots(tracer, aliases, immutable)
    live = _live_instructions(tracer, aliases, mutable_roots, needed, constant, constant_roots)
    read_roots = {aliases.root(n) for ins, is_live in zip(tracer.instructions, live) if is_live
                  for n in _slots_in((ins.args, ins.kwargs))}
    shares = {}      # a copy nobody writes to, of a source nobody writes to: it shares the source's buffer
    for ins, is_live in zip(tracer.instructions, live):
        if (is_live and ins.func in (np.copy, _astype) and ins.out_slot in immutable and isinstance(ins.args[0], _Slot)
                and ins.args[0].n in immutable and tracer.values[ins.args[0].n].dtype == tracer.values[ins.out_slot].dtype
                and tracer.values[ins.args[0].n].strides == tracer.values[ins.out_slot].strides):
            shares[ins.out_slot] = ins.args[0].n
    pool = _BufferPool(tracer, live, constant, set(needed) | set(buffers), shares)
    kernels = []     # (function, args, kwargs): the calls of a replay, in order
    for i, (ins, is_live) in enumerate(zip(tracer.instructions, live)):
        if not is_live:
            continue
        if ins.out_slot is not None and ins.out_slot in constant and not ins.is_view:
            buffers[ins.out_slot] = np.array(tracer.values[ins.out_slot])   # computed once, at the trace
            continue
        args, kwargs = arg(ins.args), arg(ins.kwargs)
        if ins.out_slot is None:                       # writes into an existing buffer
            kernels.append((ins.func, args, kwargs))
            pool.release_after(i)
            continue
        value = tracer.values[ins.out_slot]
        if ins.is_view:                                # a view of a fixed buffer is fixed too
            view = buffers[ins.out_slot] = ins.func(*args, **kwargs)
            if not (np.may_share_memory(view, args[0]) and view.shape == value.shape
                    and view.strides == value.strides):
                # The buffer it views is laid out unlike the traced value (a view made of it would
                # read other memory, or be a copy that writes do not reach).
                raise CaptureError(f"{getattr(ins.func, '__name__', ins.func)} makes a view whose layout "
                                   f"differs between the trace and the linked program")
            pool.release_after(i)
            continue
        if ins.out_slot in shares:
            buffers[ins.out_slot] = args[0]            # a copy nobody writes to: share the source
            pool.release_after(i)
            continue
        buf = buffers[ins.out_slot] = pool.take(ins.out_slot)
        if ins.out_slot in tracer.fresh:
            kernels.append((np.copyto, (buf, tracer.fresh[ins.out_slot]), {}))
        elif ins.func in _UNINITIALISED:
            pass                                       # np.empty: the buffer is the array, whatever it holds
        elif isinstance(ins.func, np.ufunc) or getattr(ins.func, "__self__", None).__class__ is np.ufunc:
            kernels.append((ins.func, args, dict(kwargs, out=buf)))
        elif ins.func in (np.copy, _astype):
            kernels.append((np.copyto, (buf, args[0]), {"casting": "unsafe"}))
        elif ins.func in _OUT_FUNCTIONS and "out" not in kwargs:
            kernels.append((ins.func, args, dict(kwargs, out=buf)))
        elif ins.func is np.reshape and not kwargs and buf.flags.c_contiguous:
            # A reshape that copies (its source is not contiguous) writes the source's elements in C order:
            # copied straight into the buffer seen in the source's shape, without a temporary.
            kernels.append((np.copyto, (buf.reshape(args[0].shape), args[0]), {}))
        else:                                          # no out= form: compute, then copy into place
            kernels.append((_copy_into(buf, ins.func, args, kwargs), (), {}))
        pool.release_after(i)
    return (kernels, buffers, {s for s in input_slots if aliases.root(s) in written_roots},
            {s for s in grad_input_slots if aliases.root(s) not in read_roots})


class _BufferPool:
    """Memory for the program's intermediate values, reused: a buffer whose value no later kernel reads is
    given to the next value of the same shape, dtype and layout (as an allocator would, but decided once,
    at link time). Fewer, warmer buffers: a GPT step's program needs a fraction of the memory and its
    kernels find their operands in cache more often. Pinned: state, inputs, the gradients it starts from,
    what a replay hands out, constants.
    """

    def __init__(self, tracer, live, constant, pinned, shares):
        self.tracer = tracer
        owner = {}          # slot -> the slot whose buffer holds its memory

        def own(n):
            while n in owner:
                n = owner[n]
            return n
        for ins, is_live in zip(tracer.instructions, live):
            if is_live and ins.out_slot is not None and ins.is_view and isinstance(ins.args[0], _Slot):
                owner[ins.out_slot] = ins.args[0].n
        for n, source in shares.items():
            owner[n] = source
        self.own = own
        self.last_use = {}
        for i, (ins, is_live) in enumerate(zip(tracer.instructions, live)):
            if not is_live:
                continue
            for n in _slots_in((ins.args, ins.kwargs)):
                self.last_use[own(n)] = i
            if ins.writes is not None:
                self.last_use[own(ins.writes.n)] = i
            if ins.out_slot is not None:
                self.last_use.setdefault(own(ins.out_slot), i)
        self.pinned = {own(n) for n in pinned} | set(constant)
        self.ending = {}    # instruction index -> buffers free after it
        self.free = {}      # (shape, dtype, strides) -> buffers

    def take(self, slot):
        value = self.tracer.values[slot]
        key = (value.shape, value.dtype, value.strides)
        stack = self.free.get(key)
        buf = stack.pop() if stack else np.empty_like(value)
        if slot not in self.pinned:
            self.ending.setdefault(self.last_use.get(slot, -1), []).append((key, buf))
        return buf

    def release_after(self, i):
        for key, buf in self.ending.pop(i, ()):
            self.free.setdefault(key, []).append(buf)


class _Aliases:
    """Which slots share memory: a view's root is the slot whose buffer it views (union-find)."""

    def __init__(self, tracer):
        self.parent = {}
        for ins in tracer.instructions:
            if ins.is_view and ins.args and isinstance(ins.args[0], _Slot):
                a, b = self.root(ins.out_slot), self.root(ins.args[0].n)
                if a != b:
                    self.parent[a] = b

    def root(self, n):
        while n in self.parent:
            n = self.parent[n]
        return n


def _slots_in(obj):
    if isinstance(obj, _Slot):
        yield obj.n
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _slots_in(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _slots_in(o)


def _constant_slots(tracer, aliases, immutable):
    """``(constant slots, constant roots)``: values that are the same on every replay, taken from the trace.

    A slot is constant where it is never written and made from constants only (a fresh array with a constant
    content, or an instruction whose array arguments were all constant when it ran). A fresh array that is
    then written, by instructions whose arguments are all constant, before anything else reads it (zeros,
    then a gradient copied in) is a constant root: its final content, and every view of it, is constant.
    """
    constant, candidates, read = set(), set(), set()

    def is_constant(n):
        return n in constant or aliases.root(n) in candidates
    for ins in tracer.instructions:
        slots = list(_slots_in((ins.args, ins.kwargs)))
        if ins.out_slot is None and ins.writes is None:   # a check: reads only
            read.update(aliases.root(n) for n in slots)
            continue
        if ins.out_slot is None:                       # a write into the memory of `target`
            target = aliases.root(ins.writes.n)
            if target in candidates and (target in read or not all(is_constant(n) for n in slots)):
                candidates.discard(target)
            read.update(aliases.root(n) for n in slots if aliases.root(n) != target)
            continue
        n = ins.out_slot
        if n in tracer.fresh and aliases.root(n) == n:
            candidates.add(n)
        elif n in immutable and all(is_constant(m) for m in slots):
            constant.add(n)
        read.update(aliases.root(m) for m in slots if aliases.root(m) != aliases.root(n))
    constant |= {n for n in range(len(tracer.values)) if aliases.root(n) in candidates and n == aliases.root(n)}
    return constant, candidates


def _live_instructions(tracer, aliases, mutable_roots, needed, constant, constant_roots):
    """Per instruction, whether the linked program needs it: it writes into state, an input or memory read
    later, or makes a value read later (walked backwards from what a replay hands out). A constant is
    needed too where it is read (the linker takes it from the trace, so what it was made from is not)."""
    needed_slots = set(needed)
    needed_roots = set(mutable_roots) | {aliases.root(s) for s in needed}
    live = [False] * len(tracer.instructions)
    for i in range(len(tracer.instructions) - 1, -1, -1):
        ins = tracer.instructions[i]
        if ins.out_slot is None and ins.writes is None:
            is_live = True                             # a check on values (raise_if): always made
        elif ins.out_slot is None:
            root = aliases.root(ins.writes.n)
            is_live = root in needed_roots and root not in constant_roots
        else:
            is_live = ins.out_slot in needed_slots
        if is_live:
            live[i] = True
            if ins.out_slot is not None and ins.out_slot in constant and not ins.is_view:
                continue
            for s in _slots_in((ins.args, ins.kwargs)):
                needed_slots.add(s)
                needed_roots.add(aliases.root(s))
    return live


def _generate(kernels):
    """One Python function that makes every call of ``kernels`` in order, its arrays and functions bound as
    local variables (a third faster than calling one ``functools.partial`` after another)."""
    names, objects, lines = {}, [], []

    def local(obj):
        if obj is None or type(obj) in (bool, int, str) or (type(obj) is float and np.isfinite(obj)):
            return repr(obj)        # a literal: the same Python object (weak scalars stay weak)
        if type(obj) is tuple and all(type(x) is int for x in obj):
            return repr(obj)
        if id(obj) not in names:
            names[id(obj)] = f"v{len(objects)}"
            objects.append(obj)
        return names[id(obj)]
    for func, args, kwargs in kernels:
        args, kwargs = tuple(args), dict(kwargs)
        if (isinstance(func, np.ufunc) and set(kwargs) == {"out"} and len(args) == func.nin
                and func not in _OUT_BY_KEYWORD):
            args += (kwargs.pop("out"),)     # out= as a positional argument: no keyword dict per call
        parts = [local(a) for a in args] + [f"{k}={local(v)}" for k, v in kwargs.items()]
        lines.append(f"        {local(func)}({', '.join(parts)})\n")
    source = (f"def make(objects):\n    ({''.join(n + ', ' for n in names.values())}) = objects\n"
              f"    def replay():\n{''.join(lines)}        pass\n    return replay\n")
    namespace = {}
    exec(builtins_compile(source, "<chainrule.compile replay>", "exec"), namespace)
    return namespace["make"](objects)


# Arrays made without content, which the step writes before it reads: a replay needs no kernel for them.
_UNINITIALISED = frozenset({np.empty, np.empty_like})

# Ufuncs whose positional output argument NumPy 2.4 deprecates (it reads like a third input).
_OUT_BY_KEYWORD = frozenset({np.maximum, np.minimum})

# Functions that write their result into ``out=`` exactly as they would return it (same dtype, same order of
# operations: not np.mean, whose scalar result is divided in double precision without out=).
_OUT_FUNCTIONS = frozenset({np.clip, np.concatenate, np.stack, np.take, np.cumsum, np.cumprod, np.einsum, np.dot,
                            np.sum, np.prod, np.amax, np.amin})


def _copy_into(buf, func, args, kwargs):
    def kernel():
        np.copyto(buf, func(*args, **kwargs), casting="unsafe")
    kernel.__name__ = f"{getattr(func, '__name__', 'kernel')} (copied into place)"   # for profiles
    return kernel


# ----- the public wrapper ------------------------------------------------------------------------------
MAX_PROGRAMS = 8      # programs kept per compiled step (the oldest goes first), as torch.compile's cache limit


def _default_check_every():
    """``CHAINRULE_COMPILE_CHECK_EVERY``: the recheck period when ``compile`` is not given one (0: never)."""
    try:
        return max(0, int(os.environ.get("CHAINRULE_COMPILE_CHECK_EVERY", "0")))
    except ValueError:
        raise ValueError("CHAINRULE_COMPILE_CHECK_EVERY must be a whole number of calls (0 turns rechecks off), "
                         f"not {os.environ['CHAINRULE_COMPILE_CHECK_EVERY']!r}") from None


class CompiledStep:
    """What ``chainrule.compile`` returns: call it like the function it wraps.

    ``programs``: the captured programs (each replayed while its guard holds); ``refusals``: why capture
    was refused, in order.
    """

    def __init__(self, fn, fullgraph=False, verify=True, check_every=None):
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self.fullgraph = fullgraph
        self.verify = verify
        self.check_every = _default_check_every() if check_every is None else int(check_every)
        if self.check_every < 0:
            raise ValueError(f"check_every must be >= 0 (0 turns rechecks off), got {check_every}")
        self.programs = []       # _Program, most recent last
        self.traces = 0          # how many programs were captured (the oldest are dropped past MAX_PROGRAMS)
        self.refusals = []       # the reasons capture was refused
        self._refused = []       # (arguments key, guard): a state in which capture was refused
        self._pending = None     # (arguments key, guard) after an eager warm-up call: the next call traces
        self._never = None       # why this step can never be captured (a value its guards cannot read)

    @property
    def fallback_reason(self):
        return self.refusals[-1] if self.refusals else None

    @staticmethod
    def _key(args):
        parts = []
        for a in args:
            if isinstance(a, Tensor):
                parts.append((a._array.shape, a._array.dtype, a._requires_grad))
            elif isinstance(a, np.ndarray):
                raise TypeError("pass tensors to a compiled step, not NumPy arrays (chainrule.from_numpy(a))")
            else:
                parts.append(("value", type(a), a))
        return tuple(parts)

    def __call__(self, *args):
        if self._never is not None:
            return self.fn(*args)
        try:
            key = self._key(args)
            hash(key)
        except TypeError:
            return self.fn(*args)     # arguments a key cannot hold (lists...): eager
        for program in self.programs:
            if program.key == key and program.guard.holds():
                program.replays += 1
                if self.check_every and program.replays % self.check_every == 0:
                    return self._recheck(program, args)
                return program.run(args)
        for refused_key, guard in self._refused:
            if refused_key == key and guard.holds():
                return self.fn(*args)
        pending, self._pending = self._pending, None
        if pending is None or pending[0] != key or not pending[1].holds():
            # The warm-up call, eager (optimizers make their state lazily); the trace starts from what it leaves.
            result = self.fn(*args)
            try:
                self._pending = (key, _guards.build_guard(self.fn))
            except _guards.UnguardableError as exc:
                self._refuse(key, None, f"cannot guard {exc}: a replay could not tell when it changed")
            return result
        try:
            program, result, reason = _Program.capture(self.fn, args, pending[1], self.verify, self.fullgraph)
        except CaptureError as exc:
            self._refuse(key, pending[1], str(exc))     # raises (fullgraph)
        if program is None:
            self._refuse(key, pending[1], reason)
            return self.fn(*args) if result is _RUN_EAGERLY else result
        program.key = key
        self.programs.append(program)
        self.traces += 1
        del self.programs[:-MAX_PROGRAMS]
        return result

    def _refuse(self, key, guard, reason):
        """Run eagerly from now on in this state (guard None: always) with a warning; under fullgraph, raise
        (every time: nothing is recorded)."""
        self.refusals.append(reason)
        if self.fullgraph:
            raise CaptureError(reason)
        if guard is None:
            self._never = reason
        else:
            self._refused.append((key, guard))
            del self._refused[:-MAX_PROGRAMS]
        warnings.warn(f"chainrule.compile: running {getattr(self.fn, '__name__', 'the step')} eagerly: {reason}",
                      RuntimeWarning, stacklevel=3)

    def _recheck(self, program, args):
        """Replay, then run the step eagerly from the same state; they must agree. Eager's effects stay."""
        state, params = program.checked_state(args)
        before = _Snapshot(state, params)
        replayed = _values(program.run(args))
        after_replay = _Snapshot(state, params)
        before.restore()
        result = _materialise(self.fn(*args))
        if not (after_replay.matches(_Snapshot(state, params)) and _all_close(replayed, _values(result))):
            self.programs.remove(program)
            self._refuse(program.key, program.guard,
                         f"the replayed program disagreed with eager mode on its replay {program.replays} "
                         f"(check_every={self.check_every}): the step depends on something the guards do not see")
        return result


def _all_close(xs, ys):
    return len(xs) == len(ys) and all(np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True) for a, b in zip(xs, ys))


class _Program:
    def __init__(self, kernels, buffers, input_slots, output, grad_bindings, guard, params, grad_inputs=(),
                 written_inputs=()):
        self.kernels = kernels
        self.replay_kernels = _generate(kernels)
        self.guard = guard       # the Python values the trace read: a replay is right only while they hold
        self.params = params     # the leaf tensors that require grad (their .grad is state too)
        self.key = None          # the arguments' shapes, dtypes and values it was traced with
        self.replays = 0
        # (param, buffer, rebind): the gradient the step starts from is read from this buffer; where the step
        # keeps that gradient (updating it in place, if at all), the buffer is the .grad after a replay.
        self.grad_inputs = list(grad_inputs)
        # (argument index, buffer): the step updates that input in place; copied back after a replay.
        self.written_inputs = [(i, buffers[s]) for i, s in input_slots if s in written_inputs]
        self.buffers = buffers
        self.inputs = [(i, buffers[s]) for i, s in input_slots]
        self.output = output
        self.grad_bindings = [(t, buffers[s]) for t, s in grad_bindings]

    def checked_state(self, args):
        """(tensors, params) a recheck compares: the state the guard found, the tensor arguments."""
        return self.guard.tensors + [a for a in args if isinstance(a, Tensor)], self.params

    def run(self, args):
        for i, buf in self.inputs:
            np.copyto(buf, args[i]._array)
        for p, buf, _ in self.grad_inputs:
            if p._grad._array is not buf:
                np.copyto(buf, p._grad._array)
        self.replay_kernels()
        for p, buf, rebind in self.grad_inputs:
            if rebind and p._grad._array is not buf:
                p._grad = _make(buf)
        for i, buf in self.written_inputs:
            np.copyto(args[i]._array, buf)
        for tensor, buf in self.grad_bindings:
            tensor._grad = _make(buf)
        return self._result()

    def _result(self):
        kind, value = self.output
        if kind == "slot":
            return _make(self.buffers[value].copy())
        if kind == "tuple":
            return tuple(_make(self.buffers[v].copy()) if k == "slot" else v for k, v in value)
        return value

    @staticmethod
    def capture(fn, args, guard, verify=True, undo_refused=False):
        """Trace one real step and link it into a program; check a replay against eager mode (``verify``).

        ``guard`` holds now (it was built after the warm-up call); the step must leave it holding. The traced
        call is the step's real call: its effects stay and ``(program, result, None)`` is returned. Where the
        step cannot be captured, ``(None, result, reason)``, the step having run once all the same;
        ``undo_refused`` (fullgraph) instead puts the tensors back as they were and raises CaptureError. A step
        that fails while traced is undone (the error re-raised under ``undo_refused``) and
        ``(None, _RUN_EAGERLY, reason)`` returned: it is to run again, eagerly.
        """
        global _tracer
        params = [t for t in guard.tensors if t._requires_grad and t.grad_fn is None]
        # The gradients present when the step starts are read by it (accumulation, zero_grad(set_to_none=False)):
        # a replay copies the current ones into their buffers first.
        grad_inputs = [(p, p._grad) for p in params if p._grad is not None]
        state = guard.tensors + [g for _, g in grad_inputs]
        snapshot = _Snapshot(state + [a for a in args if isinstance(a, Tensor)], params)
        rng_states = _RandomStates()
        tracer = Tracer()
        wrapped = {}       # id(original array) -> traced view
        originals = []     # (tensor, original array)
        input_slots = []
        for t in state:
            arr = t._array
            if id(arr) not in wrapped:
                wrapped[id(arr)] = tracer.new_slot(arr, external=arr)
            originals.append((t, arr))
            t._array = wrapped[id(arr)]
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                traced = tracer.new_slot(a._array)
                input_slots.append((i, traced._slot))
                originals.append((a, a._array))
                a._array = traced
        from . import random as _random
        swapped = swap_array_module(_TracingNumpy(), skip=(__name__,))
        swapped_functions = _swap_functions([(_real_as_strided, _traced_as_strided)])
        real_gen, real_np_gen = _random._gen, _random._global.np
        _random._gen = lambda generator: _RefusingRandom(real_gen(generator))
        _random._global.np = _RefusingRandom(real_np_gen)
        _tracer = tracer
        previous_profile = sys.getprofile()
        # No garbage collection while the step is traced: the collector's callbacks (other libraries' code, such
        # as hypothesis's, which reads the clock) would run inside the trace and be taken for the step's own
        # side effects. Reference counting still frees what the step drops.
        collecting = gc.isenabled()
        gc.disable()
        sys.setprofile(_watch_effects)
        try:
            result = fn(*args)
        except Exception as exc:
            failed = exc
        else:
            failed = None
        finally:
            sys.setprofile(previous_profile)
            if collecting:
                gc.enable()
            _tracer = _IDLE
            _random._gen = real_gen
            _random._global.np = real_np_gen
            _restore_functions(swapped_functions)
            restore_array_module(swapped)
        rebound = [t for t, arr in originals if t._array is not wrapped.get(id(arr), t._array)]
        _restore(originals)
        if failed is not None:
            # Undo the traced call and run the step eagerly: the error is then the step's own.
            snapshot.restore()
            rng_states.restore()
            _detrace(fn, params)
            if undo_refused:
                raise failed
            return None, _RUN_EAGERLY, f"the step failed while traced ({type(failed).__name__}: {failed})"
        try:
            if tracer.refused is not None:
                raise CaptureError(tracer.refused)
            output = _output_spec(result)
            if rebound:
                raise CaptureError("the step stores a new array in a tensor of its state instead of updating it in "
                                   "place (`p.data = ...`, `t.set_(...)`)")
            changed = guard.side_effect()
            if changed is not None:
                raise CaptureError(f"the step changes a Python value (a side effect a replay would skip): {changed}")
            if not _RandomStates() == rng_states:
                raise CaptureError(_RANDOM_REASON)
            bindings = []
            for p in params:
                g = p._grad
                if g is not None and isinstance(g._array, _Traced):
                    bindings.append((p, g._array._slot))
                    p._grad = _make(np.asarray(g._array))
            grad_slots = [(p, wrapped[id(g._array)]._slot) for p, g in grad_inputs]
            kernels, buffers, written_inputs, unread = _link(
                tracer, [s for _, s in input_slots], [s for _, s in grad_slots],
                _output_slots(output) + [s for _, s in bindings])
            bound = {id(p) for p, _ in bindings}
            # A gradient the program never reads and replaces with a new one (zero_grad() then backward(): the
            # usual step) needs no copy into its buffer before a replay.
            program = _Program(kernels, buffers, input_slots, output, bindings, guard, params,
                               [(p, buffers[s], id(p) not in bound) for p, s in grad_slots
                                if id(p) not in bound or s not in unread], written_inputs)
            eager_result = _materialise(result)
            if verify:
                program._verify(fn, args)
        except CaptureError as exc:
            if undo_refused:
                snapshot.restore()
                rng_states.restore()
            _detrace(fn, params)
            if undo_refused:
                raise
            return None, _detrace_result(result), str(exc)
        return program, eager_result, None

    def _verify(self, fn, args):
        """Replay the next step and run it eagerly from the same state: they must agree; then put the state back
        as the trace left it."""
        state, params = self.checked_state(args)
        after_trace = _Snapshot(state, params)
        replayed = _values(self.run(args))
        replay_state = _Snapshot(state, params)
        after_trace.restore()
        eager = _values(_materialise(fn(*args)))
        eager_state = _Snapshot(state, params)
        after_trace.restore()
        if not (replay_state.matches(eager_state) and _all_close(replayed, eager)):
            raise CaptureError("the replayed program disagrees with eager mode (the step depends on "
                               "something the tracer cannot see)")


_RUN_EAGERLY = object()   # capture's answer when the traced call was undone


def _detrace(fn, params):
    """After a refused trace: tensors the step made while traced (gradients, new state) hold traced arrays,
    which compute like plain ones but slowly; give them plain views of the same memory."""
    tensors = list(params)
    try:
        tensors += _guards.build_guard(fn).tensors
    except _guards.UnguardableError:
        pass
    for t in tensors:
        for u in (t, t._grad):
            if u is not None and isinstance(u._array, _Traced):
                u._array = u._array.view(np.ndarray)


def _detrace_result(result):
    """The refused trace's own result (a graph it carries still works: traced arrays compute as plain ones)."""
    if isinstance(result, Tensor) and isinstance(result._array, _Traced):
        result._array = result._array.view(np.ndarray)
    elif isinstance(result, tuple):
        for r in result:
            _detrace_result(r)
    return result


# Calls whose effect, or whose value, a replay would not repeat: output, input, the clock.
_EFFECTS = {print: "print()", input: "input()", time.time: "time.time()", time.perf_counter: "time.perf_counter()",
            time.monotonic: "time.monotonic()", time.process_time: "time.process_time()"}
_WRITES = frozenset({"write", "writelines"})
# Reading a file or the environment inside the step: a replay would reuse the value the trace read (the guards
# see Python objects, not files or os.environ). Showing a warning reads its source line through these
# modules, which is no input of the step.
_READS = frozenset({"read", "read1", "readall", "readinto", "readline", "readlines"})
_SOURCE_READERS = frozenset({"linecache", "tokenize", "traceback", "warnings"})
_ENVIRON_READS = frozenset(f.__code__ for f in (os._Environ.__getitem__, os._Environ.__iter__, os._Environ.__len__))


def _watch_effects(frame, event, func):
    """The trace's profile function (``sys.setprofile``): a call to print, to a file's write or read, to the
    clock, or a read of ``os.environ`` refuses the trace, since a replay repeats NumPy's work only. (Collectives
    say so themselves: ``compiler.cannot_capture``.)"""
    if event == "call":
        if frame.f_code in _ENVIRON_READS:
            _tracer.refuse("the step reads os.environ: a replay would reuse the values the trace read, which "
                           "the guards do not see change")
        return
    if event != "c_call":
        return
    what = _EFFECTS.get(func) if type(func) is types.BuiltinFunctionType else None
    owner = getattr(func, "__self__", None)
    name = getattr(func, "__name__", None)
    if what is None and isinstance(owner, io.IOBase) and (
            name in _WRITES or (name in _READS and frame.f_globals.get("__name__") not in _SOURCE_READERS)):
        what = f"{type(owner).__name__}.{name}()"
    if what is not None:
        _tracer.refuse(f"the step calls {what}: a replay repeats the arrays' work only, not Python's output, "
                       f"input (files) or clock readings")


class _RandomStates:
    """chainrule's, NumPy's and Python's global random states: a step that draws from one changes it."""

    def __init__(self):
        import random
        from . import random as _random
        self.chainrule, self.numpy, self.python = _random._global.get_state(), np.random.get_state(), random.getstate()

    def __eq__(self, other):
        a, b = self.numpy, other.numpy
        return (self.chainrule == other.chainrule and self.python == other.python
                and a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:])

    def restore(self):
        import random
        from . import random as _random
        _random._global.set_state(self.chainrule)
        np.random.set_state(self.numpy)
        random.setstate(self.python)


def _output_spec(result):
    if isinstance(result, Tensor):
        if result.grad_fn is not None and result._requires_grad:
            # A result that still carries a graph cannot be replayed without one.
            raise CaptureError("the step returns a tensor that requires grad; return loss.detach()")
        return ("slot", _slot_of(result))
    if result is None or isinstance(result, (int, float, str)):
        return ("value", result)
    if isinstance(result, tuple):
        return ("tuple", tuple(_output_spec(r) for r in result))
    raise CaptureError(f"a compiled step may return tensors, numbers or tuples of them, not {type(result).__name__}")


def _output_slots(spec):
    kind, value = spec
    if kind == "slot":
        return [value]
    if kind == "tuple":
        return [s for item in value for s in _output_slots(item)]
    return []


def _slot_of(t):
    if not isinstance(t._array, _Traced) or t._array._slot is None:
        raise CaptureError("the step returns a tensor the tracer did not see being computed")
    return t._array._slot


def _materialise(result):
    if isinstance(result, Tensor):
        return _make(np.array(result._array))
    if isinstance(result, tuple):
        return tuple(_materialise(r) for r in result)
    return result


def _values(result):
    if isinstance(result, Tensor):
        return [result._array]
    if isinstance(result, tuple):
        return [v for r in result for v in _values(r)]
    return []


def _restore(originals):
    for t, arr in reversed(originals):
        t._array = arr


class _Snapshot:
    """Copies of the state's arrays and the parameters' gradients, to restore or compare."""

    def __init__(self, state, params):
        self.arrays = [(t, t._array, np.array(t._array)) for t in state]
        self.grads = [(p, p._grad, None if p._grad is None else np.array(p._grad._array)) for p in params]

    def restore(self):
        for t, arr, copy in self.arrays:
            t._array = arr
            np.copyto(arr, copy)
        for p, g, copy in self.grads:
            p._grad = None if copy is None else _make(copy.copy())

    def matches(self, other):
        pairs = [(a[2], b[2]) for a, b in zip(self.arrays, other.arrays)]
        pairs += [(a[2], b[2]) for a, b in zip(self.grads, other.grads) if a[2] is not None and b[2] is not None]
        return all(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True) for x, y in pairs)


def compile(fn=None, *, fullgraph=False, verify=True, check_every=None, **torch_options):
    """Capture ``fn`` (a training step, or any function of tensors) into a replayed NumPy program.

    fullgraph=True raises CaptureError instead of falling back to eager mode.
    verify=True (the default) checks a replay against eager mode once, at capture, from the same state;
    verify=False skips that check (a capture costs one eager step less) and gives up its protection: a step
    that computes with something the tracer cannot see (NumPy work on a tensor's raw memory, say) is then
    replayed wrong until a recheck catches it, if any is on.
    check_every=N compares a replay with eager mode every N-th replay of each program (the step then runs
    twice); a disagreement drops the program and the step runs eagerly from then on (with a warning, or
    CaptureError under fullgraph). None: the environment variable CHAINRULE_COMPILE_CHECK_EVERY (default 0,
    off); the test suite sets it to 1.
    PyTorch's other options (mode, backend, dynamic) are accepted and ignored. Usable as a decorator.
    """
    if fn is None:
        return lambda f: compile(f, fullgraph=fullgraph, verify=verify, check_every=check_every)
    return CompiledStep(fn, fullgraph=fullgraph, verify=verify, check_every=check_every)

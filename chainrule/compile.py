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

What cannot be captured is refused, and the step runs eagerly instead (with a warning, or an
error under ``fullgraph=True``): Python control flow that reads tensor values (``.item()``,
``if loss > 0``), random numbers inside the step (dropout in training mode), a step that rebinds
state instead of updating it in place, or a result that still needs a graph. New input shapes
or dtypes trigger a new trace.
"""
import functools
import sys
import warnings

import numpy as np

from ._backend import restore_array_module, swap_array_module
from .tensor import Tensor, _make


class CaptureError(RuntimeError):
    """The step does something a captured program cannot repeat faithfully."""


_tracer = None   # the Tracer while a trace runs


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

    def copy(self, order="C"):
        return _tracer.call(np.copy, (self,), {})

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

    # Reading a value into Python makes the step's control flow depend on data: not capturable.
    def _refuse(self, *args, **kwargs):
        raise CaptureError("the step reads a tensor's value into Python (.item(), float(), bool(), "
                           "an `if` on a tensor...): a captured program cannot repeat that decision")

    item = tolist = tobytes = __bool__ = __float__ = __int__ = __index__ = __complex__ = __contains__ = _refuse

    def _refuse_write(self, *args, **kwargs):
        raise CaptureError("the step changes an array in place by a NumPy method the tracer does not record")

    partition = itemset = resize = byteswap = setfield = _refuse_write


def _astype(a, dtype, copy=True):
    return a.astype(dtype, copy=copy)


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


class Tracer:
    def __init__(self):
        self.instructions = []
        self.values = []          # slot -> the value the trace computed (plain ndarray)
        self.external = {}        # slot -> the persistent array it stands for
        self.fresh = {}           # slot -> initial content of an array the step creates (zeros, ones)
        self.roots = set()        # ids of the arrays owning the memory of the values: a plain array
        #                           viewing one of them escaped the tracer

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
        """Replace traced arrays by slot references (and check they were all recorded)."""
        if isinstance(obj, _Traced):
            if obj._slot is None:
                raise CaptureError("an array was derived by a NumPy path the tracer does not record")
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
            raise CaptureError("an array was derived from the step's tensors by a NumPy path the tracer does "
                               "not record (np.asarray, as_strided, a view of a tensor's raw memory...)")

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
        uargs, ukwargs = self._unwrap(args), self._unwrap(kwargs)
        if func in _DATA_DEPENDENT_SHAPE or (func is _getitem and _has_index_mask(args[1])):
            if _holds_slot((uargs, ukwargs)):
                raise CaptureError(f"{getattr(func, '__name__', func)}'s result has a shape that depends on the "
                                   f"values (nonzero, unique, a boolean mask index): a fixed program cannot hold it")
        plain_args = self._plain(uargs)
        result = func(*plain_args, **self._plain(ukwargs))
        if result is None and writes is None:
            # NumPy's functions that return nothing (copyto, put_along_axis, putmask, ...) write into
            # their first argument: that buffer changes during a replay, so it is no constant.
            if not (uargs and isinstance(uargs[0], _Slot)):
                raise CaptureError(f"{getattr(func, '__name__', func)} writes into an array the tracer cannot see")
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

    def ufunc(self, ufunc, method, inputs, kwargs):
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        out = kwargs.get("out")
        if out is not None:
            out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
            if not isinstance(out, _Traced):
                raise CaptureError(f"{ufunc.__name__} writes into an array that is not part of the step's "
                                   f"state (the tracer cannot see it)")
            target = self._unwrap(out)
            self.call(fn, inputs, dict(kwargs, out=out), writes=target)
            return self._wrap_written(target)
        if method == "at":
            if not isinstance(inputs[0], _Traced):
                raise CaptureError(f"{ufunc.__name__}.at writes into an array the tracer cannot see")
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
        return self._fresh(np.zeros, *args, **kwargs)

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
        return _NoRandom()


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
    if _tracer is not None and isinstance(x, _Traced):
        return _tracer.call(_as_strided_view, (x, tuple(shape), tuple(strides), writeable), {})
    if _tracer is not None and isinstance(x, np.ndarray):
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


class _NoRandom:
    """Stands in for a random generator during a trace: any draw is refused."""

    def __getattr__(self, name):
        _no_random()


_FRESH = {np.zeros, np.ones, np.full, np.zeros_like, np.ones_like, np.full_like}


def _no_random(*args, **kwargs):
    raise CaptureError("the step draws random numbers (dropout in training mode, randn, ...): a captured "
                       "program would repeat the same numbers every time")


# ----- linking: the recording becomes a list of kernels over fixed buffers -------------------------
def _link(tracer, input_slots, grad_input_slots=()):
    """``(kernels, buffers, written inputs)``: every slot gets one buffer for good, so each kernel can be
    bound once. The gradients a step starts from get buffers of their own: a replay copies the current
    ``.grad`` into them, and leaves the arrays of older gradient tensors alone."""
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

    immutable, written = _immutable_slots(tracer, input_slots)
    kernels = []
    for ins in tracer.instructions:
        args, kwargs = arg(ins.args), arg(ins.kwargs)
        if ins.out_slot is None:                       # writes into an existing buffer
            kernels.append(functools.partial(ins.func, *args, **kwargs))
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
            continue
        if ins.out_slot in tracer.fresh and ins.out_slot in immutable:
            buffers[ins.out_slot] = tracer.fresh[ins.out_slot]   # a constant: no kernel at all
            continue
        if (ins.func in (np.copy, _astype) and isinstance(ins.args[0], _Slot)
                and args[0].dtype == value.dtype and args[0].strides == value.strides
                and ins.out_slot in immutable and ins.args[0].n in immutable):
            buffers[ins.out_slot] = args[0]            # a copy nobody writes to: share the source
            continue
        buf = buffers[ins.out_slot] = np.empty_like(value)
        if ins.out_slot in tracer.fresh:
            kernels.append(functools.partial(np.copyto, buf, tracer.fresh[ins.out_slot]))
        elif isinstance(ins.func, np.ufunc) or getattr(ins.func, "__self__", None).__class__ is np.ufunc:
            kernels.append(functools.partial(ins.func, *args, **dict(kwargs, out=buf)))
        elif ins.func in (np.copy, _astype):
            kernels.append(functools.partial(np.copyto, buf, args[0], casting="unsafe"))
        else:                                          # no out= form: compute, then copy into place
            kernels.append(_copy_into(buf, ins.func, args, kwargs))
    return kernels, buffers, {s for s in input_slots if s in written}


def _immutable_slots(tracer, input_slots):
    """``(immutable, written)``: the slots whose memory no kernel writes (neither they nor any view of
    or under them is written in place, and they are not state or inputs, which change between calls),
    and the slots whose memory some kernel writes."""
    parent = {}

    def root(n):
        while n in parent:
            n = parent[n]
        return n
    for ins in tracer.instructions:
        if ins.is_view and ins.args and isinstance(ins.args[0], _Slot):
            a, b = root(ins.out_slot), root(ins.args[0].n)
            if a != b:
                parent[a] = b
    written_roots = {root(ins.writes.n) for ins in tracer.instructions if isinstance(ins.writes, _Slot)}
    mutable = {root(s) for s in tracer.external} | {root(s) for s in input_slots} | written_roots
    immutable = {n for n in range(len(tracer.values)) if root(n) not in mutable}
    written = {n for n in range(len(tracer.values)) if root(n) in written_roots}
    return immutable, written


def _copy_into(buf, func, args, kwargs):
    def kernel():
        np.copyto(buf, func(*args, **kwargs), casting="unsafe")
    return kernel


# ----- finding the step's state ----------------------------------------------------------------------
def _state_tensors(fn):
    """Tensors the step may read or update: those of the modules, optimizers, tensors and
    containers that ``fn`` refers to (its closure, the globals it names, a bound method's self)."""
    return _walk(fn)[0]


def _owners(fn):
    """The modules and optimizers the step reaches (directly or through containers and other modules)."""
    owners, seen = [], set()
    for obj in _walk(fn)[1]:
        for o in (obj.modules() if hasattr(obj, "modules") else (obj,)):
            if id(o) not in seen:
                seen.add(id(o))
                owners.append(o)
    return owners


def _walk(fn):
    Module, Optimizer = _owner_classes()
    found, seen, owners = {}, set(), []

    def visit(obj, depth):
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, Tensor):
            found[id(obj)] = obj
            if obj._grad is not None:
                found[id(obj._grad)] = obj._grad
        elif isinstance(obj, Module):
            owners.append(obj)
            for t in list(obj.parameters()) + list(obj.buffers()):
                visit(t, depth)
            for value in vars(obj).values():
                if isinstance(value, (Tensor, list, tuple, dict)):
                    visit(value, depth + 1)
        elif isinstance(obj, Optimizer):
            owners.append(obj)
            for group in obj.param_groups:
                for p in group["params"]:
                    visit(p, depth)
            for state in obj.state.values():
                visit(state, depth + 1)
        elif isinstance(obj, dict):
            for v in obj.values():
                visit(v, depth + 1)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                visit(v, depth + 1)
        elif callable(obj) and getattr(obj, "__module__", "") and not str(obj.__module__).startswith("chainrule"):
            for ref in _references(obj):
                visit(ref, depth + 1)

    for ref in _references(fn):
        visit(ref, 0)
    return list(found.values()), owners


@functools.lru_cache(maxsize=None)
def _owner_classes():
    """(nn.Module, optim.Optimizer): the kinds of object whose tensors are a step's state."""
    from . import nn, optim
    return getattr(nn, "Module", ()), getattr(optim, "Optimizer", ())


def _references(fn):
    refs = []
    if hasattr(fn, "__self__"):
        refs.append(fn.__self__)
    if hasattr(fn, "__func__"):
        fn = fn.__func__
    if not hasattr(fn, "__code__"):
        return refs + ([fn] if not callable(fn) else [vars(fn)] if hasattr(fn, "__dict__") else [])
    for cell in fn.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:
            pass
    names = set()
    stack = [fn.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    g = fn.__globals__
    refs.extend(g[n] for n in names if n in g and not isinstance(g[n], type(sys)))
    return refs


def _guards(state_objects):
    """Python-level settings a captured program bakes in: a change means a new trace."""
    from . import autograd
    Module, Optimizer = _owner_classes()
    items = [autograd.grad_mode.enabled]
    for obj in state_objects:
        if isinstance(obj, Optimizer):
            for g in obj.param_groups:
                items.append(tuple(sorted((k, v) for k, v in g.items() if _is_setting(v))))
                # Whether each gradient exists: the step assigns a gradient or accumulates into it.
                items.append(tuple(p._grad is None for p in g["params"]))
        elif isinstance(obj, Module):
            items.append(obj.training)
    return tuple(items)


def _is_setting(v):
    if isinstance(v, tuple):
        return all(_is_setting(x) for x in v)
    return isinstance(v, (int, float, bool, str)) or v is None


# ----- the public wrapper ------------------------------------------------------------------------------
class CompiledStep:
    """What ``chainrule.compile`` returns: call it like the function it wraps."""

    def __init__(self, fn, fullgraph=False, verify=True):
        functools.update_wrapper(self, fn, updated=())
        self.fn = fn
        self.fullgraph = fullgraph
        self.verify = verify
        self.programs = {}      # key -> _Program, or None where capture was refused
        self.calls = {}         # key -> how many times this key was seen
        self.fallback_reason = None
        self._owners = None     # the modules and optimizers whose settings guard a program

    def _key(self, args):
        parts = []
        for a in args:
            if isinstance(a, Tensor):
                parts.append(("T", a._array.shape, a._array.dtype.str, a._requires_grad))
            elif isinstance(a, np.ndarray):
                raise TypeError("pass tensors to a compiled step, not NumPy arrays (chainrule.from_numpy(a))")
            else:
                parts.append(("V", a))
        if self._owners is None:
            self._owners = _owners(self.fn)
        return tuple(parts), _guards(self._owners)

    def __call__(self, *args):
        try:
            key = self._key(args)
            hash(key)
        except TypeError:
            return self.fn(*args)
        seen = self.calls.get(key, 0)
        self.calls[key] = seen + 1
        program = self.programs.get(key)
        if program is not None and program.state_is_current():
            return program.run(args)
        if (key in self.programs and program is None) or seen == 0:
            return self.fn(*args)        # refused before, or the warm-up call (state is made lazily)
        try:
            program, result = _Program.capture(self.fn, args, self.verify)
        except CaptureError as exc:
            if self.fullgraph:
                raise
            self.programs[key] = None
            self.fallback_reason = str(exc)
            warnings.warn(f"chainrule.compile: running {getattr(self.fn, '__name__', 'the step')} eagerly: "
                          f"{exc}", RuntimeWarning, stacklevel=2)
            return self.fn(*args)
        self.programs[key] = program
        return result


class _Program:
    def __init__(self, kernels, buffers, input_slots, output, grad_bindings, state_arrays=(), grad_inputs=(),
                 written_inputs=()):
        self.kernels = kernels
        # (param, buffer, rebind): the gradient the step starts from is read from this buffer; where the step
        # keeps that gradient (updating it in place, if at all), the buffer is the .grad after a replay.
        self.grad_inputs = list(grad_inputs)
        # (argument index, buffer): the step updates that input in place; copied back after a replay.
        self.written_inputs = [(i, buffers[s]) for i, s in input_slots if s in written_inputs]
        # (tensor, array) for the state the kernels read and write: if a tensor now holds another
        # array (load_state_dict, model.to(...), p.data = ...), the program is stale and is traced again.
        self.state_arrays = state_arrays
        self.buffers = buffers
        self.inputs = [(i, buffers[s]) for i, s in input_slots]
        self.output = output
        self.grad_bindings = [(t, buffers[s]) for t, s in grad_bindings]

    def state_is_current(self):
        for tensor, array in self.state_arrays:
            if tensor._array is not array:
                return False
        for p, _, _ in self.grad_inputs:
            if p._grad is None:
                return False     # traced with a gradient to accumulate into: a new trace
        return True

    def run(self, args):
        for i, buf in self.inputs:
            np.copyto(buf, args[i]._array)
        for p, buf, _ in self.grad_inputs:
            if p._grad._array is not buf:
                np.copyto(buf, p._grad._array)
        for kernel in self.kernels:
            kernel()
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
    def capture(fn, args, verify):
        """Trace one real step (its effects stay), link it, and check a replay against eager mode."""
        global _tracer
        state = _state_tensors(fn)
        params = [t for t in state if t._requires_grad and t.grad_fn is None]
        snapshot = _Snapshot(state + [a for a in args if isinstance(a, Tensor)], params)
        # The gradients present when the step starts are read by it (accumulation, zero_grad(set_to_none=False)):
        # a replay copies the current ones into their buffers first.
        grad_inputs = [(p, p._grad) for p in params if p._grad is not None]
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
        rng_state = _random._global.get_state()
        swapped = swap_array_module(_TracingNumpy(), skip=(__name__,))
        swapped_functions = _swap_functions([(_real_as_strided, _traced_as_strided)])
        real_gen, _random._gen = _random._gen, _no_random
        real_np_gen, _random._global.np = _random._global.np, _NoRandom()
        _tracer = tracer
        try:
            result = fn(*args)
            output = _output_spec(result)
        except BaseException:
            _restore(originals)
            snapshot.restore()   # a refused or failed step leaves the state as it was
            raise
        finally:
            _tracer = None
            _random._gen = real_gen
            _random._global.np = real_np_gen
            _restore_functions(swapped_functions)
            restore_array_module(swapped)
        _restore(originals)
        try:
            bindings = []
            for p in params:
                g = p._grad
                if g is not None and isinstance(g._array, _Traced):
                    bindings.append((p, g._array._slot))
                    p._grad = _make(np.asarray(g._array))
            leaked = [t for t in _state_tensors(fn) if isinstance(t._array, _Traced)]
            if leaked:
                raise CaptureError("the step stores new tensors in its state instead of updating the old ones "
                                   "in place (e.g. `p.data = ...` or a new optimizer buffer)")
            if _random._global.get_state() != rng_state:
                raise CaptureError("the step draws random numbers: a captured program would repeat them")
            grad_slots = [(p, wrapped[id(g._array)]._slot) for p, g in grad_inputs]
            kernels, buffers, written_inputs = _link(tracer, [s for _, s in input_slots], [s for _, s in grad_slots])
            old_grads = {id(g) for _, g, _ in snapshot.grads if g is not None}   # replaced every step anyway
            bound = {id(p) for p, _ in bindings}
            program = _Program(kernels, buffers, input_slots, output, bindings,
                               [(t, t._array) for t in state if id(t) not in old_grads],
                               [(p, buffers[s], id(p) not in bound) for p, s in grad_slots], written_inputs)
            eager_result = _materialise(result)
            if verify:
                program._verify(fn, args, state, params, old_grads)
        except CaptureError:
            # Refused after the trace ran: undo its step, so that the eager fallback runs it once.
            snapshot.restore()
            _random._global.set_state(rng_state)
            raise
        return program, eager_result

    def _verify(self, fn, args, state, params, old_grads=()):
        """Replay the next step and run it eagerly from the same state: they must agree. (The gradient
        tensors the step started from are compared as the parameters' .grad, not as state: a replay
        gives .grad its own buffer.)"""
        state = state + [a for a in args if isinstance(a, Tensor)]   # a step may update its inputs
        after_trace = _Snapshot(state, params)
        replayed = _values(self.run(args))
        replay_state = _Snapshot(state, params)
        after_trace.restore()
        eager = _values(_materialise(fn(*args)))
        eager_state = _Snapshot(state, params)
        after_trace.restore()
        if not (replay_state.matches(eager_state, skip=old_grads) and all(
                np.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True) for a, b in zip(replayed, eager))):
            raise CaptureError("the replayed program disagrees with eager mode (the step depends on "
                               "something the tracer cannot see)")


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

    def matches(self, other, skip=()):
        pairs = [(a[2], b[2]) for a, b in zip(self.arrays, other.arrays) if id(a[0]) not in skip]
        pairs += [(a[2], b[2]) for a, b in zip(self.grads, other.grads) if a[2] is not None and b[2] is not None]
        return all(np.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True) for x, y in pairs)


def compile(fn=None, *, fullgraph=False, verify=True, **torch_options):
    """Capture ``fn`` (a training step, or any function of tensors) into a replayed NumPy program.

    fullgraph=True raises CaptureError instead of falling back to eager mode. PyTorch's other
    options (mode, backend, dynamic) are accepted and ignored. Usable as a decorator.
    """
    if fn is None:
        return lambda f: compile(f, fullgraph=fullgraph, verify=verify)
    return CompiledStep(fn, fullgraph=fullgraph, verify=verify)

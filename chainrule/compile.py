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

    # Reading a value into Python makes the step's control flow depend on data: not capturable.
    def _refuse(self, *args, **kwargs):
        raise CaptureError("the step reads a tensor's value into Python (.item(), float(), bool(), "
                           "an `if` on a tensor...): a captured program cannot repeat that decision")

    item = tolist = __bool__ = __float__ = __int__ = __index__ = _refuse


def _astype(a, dtype, copy=True):
    return a.astype(dtype, copy=copy)


def _getitem(a, index):
    return a[index]


def _setitem(a, index, value):
    a[index] = value


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


class Tracer:
    def __init__(self):
        self.instructions = []
        self.values = []          # slot -> the value the trace computed (plain ndarray)
        self.external = {}        # slot -> the persistent array it stands for
        self.fresh = {}           # slot -> initial content of an array the step creates (zeros, ones)

    def new_slot(self, value, external=None):
        value = np.asarray(value)
        self.values.append(value)
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
        if isinstance(obj, (tuple, list)):
            items = [self._unwrap(o) for o in obj]
            return type(obj)(items)
        if isinstance(obj, dict):
            return {k: self._unwrap(v) for k, v in obj.items()}
        return obj

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
        if not isinstance(result, (np.ndarray, np.generic)):
            return result   # a query (shape, dtype, may_share_memory): nothing to record
        out = self.new_slot(result)
        first = plain_args[0] if plain_args else None
        is_view = (isinstance(result, np.ndarray) and isinstance(first, np.ndarray)
                   and np.may_share_memory(result, first))
        if func in _FRESH:
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
        return np.asarray(a, dtype=dtype, **kwargs)

    def array(self, a, dtype=None, copy=True, **kwargs):
        if isinstance(a, _Traced):
            return a.astype(dtype or a.dtype) if copy else self.asarray(a, dtype)
        return np.array(a, dtype=dtype, copy=copy, **kwargs)


_FRESH = {np.zeros, np.ones, np.full, np.zeros_like, np.ones_like, np.full_like}


def _no_random(*args, **kwargs):
    raise CaptureError("the step draws random numbers (dropout in training mode, randn, ...): a captured "
                       "program would repeat the same numbers every time")


# ----- linking: the recording becomes a list of kernels over fixed buffers -------------------------
def _link(tracer, input_slots):
    """``(kernels, buffers)``: every slot gets one buffer for good, so each kernel can be bound once."""
    buffers = {}
    for slot, array in tracer.external.items():
        buffers[slot] = array
    for slot in input_slots:
        buffers[slot] = np.empty_like(tracer.values[slot])

    def arg(obj):
        if isinstance(obj, _Slot):
            return buffers[obj.n]
        if isinstance(obj, (tuple, list)):
            return type(obj)(arg(o) for o in obj)
        if isinstance(obj, dict):
            return {k: arg(v) for k, v in obj.items()}
        return obj

    immutable = _immutable_slots(tracer, input_slots)
    kernels = []
    for ins in tracer.instructions:
        args, kwargs = arg(ins.args), arg(ins.kwargs)
        if ins.out_slot is None:                       # writes into an existing buffer
            kernels.append(functools.partial(ins.func, *args, **kwargs))
            continue
        if ins.is_view:                                # a view of a fixed buffer is fixed too
            buffers[ins.out_slot] = ins.func(*args, **kwargs)
            continue
        value = tracer.values[ins.out_slot]
        if ins.out_slot in tracer.fresh and ins.out_slot in immutable:
            buffers[ins.out_slot] = tracer.fresh[ins.out_slot]   # a constant: no kernel at all
            continue
        if (ins.func in (np.copy, _astype) and args[0].dtype == value.dtype
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
    return kernels, buffers


def _immutable_slots(tracer, input_slots):
    """Slots whose memory no kernel writes: neither they nor any view of or under them is written
    in place, and they are not state or inputs (which change between calls)."""
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
    mutable = {root(s) for s in tracer.external} | {root(s) for s in input_slots}
    mutable |= {root(ins.writes.n) for ins in tracer.instructions if isinstance(ins.writes, _Slot)}
    return {n for n in range(len(tracer.values)) if root(n) not in mutable}


def _copy_into(buf, func, args, kwargs):
    def kernel():
        np.copyto(buf, func(*args, **kwargs), casting="unsafe")
    return kernel


# ----- finding the step's state ----------------------------------------------------------------------
def _state_tensors(fn):
    """Tensors the step may read or update: those of the modules, optimizers, tensors and
    containers that ``fn`` refers to (its closure, the globals it names, a bound method's self)."""
    Module, Optimizer = _owner_classes()
    found, seen = {}, set()

    def visit(obj, depth):
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, Tensor):
            found[id(obj)] = obj
            if obj._grad is not None:
                found[id(obj._grad)] = obj._grad
        elif isinstance(obj, Module):
            for t in list(obj.parameters()) + list(obj.buffers()):
                visit(t, depth)
            for value in vars(obj).values():
                if isinstance(value, (Tensor, list, tuple, dict)):
                    visit(value, depth + 1)
        elif isinstance(obj, Optimizer):
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
    return list(found.values())


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
            items.extend(tuple(sorted((k, v) for k, v in g.items() if isinstance(v, (int, float, bool))))
                         for g in obj.param_groups)
        elif isinstance(obj, Module):
            items.extend(m.training for m in obj.modules())
    return tuple(items)


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
            self._owners = [r for r in _references(self.fn) if hasattr(r, "param_groups") or hasattr(r, "modules")]
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
    def __init__(self, kernels, buffers, input_slots, output, grad_bindings, state_arrays=()):
        self.kernels = kernels
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
        return True

    def run(self, args):
        for i, buf in self.inputs:
            np.copyto(buf, args[i]._array)
        for kernel in self.kernels:
            kernel()
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
        snapshot = _Snapshot(state, params)
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
        real_gen, _random._gen = _random._gen, _no_random
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
            restore_array_module(swapped)
        _restore(originals)
        bindings = []
        for p in params:
            g = p._grad
            if g is not None and isinstance(g._array, _Traced):
                bindings.append((p, g._array._slot))
                p._grad = _make(np.asarray(g._array))
        leaked = [t for t in _state_tensors(fn) if isinstance(t._array, _Traced)]
        if leaked:
            snapshot.restore()
            raise CaptureError("the step stores new tensors in its state instead of updating the old ones "
                               "in place (e.g. `p.data = ...` or a new optimizer buffer)")
        kernels, buffers = _link(tracer, [s for _, s in input_slots])
        old_grads = {id(g) for _, g, _ in snapshot.grads if g is not None}   # replaced every step anyway
        program = _Program(kernels, buffers, input_slots, output, bindings,
                           [(t, t._array) for t in state if id(t) not in old_grads])
        eager_result = _materialise(result)
        if verify:
            program._verify(fn, args, state, params)
        return program, eager_result

    def _verify(self, fn, args, state, params):
        """Replay the next step and run it eagerly from the same state: they must agree."""
        after_trace = _Snapshot(state, params)
        replayed = _values(self.run(args))
        replay_state = _Snapshot(state, params)
        after_trace.restore()
        eager = _values(_materialise(fn(*args)))
        eager_state = _Snapshot(state, params)
        after_trace.restore()
        if not (replay_state.matches(eager_state) and all(
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

    def matches(self, other):
        pairs = [(a[2], b[2]) for a, b in zip(self.arrays, other.arrays)]
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

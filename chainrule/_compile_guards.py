"""Guards for ``chainrule.compile``: the Python values a captured program assumed, checked before each replay.

A trace runs the step's Python once; every Python value it read (a learning rate in a closure, a module's
``negative_slope``, which child modules a ``Sequential`` holds, a tensor's ``requires_grad``) is baked into
the recorded kernels. A replay is only right while those values are unchanged, so before each replay the
program checks them, and a change makes a new trace.

Which values the trace read cannot be observed from Python cheaply, so the guards cover everything the step
can reach: its closure cells and the globals its code names, and from there, recursively, modules (every
attribute, the module tree), optimizers (param groups, state), tensors (identity, the array they hold,
``requires_grad``, ``grad_fn``, whether ``.grad`` exists), containers, user-defined objects and functions
(with their classes' methods and the globals those name). Numbers, strings and tuples are compared by value,
everything else by identity plus its contents. A guarded value the step itself changes is a Python side
effect a replay would skip: the capture is refused (see ``side_effect``). A value the guards cannot read
(an iterator, an object with hidden state) is refused too, named by its path.

``build_guard(fn)`` walks once and generates one Python function of ``if`` statements (the cheap check on
every call); it returns the index of the first check that failed, whose description names what changed.
"""
import dis
import functools
import pathlib
import re
import sys
import types
import weakref

import numpy as np

from .tensor import Tensor

MAX_CHECKS = 20_000      # a step that reaches more Python values than this is refused, not walked forever
MAX_DEPTH = 12           # containers and plain objects nested deeper than this cannot be guarded
MAX_ARRAY = 1 << 20      # NumPy arrays the step reaches are guarded by value up to this many elements

_MISSING = object()      # what a guarded global or key that did not exist compares to
_VALUE_TYPES = (int, float, complex, str, bytes, slice, range, np.generic)
_VALUE_CLASSES = (np.generic, pathlib.PurePath)     # and their subclasses: immutable, compared by value
_LIBRARY_ROOTS = frozenset(getattr(sys, "stdlib_module_names", ())) | {"chainrule", "numpy", "builtins"}
# Fields of a tensor's __dict__ that change on every step by design: the gradient is handled apart
# (whether it exists is guarded, see _tensor), the AccumulateGrad node is made on first use, and a base
# keeps weak references to the views the step makes of it (autograd/views.py).
_TENSOR_SKIP = frozenset({"_grad", "_accum", "_views", "_views_limit"})
_REGISTRIES = ("_modules", "_parameters", "_buffers")   # a Module's named tensors and children
_STATE_DICT_ONLY = frozenset({"_non_persistent_buffers_set"})   # Module bookkeeping a step never reads
# A Module's hooks: while a registry is empty, its length is all there is to guard (and the set saying which
# hooks take keyword arguments is read only for hooks that exist).
_HOOK_DICTS = frozenset({"_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                         "_state_dict_hooks", "_load_state_dict_pre_hooks"})
_HOOK_KWARGS = {"_forward_hooks_with_kwargs": "_forward_hooks", "_forward_pre_hooks_with_kwargs": "_forward_pre_hooks"}


class UnguardableError(Exception):
    """The step reaches a value whose state the guards cannot read."""


def _is_library(obj):
    module = getattr(obj, "__module__", None) or ""
    return module.partition(".")[0] in _LIBRARY_ROOTS


def _owner_classes():
    from . import nn, optim
    return getattr(nn, "Module", ()), getattr(optim, "Optimizer", ())


class Guard:
    """``check()``: -1 while every guarded value is as it was, else the index of the first changed one, which
    ``descriptions`` names; ``holds()``: whether it is -1."""

    def __init__(self, check, descriptions, tensors, owners, source):
        self.check = check
        self.descriptions = descriptions
        self.tensors = tensors            # every tensor reached: the step's state
        self.owners = owners              # the modules and optimizers reached
        self.source = source

    def holds(self):
        return self.check() < 0

    def what_changed(self):
        i = self.check()
        return None if i < 0 else self.descriptions[i]

    def side_effect(self):
        """After the traced call: the description of a guarded value the step changed, or None. Whether
        gradients exist may change (a step sets or clears them); the first other change is named."""
        i = self.check_stable()
        return None if i < 0 else self.descriptions[self.stable_index[i]]


class _Builder:
    def __init__(self):
        self.objects = [_MISSING]
        self.lines = []           # one boolean expression per check
        self.descriptions = []
        self.volatile = set()
        self.named = {}           # id(obj) -> the expression that holds it (guarded by identity already)
        self.tensors = {}
        self.owners = []
        self.classes = set()
        self.n_vars = 0
        self.keep = []            # objects whose ids are keys of `named`: alive while the guard is

    def ref(self, obj):
        self.objects.append(obj)
        return f"o[{len(self.objects) - 1}]"

    def var(self):
        self.n_vars += 1
        return f"v{self.n_vars}"

    def check(self, expr, what, volatile=False):
        if len(self.lines) >= MAX_CHECKS:
            raise UnguardableError(f"{what}: the step reaches more than {MAX_CHECKS} Python values")
        if volatile:
            self.volatile.add(len(self.lines))
        self.lines.append(expr)
        self.descriptions.append(what)

    # ----- one value, reached by the expression `expr`, described as `path` -----------------------------
    def walk(self, expr, value, path, depth=0):
        t = type(value)
        if value is None or t is bool:
            self.check(f"{expr} is {value!r}", f"{path} (was {value!r})")
            return
        if t in _VALUE_TYPES or isinstance(value, _VALUE_CLASSES):
            v = self.var()
            if t is float and value != value:
                self.check(f"type({v} := {expr}) is float and {v} != {v}", f"{path} (was nan)")
            else:
                self.check(f"type({v} := {expr}) is {self.ref(t)} and {v} == {self.ref(value)}",
                           f"{path} (was {_short(value)})")
            return
        if id(value) in self.named:
            self.check(f"{expr} is {self.named[id(value)]}", f"{path} (the same object)")
            return
        if t is tuple:
            v = self.var()
            self.check(f"type({v} := {expr}) is tuple and len({v}) == {len(value)}", f"{path} (a tuple of {len(value)})")
            for i, item in enumerate(value):
                self.walk(f"{v}[{i}]", item, f"{path}[{i}]", depth + 1)
            return
        if depth > MAX_DEPTH:
            raise UnguardableError(f"{path}: nested more than {MAX_DEPTH} levels deep")
        name = self.ref(value)
        self.check(f"{expr} is {name}", f"{path} (rebound to another object)")
        self.named[id(value)] = name
        self.keep.append(value)
        Module, Optimizer = _owner_classes()
        if isinstance(value, Tensor):
            self._tensor(name, value, path)
        elif isinstance(value, Module):
            self.owners.append(value)
            self._attributes(name, value, path, depth=0)     # the module tree is walked to any depth
        elif isinstance(value, Optimizer):
            self.owners.append(value)
            self._attributes(name, value, path, depth)
        elif isinstance(value, (list, dict)):
            self._container(name, value, path, depth)
        elif isinstance(value, (set, frozenset)):
            self._set(name, value, path)
        elif isinstance(value, np.ndarray):
            self._array(name, value, path)
        elif isinstance(value, types.FunctionType):
            self._function(name, value, path, depth)
        elif isinstance(value, types.MethodType):
            self.walk(f"{name}.__self__", value.__self__, f"{path}.__self__", depth + 1)
            self.walk(f"{name}.__func__", value.__func__, f"{path}.__func__", depth + 1)
        elif isinstance(value, functools.partial):
            self.walk(f"{name}.func", value.func, f"{path}.func", depth + 1)
            self.walk(f"{name}.args", value.args, f"{path}.args", depth + 1)
            self.walk(f"{name}.keywords", value.keywords, f"{path}.keywords", depth + 1)
        elif _is_identity_only(value):
            pass      # classes, modules, builtins, dtypes: what they are is who they are
        elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
            self._attributes(name, value, path, depth)
        else:
            raise UnguardableError(f"{path}: a {t.__name__} object, whose state the guards cannot read")

    def _tensor(self, name, t, path):
        self.tensors[id(t)] = t
        self.check(f"{name}._array is {self.ref(t._array)}", f"{path} (holds another array: .data or "
                                                              f"load_state_dict replaced it)")
        self.check(f"{name}._requires_grad is {t._requires_grad!r}", f"{path}.requires_grad (was {t._requires_grad})")
        if t.grad_fn is None:
            self.check(f"{name}.grad_fn is None", f"{path}.grad_fn (was None)")
        else:
            self.check(f"{name}.grad_fn is {self.ref(t.grad_fn)}", f"{path}.grad_fn (another graph)")
        if t._requires_grad and t.grad_fn is None:
            has = t._grad is not None
            self.check(f"({name}._grad is not None) is {has!r}", f"whether {path}.grad exists (it "
                       f"{'did' if has else 'did not'})", volatile=True)
        # Hooks and other attributes set on the tensor (its __dict__ keeps the keys once set).
        d = self.ref(vars(t))
        self.check(f"len({d}) == {len(vars(t))}", f"{path}: an attribute (a hook...) was added or removed")
        for key, item in list(vars(t).items()):
            if key not in _TENSOR_SKIP:
                self.walk(f"{d}.get({key!r}, o[0])", item, f"{path}.{key}", 1)

    def _attributes(self, name, obj, path, depth):
        cls = type(obj)
        if not _is_library(cls):
            self._class(cls)
        if hasattr(obj, "__dict__"):
            d = vars(obj)
            dn = self.ref(d)
            self.check(f"{name}.__dict__ is {dn} and len({dn}) == {len(d)}", f"{path} (an attribute was added or "
                                                                          f"removed)")
            for key, item in list(d.items()):
                expr = f"{dn}.get({key!r}, o[0])"
                if key in _STATE_DICT_ONLY or (key in _HOOK_KWARGS and not d.get(_HOOK_KWARGS[key])):
                    continue
                if key in _HOOK_DICTS and isinstance(item, dict) and not item:
                    self.check(f"len({expr}) == 0", f"{path}.{key} (a hook was registered)")
                    continue
                if key in _REGISTRIES and isinstance(item, dict):
                    self._registry(expr, item, path, key, depth)
                else:
                    self.walk(expr, item, f"{path}.{key}", depth + 1)
        for slot in _slots(cls):
            self.walk(f"getattr({name}, {slot!r}, o[0])", getattr(obj, slot, _MISSING), f"{path}.{slot}", depth + 1)

    def _registry(self, expr, registry, path, key, depth):
        """A module's parameters, buffers or children: the dict by identity, its keys, each value."""
        v = self.var()
        kind = {"_modules": "child module", "_parameters": "parameter", "_buffers": "buffer"}[key]
        self.check(f"({v} := {expr}) is {self.ref(registry)} and len({v}) == {len(registry)}",
                   f"{path}: a {kind} was added or removed")
        for k, child in list(registry.items()):
            self.walk(f"{v}.get({k!r}, o[0])", child, f"{path}.{k}", depth)

    def _container(self, name, value, path, depth):
        self.check(f"len({name}) == {len(value)}", f"{path} (an item was added or removed)")
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.walk(f"{name}[{i}]", item, f"{path}[{i}]", depth + 1)
            return
        for key, item in list(value.items()):
            key_expr = repr(key) if type(key) in (str, int) or key is None else self.ref(key)
            self.walk(f"{name}.get({key_expr}, o[0])", item, f"{path}[{_short(key)}]", depth + 1)

    def _set(self, name, value, path):
        frozen = frozenset(value)
        if not all(type(x) in _VALUE_TYPES or x is None or type(x) in (bool, tuple) for x in frozen):
            raise UnguardableError(f"{path}: a set of objects other than numbers and strings")
        self.check(f"{name} == {self.ref(frozen)}", f"{path} (its members changed)")

    def _array(self, name, value, path):
        if value.size > MAX_ARRAY:
            raise UnguardableError(f"{path}: a NumPy array of {value.size} elements (wrap it in a tensor)")
        self.check(f"{name}.shape == {value.shape!r} and {name}.dtype == {self.ref(value.dtype)} and "
                   f"_array_equal({name}, {self.ref(value.copy())})", f"{path} (a NumPy array whose values changed)")

    def _function(self, name, fn, path, depth):
        if _is_library(fn):
            return            # chainrule's, NumPy's and Python's own functions: who they are is enough
        fname = getattr(fn, "__qualname__", "the step")
        self.walk(f"{name}.__defaults__", fn.__defaults__, f"the defaults of {fname}", depth + 1)
        self.walk(f"{name}.__kwdefaults__", fn.__kwdefaults__, f"the keyword defaults of {fname}", depth + 1)
        code = fn.__code__
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:       # a variable defined later: guard that it still is not
                self.check(f"_empty_cell({self.ref(cell)})", f"`{var}` of {fname} (was not set yet)")
                continue
            self.walk(f"{self.ref(cell)}.cell_contents", content, var, depth + 1)
        g = self.ref(fn.__globals__)
        for var in sorted(_names(code)):
            value = fn.__globals__.get(var, _MISSING)
            if value is _MISSING:
                self.check(f"{g}.get({var!r}, o[0]) is o[0]", f"global {var} of {fname} (did not exist)")
            elif isinstance(value, types.ModuleType):
                self.check(f"{g}.get({var!r}, o[0]) is {self.ref(value)}", f"global {var} of {fname}")
            else:
                self.walk(f"{g}.get({var!r}, o[0])", value, var, depth + 1)

    def _class(self, cls):
        """A user-defined class: the methods a step may call and the class-level values they may read."""
        for klass in cls.__mro__:
            if klass in self.classes or _is_library(klass) or klass is object:
                continue
            self.classes.add(klass)
            d = self.ref(klass.__dict__)
            for key, item in list(vars(klass).items()):
                if key.startswith("__") and key.endswith("__") or isinstance(item, (property, type)):
                    continue
                if isinstance(item, (staticmethod, classmethod)):
                    item = item.__func__
                    self.walk(f"{d}.get({key!r}, o[0]).__func__", item, f"{klass.__qualname__}.{key}", 1)
                    continue
                self.walk(f"{d}.get({key!r}, o[0])", item, f"{klass.__qualname__}.{key}", 1)


def _slots(cls):
    names = []
    for klass in cls.__mro__:
        for s in getattr(klass, "__slots__", ()):
            if s not in ("__dict__", "__weakref__") and s not in names:
                names.append(s)
    return names


_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME", "STORE_NAME", "DELETE_NAME",
                         "LOAD_FROM_DICT_OR_GLOBALS"})


@functools.lru_cache(maxsize=4096)
def _names(code):
    """The global names a function's code (and the code nested in it) reads, writes or deletes (not the
    attribute names co_names also holds)."""
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(i.argval for i in dis.get_instructions(c) if i.opname in _GLOBAL_OPS)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return frozenset(names)


def _is_identity_only(value):
    if isinstance(value, (type, types.ModuleType, types.BuiltinFunctionType, np.ufunc, np.dtype,
                          types.MethodWrapperType, types.WrapperDescriptorType, types.MethodDescriptorType,
                          types.GetSetDescriptorType, types.MemberDescriptorType, types.CodeType,
                          weakref.ref)):
        return True
    from . import dtypes
    from .device import device as _device_class
    return isinstance(value, (dtypes.dtype, _device_class)) or (
        _is_library(type(value)) and type(value).__module__.startswith("enum"))


def _empty_cell(cell):
    try:
        cell.cell_contents
    except ValueError:
        return True
    return False


def _short(value, limit=40):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _settings():
    """chainrule's global settings a trace bakes in: (expression, object it is called on, description)."""
    from .autograd import anomaly, grad_mode
    from . import dtypes
    return [(grad_mode.is_grad_enabled, "grad mode (torch.is_grad_enabled())"),
            (dtypes.get_default_dtype, "the default dtype"),
            (anomaly.is_anomaly_enabled, "anomaly detection")]


def build_guard(fn):
    """Walk what ``fn`` reaches; return a :class:`Guard`. Raises UnguardableError naming a value it cannot read."""
    b = _Builder()
    for getter, what in _settings():
        value = getter()
        b.check(f"{b.ref(getter)}() is {b.ref(value)}", f"{what} (was {value!r})")
    b.walk(b.ref(fn), fn, getattr(fn, "__qualname__", "the step"))
    stable_index = [i for i in range(len(b.lines)) if i not in b.volatile]
    source = _function_source({"check": b.lines, "check_stable": [b.lines[i] for i in stable_index]})
    namespace = {"_array_equal": _array_equal_nan, "_empty_cell": _empty_cell}
    exec(compile(source, "<chainrule.compile guard>", "exec"), namespace)
    check, check_stable = namespace["make"](b.objects)
    guard = Guard(check, b.descriptions, list(b.tensors.values()), b.owners, source)
    guard.check_stable, guard.stable_index = check_stable, stable_index
    guard._keep = b.keep      # the objects whose identities the checks compare stay alive
    return guard


_OBJECT = re.compile(r"\bo\[(\d+)\]")


def _local(match):
    return f"o_{match.group(1)}"


_GET = re.compile(r"\.get\(([^,()]+), o_0\)")


def _function_source(functions):
    """``make(objects)`` returning one function per entry of ``functions`` (name -> lines): a run of ``if``
    statements that returns the index of the first false line, or -1. The objects the lines name as ``o[k]``
    become variables of the enclosing function (a closure cell is quicker to read than a list item), and a
    dict entry is read by subscription (``d[key]``, quicker than ``d.get(key, missing)``); should one be gone
    (KeyError), the function answers by the slower form, which reads ``missing`` instead."""
    used = sorted({int(k) for lines in functions.values() for line in lines for k in _OBJECT.findall(line)})
    unpack = "".join(f"    o_{k} = objects[{k}]\n" for k in used)
    bodies = []
    for name, lines in functions.items():
        safe = [_OBJECT.sub(_local, line) for line in lines]
        fast = [line if line.endswith(" is o_0") else _GET.sub(r"[\1]", line) for line in safe]
        body = "".join(f"            if not ({line}): return {i}\n" for i, line in enumerate(fast))
        slow = "".join(f"        if not ({line}): return {i}\n" for i, line in enumerate(safe))
        bodies.append(f"    def {name}_by_get():\n{slow}        return -1\n"
                      f"    def {name}():\n        try:\n{body}            return -1\n"
                      f"        except (KeyError, IndexError):\n            return {name}_by_get()\n")
    return f"def make(objects):\n{unpack}" + "".join(bodies) + f"    return {', '.join(functions)}\n"


def _array_equal_nan(a, b):
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))

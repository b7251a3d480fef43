"""The ``weights_only`` unpickler: reads a pickle without importing or calling anything off the allow-list.

Python's pickle format is a small stack machine whose GLOBAL, REDUCE, NEWOBJ and BUILD instructions import
and call arbitrary code. This interpreter executes the data instructions itself and applies PyTorch's
weights-only rules to those four:

* GLOBAL resolves only names on the allow-list (``_names.ALLOWED`` -- tensors, storages, dtypes,
  containers -- and the user's ``add_safe_globals``); modules ``sys``, ``os``, ``posix`` and ``nt`` are
  refused even if allow-listed. Nothing is ever imported.
* REDUCE calls, and NEWOBJ instantiates, only objects that GLOBAL produced from the allow-list.
* BUILD sets state only on Parameters, OrderedDicts and instances of allow-listed classes.
* APPEND(S) only extends lists, SETITEM(S) only fills dicts; a persistent id must name a storage.

It reads protocols 2 to 5 (``torch.save`` writes 2). A refusal raises ``WeightsOnlyError`` (PyTorch's
``pickle.UnpicklingError``) with PyTorch's wording; a malformed stream raises ``CheckpointError``.
"""
import _compat_pickle
import collections
import pickle
import struct

from ..nn.parameter import Parameter
from ..tensor import Tensor
from . import _names, _rebuild, _safe_globals
from .errors import WeightsOnlyError

_BLOCKED_MODULES = ("sys", "os", "posix", "nt")
_SETITEM_TARGETS = (dict, collections.OrderedDict, collections.Counter)


class Malformed(Exception):
    """The pickle stream itself is broken (truncated, stack underflow, unknown memo): not a refusal."""


def _op(code):
    return code[0]


class WeightsOnlyUnpickler:
    """``WeightsOnlyUnpickler(file, persistent_load).load()``: one pickle from ``file``, read safely."""

    def __init__(self, file, persistent_load=None, encoding="utf-8"):
        self._read = file.read
        self._readline = file.readline
        self._persistent_load = persistent_load
        self.encoding = encoding
        self.memo = {}

    # -- reading the stream -------------------------------------------------------------------
    def _take(self, n):
        data = self._read(n)
        if len(data) != n:
            raise Malformed("the pickle ends in the middle of an instruction")
        return data

    def _line(self):
        line = self._readline()
        if not line.endswith(b"\n"):
            raise Malformed("the pickle ends in the middle of an instruction")
        return line[:-1].decode("utf-8")

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self._take(n))[0]

    # -- the machine ----------------------------------------------------------------------------
    def load(self):
        self.stack, self.metastack = [], []
        handlers = self._handlers()
        while True:
            key = self._read(1)
            if not key:
                raise Malformed("the pickle ends before its STOP instruction")
            handler = handlers.get(key[0])
            if handler is None:
                raise WeightsOnlyError(f"Unsupported operand {key[0]}")
            try:
                if handler(self):
                    return self.stack.pop()
            except (IndexError, KeyError) as exc:
                if isinstance(exc, KeyError) and key[0] in (_op(pickle.BINGET), _op(pickle.LONG_BINGET)):
                    raise Malformed(f"memo entry {exc} is read before it is written") from None
                raise Malformed(f"instruction {key!r} finds the stack too short") from None

    def _push(self, value):
        # (A handler must not write `u.stack.append(u._pop_mark())`: that binds append to the marked list.)
        self.stack.append(value)

    def _pop_mark(self):
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # Each handler returns True only for STOP.
    def _handlers(self):
        P = pickle
        return {
            _op(P.PROTO): lambda u: u._proto(),
            _op(P.FRAME): lambda u: u._take(8) and None,
            _op(P.STOP): lambda u: True,
            _op(P.MARK): lambda u: u._mark(),
            _op(P.POP): lambda u: u.stack.pop() and None,
            _op(P.POP_MARK): lambda u: u._pop_mark() and None,
            _op(P.DUP): lambda u: u.stack.append(u.stack[-1]),
            _op(P.NONE): lambda u: u.stack.append(None),
            _op(P.NEWTRUE): lambda u: u.stack.append(True),
            _op(P.NEWFALSE): lambda u: u.stack.append(False),
            _op(P.BININT): lambda u: u.stack.append(u._unpack("<i", 4)),
            _op(P.BININT1): lambda u: u.stack.append(u._take(1)[0]),
            _op(P.BININT2): lambda u: u.stack.append(u._unpack("<H", 2)),
            _op(P.LONG1): lambda u: u.stack.append(pickle.decode_long(u._take(u._take(1)[0]))),
            _op(P.LONG4): lambda u: u.stack.append(pickle.decode_long(u._take(u._length("<i", 4)))),
            _op(P.BINFLOAT): lambda u: u.stack.append(u._unpack(">d", 8)),
            _op(P.BINUNICODE): lambda u: u.stack.append(u._text(u._length("<I", 4))),
            _op(P.SHORT_BINUNICODE): lambda u: u.stack.append(u._text(u._take(1)[0])),
            _op(P.BINUNICODE8): lambda u: u.stack.append(u._text(u._length("<Q", 8))),
            _op(P.SHORT_BINSTRING): lambda u: u.stack.append(u._legacy_str(u._take(1)[0])),
            _op(P.BINSTRING): lambda u: u.stack.append(u._legacy_str(u._length("<i", 4))),
            _op(P.SHORT_BINBYTES): lambda u: u.stack.append(u._take(u._take(1)[0])),
            _op(P.BINBYTES): lambda u: u.stack.append(u._take(u._length("<I", 4))),
            _op(P.BINBYTES8): lambda u: u.stack.append(u._take(u._length("<Q", 8))),
            _op(P.BYTEARRAY8): lambda u: u.stack.append(bytearray(u._take(u._length("<Q", 8)))),
            _op(P.EMPTY_TUPLE): lambda u: u.stack.append(()),
            _op(P.TUPLE): lambda u: u._push(tuple(u._pop_mark())),
            _op(P.TUPLE1): lambda u: u.stack.append((u.stack.pop(),)),
            _op(P.TUPLE2): lambda u: u._tuple(2),
            _op(P.TUPLE3): lambda u: u._tuple(3),
            _op(P.EMPTY_LIST): lambda u: u.stack.append([]),
            _op(P.EMPTY_DICT): lambda u: u.stack.append({}),
            _op(P.EMPTY_SET): lambda u: u.stack.append(set()),
            _op(P.FROZENSET): lambda u: u._push(frozenset(u._pop_mark())),
            _op(P.APPEND): lambda u: u._append([u.stack.pop()]),
            _op(P.APPENDS): lambda u: u._append(u._pop_mark()),
            _op(P.SETITEM): lambda u: u._setitems([u.stack.pop(-2), u.stack.pop()]),
            _op(P.SETITEMS): lambda u: u._setitems(u._pop_mark()),
            _op(P.ADDITEMS): lambda u: u._additems(u._pop_mark()),
            _op(P.BINGET): lambda u: u.stack.append(u.memo[u._take(1)[0]]),
            _op(P.LONG_BINGET): lambda u: u.stack.append(u.memo[u._unpack("<I", 4)]),
            _op(P.BINPUT): lambda u: u._put(u._take(1)[0]),
            _op(P.LONG_BINPUT): lambda u: u._put(u._unpack("<I", 4)),
            _op(P.MEMOIZE): lambda u: u._put(len(u.memo)),
            _op(P.GLOBAL): lambda u: u.stack.append(u._global(u._line(), u._line())),
            _op(P.STACK_GLOBAL): lambda u: u._stack_global(),
            _op(P.REDUCE): lambda u: u._reduce(),
            _op(P.NEWOBJ): lambda u: u._newobj(),
            _op(P.NEWOBJ_EX): lambda u: u._newobj_ex(),
            _op(P.BUILD): lambda u: u._build(),
            _op(P.BINPERSID): lambda u: u._persid(),
        }

    def _proto(self):
        proto = self._take(1)[0]
        if not 2 <= proto <= pickle.HIGHEST_PROTOCOL:
            raise WeightsOnlyError(f"Unsupported pickle protocol {proto}")

    def _mark(self):
        self.metastack.append(self.stack)
        self.stack = []

    def _length(self, fmt, n):
        length = self._unpack(fmt, n)
        if length < 0:
            raise Malformed("a negative length")
        return length

    def _text(self, n):
        return str(self._take(n), "utf-8", "surrogatepass")

    def _legacy_str(self, n):
        data = self._take(n)
        return data if self.encoding == "bytes" else data.decode(self.encoding, "strict")

    def _tuple(self, n):
        items = tuple(self.stack[-n:])
        if len(items) != n:
            raise IndexError
        del self.stack[-n:]
        self.stack.append(items)

    def _put(self, index):
        self.memo[index] = self.stack[-1]

    def _append(self, items):
        target = self.stack[-1]
        if type(target) is not list:
            raise WeightsOnlyError(f"Can only append to lists, but got {type(target)}")
        target.extend(items)

    def _setitems(self, items):
        target = self.stack[-1]
        if type(target) not in _SETITEM_TARGETS:
            raise WeightsOnlyError(f"Can only SETITEM for dict, collections.OrderedDict, collections.Counter, "
                                   f"but got {type(target)}")
        if len(items) % 2:
            raise Malformed("SETITEMS with an odd number of items")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def _additems(self, items):
        target = self.stack[-1]
        if type(target) is not set:
            raise WeightsOnlyError(f"Can only add items to sets, but got {type(target)}")
        target.update(items)

    # -- the four instructions that could run code -------------------------------------------------
    def _global(self, module, name):
        # Protocol 2 writes Python 2's names for some globals (__builtin__.set): read them as Python 3's.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if module.split(".")[0] in _BLOCKED_MODULES:
            raise WeightsOnlyError(f"Trying to load unsupported GLOBAL {full} whose module {module} is blocked.")
        if full in _names.ALLOWED:
            return _names.ALLOWED[full]
        found = _safe_globals.user_allowed(module, name)
        if found is not None:
            return found
        shown = name if module == "builtins" else full
        raise WeightsOnlyError(
            f"Unsupported global: GLOBAL {shown} was not an allowed global by default. Please use "
            f"`torch.serialization.add_safe_globals([{shown}])` or the `torch.serialization.safe_globals([{shown}])` "
            "context manager to allowlist this global if you trust this class/function (chainrule."
            "serialization.add_safe_globals and chainrule.serialization.safe_globals are the same functions).")

    def _stack_global(self):
        name, module = self.stack.pop(), self.stack.pop()
        if type(name) is not str or type(module) is not str:
            raise Malformed("STACK_GLOBAL needs two strings")
        self.stack.append(self._global(module, name))

    def _allowed(self, obj):
        if not callable(obj):
            return False
        return any(obj is value for value in _names.ALLOWED.values()) or _safe_globals.is_user_allowed_object(obj)

    def _reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not self._allowed(func):
            raise WeightsOnlyError(f"Trying to call reduce for unrecognized function {func!r}")
        if func is Tensor:   # torch.Tensor(n) would allocate whatever a file asks; checkpoints never call it
            raise WeightsOnlyError("Trying to call torch.Tensor(...): a checkpoint builds tensors from storages")
        if type(args) is not tuple:
            raise Malformed("REDUCE needs a tuple of arguments")
        try:
            self.stack[-1] = func(*args)
        except (IndexError, KeyError) as exc:   # not the machine's own stack or memo: the call failed
            raise ValueError(f"{getattr(func, '__name__', func)} failed: {exc!r}") from None

    def _instantiate(self, cls, args, kwargs):
        if type(args) is not tuple or type(kwargs) is not dict:
            raise Malformed("NEWOBJ needs a tuple of arguments")
        if cls is Parameter:
            return Parameter(*args, **kwargs)
        if not (isinstance(cls, type) and self._allowed(cls)):
            raise WeightsOnlyError("Can only create new object for nn.Parameter or classes allowlisted via "
                                   f"`add_safe_globals` but got {cls!r}")
        return cls.__new__(cls, *args, **kwargs)

    def _newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.stack.append(self._instantiate(cls, args, {}))

    def _newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.stack.append(self._instantiate(cls, args, kwargs))

    def _build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        kind = type(inst)
        if kind is collections.OrderedDict:
            if not isinstance(state, dict):
                raise Malformed("an OrderedDict's state must be a dict")
            inst.__dict__.update(state)
        elif kind is Parameter or self._allowed(kind):
            setstate = getattr(inst, "__setstate__", None)
            if setstate is not None and kind is not Parameter:
                setstate(state)
            else:
                _rebuild.set_state(inst, state)
        else:
            raise WeightsOnlyError("Can only build Tensor, Parameter, OrderedDict or types allowlisted via "
                                   f"`add_safe_globals`, but got {kind}")

    def _persid(self):
        pid = self.stack.pop()
        if type(pid) is not tuple and type(pid) is not int:
            raise WeightsOnlyError(f"persistent_load id must be tuple or int, but got {type(pid)}")
        if type(pid) is tuple and (not pid or _ascii(pid[0]) != "storage"):
            raise WeightsOnlyError(f"Only persistent_load of storage is allowed, but got {pid[:1]!r}")
        if self._persistent_load is None:
            raise WeightsOnlyError("unsupported persistent id encountered")
        self.stack.append(self._persistent_load(pid))


def _ascii(value):
    return value.decode("ascii") if isinstance(value, bytes) else value

"""The user's allow-list for ``weights_only`` loading: ``add_safe_globals``, ``safe_globals`` and friends.

An entry is a class or function (known by its ``__module__`` and ``__qualname__``) or a pair
``(obj, "full.name")`` for an object the file names differently. As in PyTorch, the list is global to the
process; ``safe_globals([...])`` adds entries for the duration of a ``with`` block.
"""
import threading

from ._names import chainrule_module, lookup_loaded

_lock = threading.Lock()
_entries = set()


def add_safe_globals(safe_globals):
    """Allow these classes/functions (or ``(obj, "full.name")`` pairs) in ``weights_only`` loads."""
    entries = list(safe_globals)
    for entry in entries:
        _check(entry)
    with _lock:
        _entries.update(entries)


def get_safe_globals():
    with _lock:
        return list(_entries)


def clear_safe_globals():
    with _lock:
        _entries.clear()


def _remove_safe_globals(safe_globals):
    with _lock:
        _entries.difference_update(safe_globals)


class safe_globals:
    """``with safe_globals([GPT, Block]): model = load(f)``: allow these only inside the block."""

    def __init__(self, safe_globals):
        self.safe_globals = list(safe_globals)

    def __enter__(self):
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        _remove_safe_globals(self.safe_globals)


def _check(entry):
    if isinstance(entry, tuple):
        if len(entry) != 2:
            raise ValueError(f"Expected tuple of length 2 (global, str of callable full path), but got tuple "
                             f"of length: {len(entry)}")
        if type(entry[1]) is not str:
            raise TypeError(f"Expected second item in tuple to be str of callable full path, but got: "
                            f"{type(entry[1])}")
    elif not hasattr(entry, "__module__") or not hasattr(entry, "__qualname__"):
        raise TypeError(f"add_safe_globals expects classes or functions (or (obj, 'full.name') pairs), got "
                        f"{entry!r}")


def full_name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def user_allowed(module, name):
    """The allow-listed object that the file's global ``module.name`` stands for, or None.

    The file's name may be PyTorch's (``torch.nn.modules.linear.Linear``) for a chainrule class: it is
    then looked up under chainrule's path among modules already imported (nothing is imported) and
    matched by identity, so an allow-list written for PyTorch serves chainrule.
    """
    with _lock:
        entries = list(_entries)
    wanted = f"{module}.{name}"
    by_name = {}
    for entry in entries:
        obj, label = entry if isinstance(entry, tuple) else (entry, full_name(entry))
        by_name[label] = obj
    if wanted in by_name:
        return by_name[wanted]
    translated = chainrule_module(module)
    if translated != module:
        if f"{translated}.{name}" in by_name:
            return by_name[f"{translated}.{name}"]
        found = lookup_loaded(translated, name)
        if found is not None and any(found is obj for obj in by_name.values()):
            return found
    return None


def is_user_allowed_object(obj):
    """Is ``obj`` itself on the allow-list (for NEWOBJ/BUILD on instances of allowed classes)?"""
    with _lock:
        return any((entry[0] if isinstance(entry, tuple) else entry) is obj for entry in _entries)

"""The one seam between chainrule's core and its array library.

Every core module (tensor, autograd engine, ops, creation, random) takes its array module from
here, under the name ``np``: ``from .._backend import xp as np``. NumPy today. Another library
with NumPy's interface (CuPy, for a GPU) plugs in by rebinding that name in those modules:
``swap_array_module(cupy)``, without rewriting the ops. ``chainrule.compile`` uses the same seam
to watch the arrays a step creates while it traces it.
"""
import sys

import numpy

xp = numpy


def swap_array_module(replacement, skip=()):
    """Make ``replacement`` the ``np`` of every chainrule module that uses the seam.

    Returns ``{module: previous}`` for ``restore_array_module``. Modules named in ``skip`` keep
    theirs (the tracer itself must keep using NumPy).
    """
    swapped = {}
    for name, module in list(sys.modules.items()):
        if module is None or name in skip or not (name == "chainrule" or name.startswith("chainrule.")):
            continue
        current = getattr(module, "np", None)
        if current is xp or getattr(current, "_is_array_module_stand_in", False):
            swapped[module] = current
            module.np = replacement
    return swapped


def restore_array_module(swapped):
    for module, previous in swapped.items():
        module.np = previous

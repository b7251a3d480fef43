"""``chainrule.compiler``: what chainrule's ops say to ``chainrule.compile`` while it traces a step.

``is_compiling()`` is True while a step is traced. ``cannot_capture(reason)`` is said by an operation whose
work a replay could not repeat (a collective that other processes take part in): the step is then not
captured and runs eagerly, in full. ``raise_if(flag, error, *arrays)`` is a check on values
(an index out of range, a probability outside [0, 1]) that a captured program repeats: in eager mode it
raises here; in a traced step it also becomes an instruction of the program, so that every replay checks
its own values at the same point and raises as eager mode would. (An ``if`` on the values would instead be
decided once, at the trace, and refuse the capture.)
"""


import sys


def _capture():
    # chainrule.compile names both the module and the function; the module is the one in sys.modules.
    return sys.modules.get("chainrule.compile")


def is_compiling():
    # A trace that was refused goes on as a plain eager step: not compiling any more.
    capture = _capture()
    return capture is not None and capture._tracer.refused is None


def cannot_capture(reason):
    """The step being traced, if any, does something a replayed program would not: refuse its capture."""
    capture = _capture()
    if capture is not None:
        capture._tracer.refuse(reason)


def raise_if(flag, error, *arrays):
    """Raise ``error(flag, *arrays)`` (an exception built from the plain arrays) if the boolean array ``flag``
    has a True element; while a step is traced, also on every replay of its program."""
    capture = _capture()
    if capture is not None and capture._tracer.refused is None and isinstance(flag, capture._Traced):
        capture._tracer.check(flag, error, arrays)
    elif flag.any():
        raise error(flag, *arrays)

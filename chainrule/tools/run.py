"""``chainrule run prog.py [args...]``: run an unmodified PyTorch program on chainrule.

The program runs as ``python prog.py args`` would run it — its folder first on ``sys.path``, ``__name__`` is
``"__main__"``, ``sys.argv`` is ``[prog.py, *args]``, its exit status is the command's, and a traceback
starts in the program's own file — except that ``import torch`` (and every ``torch.*`` path) gives
chainrule (``chainrule.install_as_torch``).

In one of several ranks (``chainrule run -n N``, or ``mpiexec -n N chainrule run prog.py``) a program that
raises or exits with a non-zero status ends the whole job, naming its rank (see ``chainrule.tools.launch``).
"""
import os
import re
import runpy
import sys
import traceback

from .._as_torch import install_as_torch
from .._pytorch_api import pytorch_has_attribute, torch_name
from ..distributed.process_group import end_job
from .launch import join_job

_RUNNER_FILES = {os.path.normcase(os.path.abspath(f)) for f in (__file__, runpy.__file__)} | {"<frozen runpy>"}
_CANNOT_IMPORT = re.compile(r"cannot import name '([^']+)' from '(chainrule[\w.]*)'")


def run_program(path, args=()):
    """Run the Python file ``path`` as ``__main__`` with ``torch`` bound to chainrule; return its exit status."""
    if not os.path.isfile(path):
        print(f"chainrule run: error: no such program: {path}", file=sys.stderr)
        return 2
    install_as_torch()
    in_job = join_job()
    sys.argv = [path, *args]
    # `python prog.py` puts the program's folder first on sys.path (where `chainrule`'s own folder is now).
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        if in_job and e.code not in (None, 0):
            if not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
            end_job(f"exited with status {e.code!r}", e.code if isinstance(e.code, int) else 1)
        return e.code
    except KeyboardInterrupt as e:
        _print_program_traceback(e)
        return 130
    except BaseException as e:   # noqa: B036 — the program's error, reported as Python would report it
        _explain_missing_name(e)
        _print_program_traceback(e)
        if in_job:
            end_job(f"failed with {type(e).__name__}: {e}")
        return 1
    finally:
        sys.stdout.flush()
    return 0


def _print_program_traceback(exc):
    """The traceback Python would print for the program: the runner's own frames left out."""
    tb = exc.__traceback__
    while tb is not None and _is_runner_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    sys.stdout.flush()
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)


def _is_runner_frame(filename):
    return filename in _RUNNER_FILES or os.path.normcase(os.path.abspath(filename)) in _RUNNER_FILES


def _explain_missing_name(exc):
    """``from torch.nn import X`` that chainrule lacks: say in PyTorch's names that it is not implemented yet."""
    if not isinstance(exc, ImportError) or isinstance(exc, ModuleNotFoundError):
        return
    match = _CANNOT_IMPORT.search(str(exc))
    if match:
        name, owner = match.group(1), torch_name(match.group(2))
        if pytorch_has_attribute(owner, name):
            exc.add_note(f"chainrule does not implement {owner}.{name} yet")

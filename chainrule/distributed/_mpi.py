"""The one place that imports mpi4py: chainrule.distributed's ranks are MPI processes.

Importing ``mpi4py.MPI`` starts MPI, so it happens only when a process group is made, never when
``chainrule`` (or ``torch.distributed`` under ``chainrule run``) is imported. MPI itself comes from the
``mpich`` wheel (``pip install 'chainrule[distributed]'``); any MPI that mpi4py was built against works.
"""
import importlib.util

INSTALL_HINT = "pip install 'chainrule[distributed]'  (mpi4py and the mpich MPI library)"


def mpi4py_installed():
    return importlib.util.find_spec("mpi4py") is not None


def load():
    """``mpi4py.MPI`` (MPI initialised), or a RuntimeError that says what to install."""
    try:
        import mpi4py
    except ImportError:
        raise RuntimeError(f"chainrule.distributed runs its ranks through MPI, and mpi4py is not installed: "
                           f"{INSTALL_HINT}") from None
    # Only the thread that makes the calls talks to MPI; a weaker level than mpi4py's default
    # (MPI_THREAD_MULTIPLE) spares MPICH its locks. Too late if the program imported mpi4py.MPI itself.
    mpi4py.rc.thread_level = "funneled"
    try:
        from mpi4py import MPI
    except ImportError as e:   # mpi4py is there but no MPI library it can load
        raise RuntimeError(f"chainrule.distributed: mpi4py could not load an MPI library ({e}): "
                           f"{INSTALL_HINT}") from None
    return MPI

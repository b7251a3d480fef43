"""The default process group: which rank this process is, and the MPI communicators the ranks talk over.

``init_process_group`` accepts what PyTorch programs pass (backend ``"gloo"`` or ``"mpi"``, ``env://`` or
``tcp://`` rendezvous, ``rank``/``world_size``) and serves it with MPI: the ranks are the processes an MPI
launcher started (``chainrule run -n N`` or ``mpiexec -n N``), so there is no rendezvous to do, only a check
that what the program expects (``WORLD_SIZE``, ``RANK``) is what MPI made.

Every wait on MPI is bounded by the group's timeout, and every collective first checks (through a small
all-gather on a communicator of its own) that all ranks are calling the same collective with the same
shapes: a mismatch is an error naming each rank's call, a rank that never comes a timeout error, never a hang.
"""
import datetime
import os
import sys
import time
import zlib

from .._backend import xp as np
from ..compiler import cannot_capture
from . import _mpi, launch_env

default_pg_timeout = datetime.timedelta(minutes=30)   # PyTorch's default for CPU backends


class DistError(RuntimeError):
    """PyTorch's base class of distributed errors."""


class DistBackendError(DistError):
    """A collective that failed or did not complete in time."""


class Backend(str):
    """``Backend("gloo")`` is ``"gloo"``; the names PyTorch has, all served here by MPI (except GPU ones)."""
    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    UCC = "ucc"
    MPI = "mpi"

    def __new__(cls, name):
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, but got {type(name).__name__}")
        return str.__new__(cls, name.lower())


class ProcessGroup:
    """The ranks of one MPI communicator. ``comm`` carries tensors, ``check_comm`` the agreement checks,
    ``p2p_comm`` send/recv: separate communicators, so one kind of traffic never matches another's."""

    def __init__(self, MPI, comm, backend, timeout_s):
        self.MPI = MPI
        self.comm = comm
        self.check_comm = comm.Dup()
        self.p2p_comm = comm.Dup()
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self.backend = backend
        self.timeout_s = timeout_s
        self._sequence = 0

    def rank(self):
        return self._rank

    def size(self):
        return self._size

    def name(self):
        return self.backend

    def __repr__(self):
        return f"<chainrule ProcessGroup over MPI: rank {self._rank} of {self._size}, backend {self.backend!r}>"

    def dup_comm(self):
        """A private communicator for one user of the group (a DistributedDataParallel's gradient buckets)."""
        return self.comm.Dup()

    # ----- waiting, bounded ------------------------------------------------------------------------------
    def wait(self, requests, what, timeout_s=None, status=None):
        """Wait until every MPI request in ``requests`` completes, or raise DistBackendError after the timeout.

        MPI's own blocking wait spins on a core; this polls, yielding the core between polls (ranks often
        share a machine with fewer cores than ranks) and backing off to millisecond sleeps on long waits.
        """
        if self._test(requests, what, status):
            return
        limit = self.timeout_s if timeout_s is None else timeout_s
        start = time.monotonic()
        polls = 0
        while True:
            polls += 1
            if polls < 1000:
                os.sched_yield()
            else:
                time.sleep(min(0.001, 1e-6 * (polls - 999)))
            if self._test(requests, what, status):
                return
            if polls % 64 == 0 and time.monotonic() - start > limit:
                raise DistBackendError(
                    f"rank {self._rank}: {what} did not complete within {limit:g} s (the process group's "
                    f"timeout): not every rank joined it. All ranks must call the same collectives in the same "
                    f"order; a rank that stopped early, skipped a call or called a different one leaves the "
                    f"others waiting. The job cannot go on after this error.")

    def _test(self, requests, what, status):
        MPI = self.MPI
        try:
            return requests[0].Test(status) if status is not None else MPI.Request.Testall(requests)
        except MPI.Exception as e:
            raise DistBackendError(f"rank {self._rank}: {what} failed in MPI: {e.Get_error_string()}") from None

    # ----- agreement ---------------------------------------------------------------------------------------
    def agree(self, what):
        """Check that every rank is calling the same collective ``what`` (a description with the shapes, dtype
        and root that must match); raise DistBackendError naming each rank's call if they differ."""
        cannot_capture(f"the step calls the collective {what}: a replayed program would not communicate")
        self._sequence += 1
        mine = np.array([zlib.crc32(what.encode())], dtype=np.int64)
        everyone = np.empty(self._size, dtype=np.int64)
        request = self.check_comm.Iallgather(mine, everyone)
        self.wait([request], f"{what} (collective #{self._sequence} of this group)")
        if (everyone == mine[0]).all():
            return
        calls = self.check_comm.allgather(what)
        listing = "; ".join(f"rank {r} called {call}" for r, call in enumerate(calls))
        raise DistBackendError(f"Detected mismatch between collectives on ranks (collective #{self._sequence}): "
                               f"{listing}. All ranks must call the same collectives, in the same order, with "
                               f"tensors of the same shape and dtype.")

    def free(self):
        for comm in (self.check_comm, self.p2p_comm, self.comm):
            comm.Free()


class group:
    """``dist.group.WORLD``: the default process group once ``init_process_group`` has made it (else None)."""
    WORLD = None


GroupMember = group

_world = None
_blas_limiter = None   # threadpoolctl's handle, kept so the limit stays in force


def is_available():
    """True when MPI can be used (mpi4py is installed); ``init_process_group`` explains what is missing."""
    return _mpi.mpi4py_installed()


def is_mpi_available():
    return is_available()


def is_gloo_available():
    """``backend="gloo"`` is accepted and served by MPI."""
    return is_available()


def is_nccl_available():
    return False


def is_initialized():
    return _world is not None


def is_torchelastic_launched():
    """True in a rank that ``chainrule run -n N`` started (as under torchrun)."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def default_group(group=None):
    """``group`` (None meaning the default one), or PyTorch's error when no group has been made."""
    if group is not None and group is not _world:
        if isinstance(group, ProcessGroup):
            return group
        raise ValueError(f"chainrule.distributed has one process group, the default one (group=None or "
                         f"dist.group.WORLD); got group={group!r}")
    if _world is None:
        raise ValueError("Default process group has not been initialized, please make sure to call "
                         "init_process_group.")
    return _world


def get_rank(group=None):
    return default_group(group).rank()


def get_world_size(group=None):
    return default_group(group).size()


def get_backend(group=None):
    return default_group(group).backend


def get_node_local_rank(fallback_rank=None):
    """This rank's index among the ranks on its machine (``LOCAL_RANK``)."""
    if "LOCAL_RANK" in os.environ:
        return int(os.environ["LOCAL_RANK"])
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("LOCAL_RANK is not in the environment. Consider passing fallback_rank to allow "
                       "`get_node_local_rank` to work, assuming you are not running in a multi-device context "
                       "and want the code to run locally instead.")


def _backend_name(backend):
    """The backend a program asked for, if MPI can serve it (every CPU backend); else a clear error."""
    if backend is None:
        return Backend.GLOO
    name = str(backend).lower()
    per_device = dict(part.split(":", 1) for part in name.split(",")) if ":" in name else None
    if per_device is not None:
        if "cpu" not in per_device:
            raise ValueError(f"init_process_group(backend={backend!r}): chainrule runs on the CPU, and this "
                             f"names no CPU backend; use backend='gloo' or 'mpi'")
        name = per_device["cpu"]
    if name in (Backend.GLOO, Backend.MPI):
        return Backend(name)
    if name == Backend.NCCL:
        raise RuntimeError(f"init_process_group(backend={backend!r}): NCCL needs CUDA GPUs, and chainrule runs on "
                           f"the CPU; use backend='gloo' or 'mpi' (both are served by MPI)")
    raise ValueError(f"init_process_group(backend={backend!r}): chainrule serves the CPU backends 'gloo' and "
                     f"'mpi' (both through MPI); {name!r} is not one of them")


def _check_init_method(init_method):
    if init_method is None:
        return
    scheme = str(init_method).split("://", 1)[0] if "://" in str(init_method) else None
    if scheme not in ("env", "tcp", "file"):
        raise ValueError(f"init_process_group(init_method={init_method!r}): expected env://, tcp://host:port or "
                         f"file://path (chainrule's ranks meet through their MPI launcher, so the address "
                         f"itself is not used)")


def _expected(argument, env_name):
    """What the program says the rank or world size should be: the argument, else torchrun's variable."""
    if argument is not None and int(argument) >= 0:
        return int(argument), f"{'rank' if env_name == 'RANK' else 'world_size'}={argument}"
    if env_name in os.environ:
        return int(os.environ[env_name]), f"{env_name}={os.environ[env_name]}"
    return None, None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Make the default process group: every rank that MPI started, in MPI's rank order.

    backend: ``"gloo"`` (PyTorch's CPU default), ``"mpi"``, or a per-device string naming one for the CPU.
    init_method: ``env://`` (the default), ``tcp://...`` or ``file://...``: accepted, not needed (MPI's
    launcher has already brought the ranks together). rank, world_size (or ``RANK``/``WORLD_SIZE`` in the
    environment): checked against MPI's. timeout: a ``datetime.timedelta`` bounding every wait on other
    ranks (default 30 minutes, as PyTorch's).
    """
    global _world, _blas_limiter
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    name = _backend_name(backend)
    _check_init_method(init_method)
    if store is not None:
        raise ValueError("init_process_group(store=...): chainrule's ranks meet through their MPI launcher, not "
                         "through a Store; leave store unset")
    timeout = default_pg_timeout if timeout is None else timeout
    if not isinstance(timeout, datetime.timedelta):
        raise TypeError(f"Expected timeout argument to be of type datetime.timedelta, got {type(timeout).__name__}")
    expected_size, size_source = _expected(world_size, "WORLD_SIZE")
    expected_rank, rank_source = _expected(rank, "RANK")
    if name == Backend.GLOO and init_method in (None, "env://") and expected_rank is None:
        raise ValueError("Error initializing torch.distributed using env:// rendezvous: environment variable RANK "
                         "expected, but not set. Start the ranks with `chainrule run -n N prog.py` (or mpiexec "
                         "-n N), which sets it, or use backend='mpi'.")

    MPI = _mpi.load()
    comm = MPI.COMM_WORLD.Dup()
    mpi_size, mpi_rank = comm.Get_size(), comm.Get_rank()
    if expected_size is not None and expected_size != mpi_size:
        comm.Free()
        raise ValueError(
            f"init_process_group: the program expects {expected_size} ranks ({size_source}) but MPI started "
            f"{mpi_size}. chainrule's ranks are MPI processes: start them with `chainrule run -n {expected_size} "
            f"prog.py` or `mpiexec -n {expected_size} python prog.py` (torch.multiprocessing.spawn is not "
            f"supported).")
    if expected_rank is not None and expected_rank != mpi_rank:
        comm.Free()
        raise ValueError(f"init_process_group: the program says this process is rank {expected_rank} "
                         f"({rank_source}) but MPI made it rank {mpi_rank}; let the launcher assign ranks.")

    pg = ProcessGroup(MPI, comm, name, timeout.total_seconds())
    pg.agree("init_process_group()")   # every rank has come (or a timeout error names the wait)
    _world = GroupMember.WORLD = pg
    if mpi_size > 1:
        _end_job_on_uncaught_errors()
        _blas_limiter = _one_blas_thread_if_crowded(comm, MPI)


def destroy_process_group(group=None):
    """Forget the default process group (MPI itself is finalised when the process exits)."""
    global _world
    if group is not None:
        default_group(group)
    if _world is not None:
        _world.free()
    _world = GroupMember.WORLD = None


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached this call (bounded by the group's timeout). With ``async_op=True``
    the returned Work is already complete."""
    pg = default_group(group)
    pg.agree("barrier()")
    if async_op:
        from .collectives import Work
        return Work(pg, [], None, "barrier()")


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    pg = default_group(group)
    seconds = pg.timeout_s if timeout is None else timeout.total_seconds()
    saved, pg.timeout_s = pg.timeout_s, seconds
    try:
        pg.agree("monitored_barrier()")
    finally:
        pg.timeout_s = saved


# ----- a failing rank ends the job ------------------------------------------------------------------------
def _running_mpi():
    """mpi4py's MPI module if this process has started MPI (and not finished it), else None."""
    MPI = sys.modules.get("mpi4py.MPI")
    if MPI is None or not MPI.Is_initialized() or MPI.Is_finalized():
        return None
    return MPI


def end_job(reason, exit_code=1):
    """End every rank of the job now (MPI_Abort), saying which rank ended it and why: the other ranks may be
    waiting for this one in a collective, and would otherwise wait until their timeout."""
    MPI = _running_mpi()
    if MPI is None or MPI.COMM_WORLD.Get_size() == 1:
        return
    sys.stdout.flush()
    sys.stderr.write(f"chainrule.distributed: rank {MPI.COMM_WORLD.Get_rank()} {reason}; ending the job\n")
    sys.stderr.flush()
    # mpiexec tears the job down as soon as it hears of the abort, and may drop what this rank wrote just
    # before that is still in its pipe: a moment lets the reason (and the traceback) reach the terminal.
    time.sleep(0.5)
    MPI.COMM_WORLD.Abort(exit_code or 1)


def _end_job_on_uncaught_errors():
    """``mpiexec -n N python train.py``: an uncaught error prints its traceback, names the rank and ends the
    whole job (``chainrule run`` does the same for its ranks, and also for errors before this point)."""
    previous = sys.excepthook
    if getattr(previous, "_ends_job", False):
        return

    def hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        if not issubclass(exc_type, KeyboardInterrupt):
            end_job(f"failed with {exc_type.__name__}: {exc}")

    hook._ends_job = True
    sys.excepthook = hook


def _one_blas_thread_if_crowded(comm, MPI):
    """Ranks sharing a machine each get one BLAS thread (several threads per rank oversubscribe the cores and
    halve the speed), unless the user chose a thread count. ``chainrule run -n N`` sets the variables before
    NumPy loads; here threadpoolctl does it for ranks that ``mpiexec`` started directly (and chainrule's own
    split passes stay on one thread too)."""
    if launch_env.blas_threads_chosen():
        return None
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    crowded = local.Get_size() > 1
    local.Free()
    if not crowded:
        return None
    import chainrule
    chainrule.set_num_threads(1)
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_limits(1, user_api="blas")

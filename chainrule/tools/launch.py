"""``chainrule run -n N prog.py args``: N ranks of a program, started through mpiexec.

As ``torchrun --nproc_per_node N prog.py args`` does, each rank gets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT`` and ``TORCHELASTIC_RUN_ID`` (``chainrule.distributed``
derives the per-rank ones from MPI's launcher variables), and ranks that share the machine get one BLAS thread
each unless the user set ``OMP_NUM_THREADS`` (or ``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS``): the variables are
set before NumPy loads in the ranks. Each rank runs ``chainrule run prog.py args`` (``import torch`` is
chainrule), starts MPI before the program, and ends the whole job (MPI_Abort) when the program raises or exits
with a non-zero status, so a failing rank never leaves the others waiting.
"""
import os
import shutil
import subprocess
import sys
import uuid

from ..distributed import _mpi, launch_env
from .optional import MissingDependency


def find_mpiexec():
    """The mpiexec of the MPI that mpi4py uses: the mpich wheel's, beside this Python, else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("mpiexec")
    if found is None:
        raise MissingDependency(f"chainrule run -n needs MPI's mpiexec, which was not found: {_mpi.INSTALL_HINT}")
    return found


def _is_open_mpi(mpiexec):
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "Open MPI" in out or "OpenRTE" in out


def rank_environment(nprocs, hostfile=None, environ=None):
    """The variables every rank starts with (the per-rank ones come from MPI in each rank)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("MASTER_ADDR", "127.0.0.1")
    env.setdefault("MASTER_PORT", "29500")
    env["TORCHELASTIC_RUN_ID"] = env.get("TORCHELASTIC_RUN_ID") or uuid.uuid4().hex
    # On one machine every rank shares its cores: one BLAS thread each (with a host file, each rank's
    # init_process_group decides from how many ranks share its own machine).
    if hostfile is None and nprocs > 1 and not launch_env.blas_threads_chosen(env):
        for name in launch_env.BLAS_THREAD_VARIABLES:
            env[name] = "1"
    return env


def mpiexec_command(nprocs, program, args=(), hostfile=None, mpiexec=None):
    mpiexec = mpiexec or find_mpiexec()
    command = [mpiexec, "-n", str(nprocs)]
    if hostfile is not None:
        command += ["--hostfile" if _is_open_mpi(mpiexec) else "-f", hostfile]
    return command + [sys.executable, "-m", "chainrule", "run", program, *args]


def launch(nprocs, program, args=(), hostfile=None):
    """Run ``program`` as ``nprocs`` MPI ranks; return the job's exit status (non-zero if any rank failed)."""
    if not os.path.isfile(program):
        print(f"chainrule run: error: no such program: {program}", file=sys.stderr)
        return 2
    if hostfile is not None and not os.path.isfile(hostfile):
        print(f"chainrule run: error: no such host file: {hostfile}", file=sys.stderr)
        return 2
    if not _mpi.mpi4py_installed():
        raise MissingDependency(f"chainrule run -n {nprocs} starts its ranks through MPI, and mpi4py is not "
                                f"installed: {_mpi.INSTALL_HINT}")
    command = mpiexec_command(nprocs, os.path.abspath(program), args, hostfile)
    sys.stdout.flush()
    try:
        return subprocess.run(command, env=rank_environment(nprocs, hostfile)).returncode
    except KeyboardInterrupt:   # mpiexec has passed the interrupt on to the ranks
        return 130


def join_job():
    """In a rank that an MPI launcher started with others: start MPI now, before the program runs, so that a
    failure anywhere in the program (even before ``init_process_group``) can end the whole job. Returns
    whether this process is such a rank."""
    ranks = launch_env.launcher_ranks()
    if ranks is None or ranks[1] < 2:
        return False
    _mpi.load()
    return True

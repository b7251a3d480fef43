"""What a rank learns from its launcher, in torchrun's environment variables.

PyTorch programs read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` (often before they
call ``init_process_group``: ``ddp = int(os.environ.get("RANK", -1)) != -1``). torchrun sets them; an MPI
launcher sets its own (``PMI_RANK`` under MPICH's mpiexec, ``OMPI_COMM_WORLD_RANK`` under Open MPI's). So that
``mpiexec -n 4 python train.py`` runs such a program as ``torchrun --nproc_per_node 4 train.py`` would,
importing ``chainrule.distributed`` in a process an MPI launcher started exports torchrun's names too
(never overriding ones that are already set).
"""
import os

# (rank, world size, local rank, local world size) as each MPI launcher names them.
_LAUNCHERS = (
    ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"),                      # MPICH (Hydra)
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"),                                                        # Open MPI
    ("PMIX_RANK", "PMIX_SIZE", "PMIX_LOCAL_RANK", "PMIX_LOCAL_SIZE"),                     # PMIx launchers
)

BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def launcher_ranks(environ=os.environ):
    """``(rank, world_size, local_rank, local_world_size)`` from an MPI launcher's variables, or None."""
    for rank, size, local_rank, local_size in _LAUNCHERS:
        if rank in environ and size in environ:
            r, n = int(environ[rank]), int(environ[size])
            # A launcher that does not say how many ranks share this machine: assume all of them.
            return r, n, int(environ.get(local_rank, r)), int(environ.get(local_size, n))
    return None


def export_torchrun_variables(environ=os.environ):
    """Under an MPI launcher, set torchrun's RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE where unset."""
    ranks = launcher_ranks(environ)
    if ranks is None:
        return False
    for name, value in zip(("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"), ranks):
        environ.setdefault(name, str(value))
    environ.setdefault("GROUP_RANK", str(ranks[0] // max(ranks[3], 1)))
    environ.setdefault("MASTER_ADDR", "127.0.0.1")
    environ.setdefault("MASTER_PORT", "29500")
    return True


def blas_threads_chosen(environ=os.environ):
    """Did the user choose a BLAS thread count (then it is theirs, not ours, to set)?"""
    return any(name in environ for name in BLAS_THREAD_VARIABLES)

"""``chainrule.distributed`` (``torch.distributed``): several processes train one model, over MPI.

The ranks are MPI processes, started by ``chainrule run -n N prog.py`` (as ``torchrun --nproc_per_node N``
would) or by ``mpiexec -n N python prog.py``; ``init_process_group`` makes them a group (``backend="gloo"``
or ``"mpi"``, both served by MPI), and the collectives below work on chainrule tensors in place, as
PyTorch's do. Importing this package does not start MPI (that happens in ``init_process_group``); it only
exports torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` when an MPI launcher started
this process, so programs that read them before ``init_process_group`` see what torchrun would have set.
``pip install 'chainrule[distributed]'`` installs MPI (mpi4py and the mpich library).
"""
from . import launch_env as _launch_env
from .collectives import (Work, all_gather, all_gather_into_tensor, all_gather_object, all_reduce, broadcast,
                          broadcast_object_list, gather, gather_object, irecv, isend, recv, reduce,
                          reduce_scatter_tensor, scatter, send)
from .process_group import (Backend, DistBackendError, DistError, GroupMember, ProcessGroup, barrier,
                            default_pg_timeout, destroy_process_group, get_backend, get_node_local_rank, get_rank,
                            get_world_size, group, init_process_group, is_available, is_gloo_available,
                            is_initialized, is_mpi_available, is_nccl_available, is_torchelastic_launched,
                            monitored_barrier)
from .reduce_op import ReduceOp

__all__ = ["Backend", "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ReduceOp", "Work",
           "all_gather", "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier", "broadcast",
           "broadcast_object_list", "default_pg_timeout", "destroy_process_group", "gather", "gather_object",
           "get_backend", "get_node_local_rank", "get_rank", "get_world_size", "group", "init_process_group",
           "irecv", "is_available", "is_gloo_available", "is_initialized", "is_mpi_available",
           "is_nccl_available", "is_torchelastic_launched", "isend", "monitored_barrier", "recv", "reduce",
           "reduce_scatter_tensor", "scatter", "send"]

_launch_env.export_torchrun_variables()

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

"""``DistributedDataParallel``: every rank trains a replica on its part of the batch; gradients are averaged.

At construction the ranks check that they hold the same model and take rank 0's parameters and buffers. Each
forward broadcasts rank 0's buffers (BatchNorm's running statistics), runs the module, and arms the
reduction. During backward, a hook on each parameter (``register_post_accumulate_grad_hook``) marks its
gradient ready; parameters are grouped in buckets (in reverse order, roughly the order backward produces their
gradients), and a bucket's all-reduce starts, without blocking, as soon as all its gradients are ready and the
buckets before it have started (every rank must start them in the same order), so communication overlaps
the rest of backward. When the last bucket has started, its hook waits for all of them and gives every
parameter the average of the ranks' gradients. The optimizer then steps on the same gradients on every rank,
so the replicas stay identical.

``no_sync()`` skips the reduction (gradients accumulate locally; the first synchronised backward after it
averages the sums). ``find_unused_parameters=True`` walks the graph after forward, so parameters the loss
does not reach count as ready (contributing zeros; one unused on every rank keeps its ``.grad``).
"""
import contextlib
import zlib

from ..._backend import xp as np
from ...autograd.engine import edge_of
from ...autograd.grad_mode import is_grad_enabled
from ...distributed.buffers import as_bytes, contiguous, reduction, store
from ...distributed.collectives import all_gather_object
from ...distributed.process_group import default_group
from ...distributed.reduce_op import RedOpType
from ...tensor import Tensor, _make
from ..modules.module import Module

_MiB = 1024 * 1024
_DEFAULT_FIRST_BUCKET_BYTES = 1 * _MiB   # small first bucket: the first gradients start their all-reduce early
_DEFAULT_BUCKET_MB = 25


class _Bucket:
    """Gradients of a few parameters (one dtype), all-reduced as one flat array."""

    def __init__(self, indices, params):
        self.indices = indices
        self.offsets = np.cumsum([0] + [params[i].numel() for i in indices]).tolist()
        self.dtype = params[indices[0]]._array.dtype
        self.pending = len(indices)
        self.buffer = self.finish = self.request = None


def _buckets(params, first_cap, cap):
    """Parameters in reverse order (about the order backward finishes their gradients), cut into buckets of
    one dtype and at most ``cap`` bytes (the first bucket ``first_cap``)."""
    closed, filling, filled = [], {}, {}
    for i in reversed(range(len(params))):
        a = params[i]._array
        limit = cap if closed else first_cap
        if filling.get(a.dtype) and filled[a.dtype] + a.nbytes > limit:
            closed.append(filling.pop(a.dtype))
        if a.dtype not in filling:
            filling[a.dtype], filled[a.dtype] = [], 0
        filling[a.dtype].append(i)
        filled[a.dtype] += a.nbytes
    closed.extend(filling.values())
    return [_Bucket(indices, params) for indices in closed]


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of the default process group (``torch.nn.parallel.DistributedDataParallel``).

    Args:
        module: the model; every rank builds the same one (rank 0's values are copied to the others).
        device_ids, output_device: for GPU modules only; must be None here (chainrule runs on the CPU).
        broadcast_buffers / forward_sync_buffers: broadcast rank 0's buffers at every forward (default True).
        init_sync: check the model is the same on every rank and copy rank 0's values at construction.
        process_group: the group (None: the default one).
        bucket_cap_mb: bucket size in MiB (default 25; the first bucket is 1 MiB unless this is given).
        find_unused_parameters: allow parameters that the loss does not reach in some iterations.
        gradient_as_bucket_view, static_graph, check_reduction: accepted; gradients here are always views of
            the bucket that was reduced.

    The wrapped model is ``.module``; ``state_dict()`` keys start with ``module.``, as PyTorch's do.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=None, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None,
                 skip_all_reduce_unused_params=False, bucket_cap_mb_list=None, batched_grad_copy=False,
                 forward_sync_buffers=None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if mixed_precision is not None or device_mesh is not None or delay_all_reduce_named_params is not None:
            raise ValueError("DistributedDataParallel: mixed_precision, device_mesh and delayed all-reduce are not "
                             "supported by chainrule")
        self._pg = default_group(process_group)
        self.module = module
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter that "
                               "requires a gradient.")
        if device_ids or output_device is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments only work with "
                             "single-device/multiple-device GPU modules or CPU modules, but got device_ids "
                             f"{device_ids}, output_device {output_device}, and module parameters "
                             "{device(type='cpu')}.")
        self.device_ids = self.output_device = None
        self.dim = dim
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        sync = forward_sync_buffers if forward_sync_buffers is not None else broadcast_buffers
        self.broadcast_buffers = True if sync is None else bool(sync)
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._comm = self._pg.dup_comm()   # this model's gradient traffic, apart from the program's collectives
        if init_sync:
            self._check_same_model_everywhere()
            buffers = list(module.buffers()) if broadcast_buffers is not False else []
            self._broadcast_from_rank0(self._params + buffers)
        first_cap = _DEFAULT_FIRST_BUCKET_BYTES if bucket_cap_mb is None else bucket_cap_mb * _MiB
        cap = (_DEFAULT_BUCKET_MB if bucket_cap_mb is None else bucket_cap_mb) * _MiB
        self._buckets = _buckets(self._params, first_cap, cap)
        self._bucket_of = {}
        for b, bucket in enumerate(self._buckets):
            for i in bucket.indices:
                self._bucket_of[i] = b
        self._reset_reduction(armed=False)
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._hook_for(i))
                              for i, p in enumerate(self._params)]

    # ----- construction ----------------------------------------------------------------------------------
    def _check_same_model_everywhere(self):
        """PyTorch checks that every rank's model has the same parameters; a mismatch names the first one."""
        mine = [f"{n}: {p.dtype} {list(p.shape)}" for n, p in zip(self._param_names, self._params)]
        everyone = [None] * self._pg.size()
        all_gather_object(everyone, zlib.crc32("\n".join(mine).encode()))
        if len(set(everyone)) == 1:
            return
        models = [None] * self._pg.size()
        all_gather_object(models, mine)
        for r, theirs in enumerate(models):
            if theirs != models[0]:
                if len(theirs) != len(models[0]):
                    raise RuntimeError(f"DDP expects same model across all ranks, but Rank 0 has {len(models[0])} "
                                       f"params, while rank {r} has inconsistent {len(theirs)} params.")
                k = next(k for k in range(len(theirs)) if theirs[k] != models[0][k])
                raise RuntimeError(f"DDP expects same model across all ranks, but parameter {k} differs: rank 0 "
                                   f"has {models[0][k]}, rank {r} has {theirs[k]}")

    def _broadcast_from_rank0(self, tensors):
        """Rank 0's values into every rank's ``tensors``, all broadcasts in flight at once."""
        if self._pg.size() == 1 or not tensors:
            return
        flats = [contiguous(t) for t in tensors]
        requests = [self._comm.Ibcast(as_bytes(f), root=0) for f in flats]
        self._pg.wait(requests, "DistributedDataParallel's broadcast of rank 0's parameters and buffers")
        if self._pg.rank() != 0:
            for t, f in zip(tensors, flats):
                store(t, f)

    # ----- forward ---------------------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        self._check_prior_reduction_finished()
        if self.require_forward_param_sync and self.broadcast_buffers:
            self._broadcast_from_rank0(list(self.module.buffers()))
        output = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync:
            self._reset_reduction(armed=True)
            if self.find_unused_parameters:
                self._unused = self._unreached_parameters(output)
        else:
            self._reset_reduction(armed=False)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward/backward passes accumulate gradients locally; the first synchronised pass after it
        averages the accumulated sums across ranks."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _unreached_parameters(self, output):
        """Indices of parameters whose gradient the forward's output does not depend on: a walk of the graph
        from the output's nodes, collecting the parameters' AccumulateGrad nodes it reaches."""
        stack = [edge_of(t) for t in _tensors_in(output) if t.requires_grad]
        seen = set()
        while stack:
            node = stack.pop()
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(edge[0] for edge in node.edges if edge is not None)
        return [i for i, p in enumerate(self._params) if id(edge_of(p)) not in seen]

    # ----- the reduction, driven by gradient hooks -------------------------------------------------------
    def _reset_reduction(self, armed):
        self._armed = armed               # this backward's gradients are to be averaged
        self._ready = [False] * len(self._params)
        self._unused = []
        self._marked_unused = False
        self._next_bucket = 0
        self._started = False             # some gradient was marked ready: the reduction must finish
        for bucket in self._buckets:
            bucket.pending = len(bucket.indices)
            bucket.buffer = bucket.finish = bucket.request = None
        self._used_flags = self._used_request = None

    def _hook_for(self, index):
        def on_gradient_ready(param):
            if self._armed:
                self._mark_ready(index)
        return on_gradient_ready

    def _mark_ready(self, index):
        if not self._marked_unused:
            self._marked_unused = True
            if self.find_unused_parameters:
                self._start_used_flags()   # on every rank, first: all ranks start the same collectives in order
                for i in self._unused:
                    self._mark_one(i)
        self._mark_one(index)

    def _mark_one(self, index):
        if self._ready[index]:
            raise RuntimeError(
                f"Expected to mark a variable ready only once. Parameter {self._param_names[index]!r} received its "
                f"gradient twice in one backward pass (a second backward through the same forward, or the "
                f"parameter's gradient reached through an unused path). Call DistributedDataParallel's forward "
                f"once per backward.")
        self._ready[index] = True
        self._started = True
        bucket = self._buckets[self._bucket_of[index]]
        bucket.pending -= 1
        if bucket.pending == 0:
            self._start_ready_buckets()
        elif self._next_bucket:
            # MPI moves a started all-reduce forward only inside MPI calls: give it a turn now.
            self._pg.MPI.Request.Testall([b.request for b in self._buckets[:self._next_bucket]])

    def _start_ready_buckets(self):
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            self._start(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish()

    def _start(self, bucket):
        flat = np.empty(bucket.offsets[-1], bucket.dtype)
        for k, i in enumerate(bucket.indices):
            grad = self._params[i].grad
            part = flat[bucket.offsets[k]:bucket.offsets[k + 1]]
            if grad is None:
                part.fill(0)
            else:
                part[...] = grad._array.reshape(-1)
        bucket.buffer, mpi_op, bucket.finish = reduction(self._pg, flat, RedOpType.AVG,
                                                                       "DistributedDataParallel")
        bucket.request = self._comm.Iallreduce(self._pg.MPI.IN_PLACE, bucket.buffer, mpi_op)

    def _start_used_flags(self):
        """find_unused_parameters: which parameters some rank used this iteration (one small all-reduce)."""
        flags = np.ones(len(self._params), np.int32)
        flags[self._unused] = 0
        self._used_flags = flags
        self._used_request = self._comm.Iallreduce(self._pg.MPI.IN_PLACE, flags, self._pg.MPI.MAX)

    def _finish(self):
        requests = [b.request for b in self._buckets]
        if self._used_request is not None:
            requests.append(self._used_request)
        self._pg.wait(requests, f"DistributedDataParallel's gradient all-reduce ({len(self._buckets)} buckets)")
        used_somewhere = self._used_flags
        for bucket in self._buckets:
            averaged = bucket.finish(bucket.buffer)
            for k, i in enumerate(bucket.indices):
                if used_somewhere is not None and not used_somewhere[i]:
                    continue   # no rank used it: it keeps its .grad (None stays None), as in PyTorch
                param = self._params[i]
                param.grad = _make(averaged[bucket.offsets[k]:bucket.offsets[k + 1]].reshape(param._array.shape))
        self._reset_reduction(armed=False)

    def _check_prior_reduction_finished(self):
        if self._armed and self._started:
            missing = [self._param_names[i] for i, ready in enumerate(self._ready) if not ready]
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new one. This error "
                "indicates that your module has parameters that were not used in producing loss. You can enable "
                "unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
                "`torch.nn.parallel.DistributedDataParallel`, and by making sure all `forward` function outputs "
                "participate in calculating loss. Parameters which did not receive grad for rank "
                f"{self._pg.rank()}: {', '.join(missing)}")


def _tensors_in(output):
    """The tensors in a forward's output (a tensor, or tuples, lists and dicts of them)."""
    stack, found = [output], []
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return found

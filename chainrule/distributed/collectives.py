"""The collectives, on chainrule tensors and in place, as PyTorch's are.

Each one: check the arguments here (so no rank starts a collective the others will refuse), agree with the
other ranks that all of them are making this call with the same shapes (``ProcessGroup.agree``), start the
MPI operation without blocking, and wait for it within the group's timeout (or hand back a ``Work`` when
``async_op=True``). Results are written into the tensors' own arrays, and their version counters are bumped,
as any in-place change is.
"""
import pickle

from .._backend import xp as np
from ..tensor import Tensor
from .buffers import as_bytes, contiguous, reduced, reduction, store
from .process_group import DistBackendError, default_group
from .reduce_op import ReduceOp, as_red_op

__all__ = ["Work", "all_reduce", "reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter_tensor", "gather", "scatter", "send", "recv", "isend", "irecv",
           "all_gather_object", "broadcast_object_list", "gather_object"]


class Work:
    """A started collective (``async_op=True``): ``wait()`` finishes it, ``is_completed()`` asks without waiting."""

    def __init__(self, pg, requests, on_done, what, status=None, keep=()):
        self._pg = pg
        self._requests = requests
        self._on_done = on_done
        self._what = what
        self._status = status
        self._keep = keep          # the arrays MPI reads or writes until it completes
        self._done = False
        self._result = None

    def is_completed(self):
        if not self._done and self._pg.MPI.Request.Testall(self._requests):
            self._finish()
        return self._done

    def wait(self, timeout=None):
        if not self._done:
            seconds = None if timeout is None else timeout.total_seconds()
            self._pg.wait(self._requests, self._what, seconds, self._status)
            self._finish()
        return True

    def _finish(self):
        self._done = True
        self._result = self._on_done() if self._on_done is not None else None
        self._keep = ()

    def result(self):
        return self._result


def _run(pg, requests, on_done, what, async_op, status=None, keep=()):
    work = Work(pg, requests, on_done, what, status, keep)
    if async_op:
        return work
    work.wait()
    return work.result()


# ----- tensors as MPI buffers -----------------------------------------------------------------------------
def _check_tensor(tensor, argument, op, writes=True):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: invalid function argument. Expected parameter `{argument}` of type torch.Tensor "
                        f"but got {type(tensor)} instead.")
    if writes and not tensor._array.flags.writeable:
        raise RuntimeError(f"{op}: `{argument}` is a read-only view (made by expand()?) and cannot receive the "
                           f"result in place; pass a tensor that owns its memory (clone() it)")


def _check_list(tensors, argument, op, like, count):
    """An output/input list of ``count`` tensors, each of ``like``'s shape and dtype."""
    if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError(f"{op}: invalid function argument. Expected parameter `{argument}` of type "
                        f"List[torch.Tensor] but got {type(tensors)} instead.")
    if len(tensors) != count:
        raise ValueError(f"{op}: `{argument}` holds {len(tensors)} tensors; it must hold one per rank ({count})")
    for i, t in enumerate(tensors):
        if t.shape != like.shape or t.dtype != like.dtype:
            raise ValueError(f"{op}: {argument}[{i}] is {_describe(t)}; every tensor in it must be "
                             f"{_describe(like)}, as the input is")
        _check_tensor(t, f"{argument}[{i}]", op)


def _check_whole_and_part(pg, op, whole, part, size_error, writes_whole):
    """The arguments of all_gather_into_tensor and reduce_scatter_tensor: ``whole`` (a tensor and its argument
    name) holds one ``part`` per rank, of the same dtype; the one the collective writes must be writable."""
    (whole, whole_name), (part, part_name) = whole, part
    _check_tensor(whole, whole_name, op, writes=writes_whole)
    _check_tensor(part, part_name, op, writes=not writes_whole)
    if whole.dtype != part.dtype:
        raise TypeError(f"{op}: {whole_name} is {whole.dtype} but {part_name} is {part.dtype}; they must have the "
                        f"same dtype")
    if whole.numel() != pg.size() * part.numel():
        raise ValueError(f"{op}: {size_error}: {whole_name} {list(whole.shape)}, {part_name} {list(part.shape)}, "
                         f"world_size {pg.size()}")


def _check_rank(pg, rank, argument, op, group_rank=None, default=None):
    """The rank named by ``rank`` (or PyTorch's ``group_*`` spelling of it; with one group they are the same),
    else ``default``; an error if none is given or it is not a rank of the group."""
    rank = rank if rank is not None else group_rank if group_rank is not None else default
    if rank is None:
        raise ValueError(f"{op}: `{argument}` (the root rank) must be given")
    if not 0 <= int(rank) < pg.size():
        raise ValueError(f"{op}: {argument}={rank} is not a rank of the group (ranks 0 to {pg.size() - 1})")
    return int(rank)


def _describe(tensor):
    return f"{str(tensor.dtype).replace('torch.', '')} {list(tensor.shape)}"


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Every rank's ``tensor`` becomes the reduction (``op``) of all ranks' ``tensor``."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "all_reduce")
    op = as_red_op(op)
    flat = contiguous(tensor)
    buffer, mpi_op, finish = reduction(pg, flat, op, "all_reduce")
    what = f"all_reduce({_describe(tensor)}, op={op.name})"
    pg.agree(what)
    request = pg.comm.Iallreduce(pg.MPI.IN_PLACE, buffer, mpi_op)
    return _run(pg, [request], lambda: store(tensor, reduced(finish, buffer)), what, async_op, keep=(buffer,))


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Rank ``dst``'s ``tensor`` becomes the reduction of all ranks' ``tensor``; the others' are unchanged."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "reduce")
    dst = _check_rank(pg, dst, "dst", "reduce", group_dst)
    op = as_red_op(op)
    flat = contiguous(tensor)
    buffer, mpi_op, finish = reduction(pg, flat, op, "reduce")
    what = f"reduce({_describe(tensor)}, dst={dst}, op={op.name})"
    pg.agree(what)
    if pg.rank() == dst:
        request = pg.comm.Ireduce(pg.MPI.IN_PLACE, buffer, mpi_op, root=dst)
        on_done = lambda: store(tensor, reduced(finish, buffer))  # noqa: E731
    else:
        request = pg.comm.Ireduce(buffer, None, mpi_op, root=dst)
        on_done = None
    return _run(pg, [request], on_done, what, async_op, keep=(buffer,))


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Every rank's ``tensor`` becomes rank ``src``'s."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "broadcast")
    src = _check_rank(pg, src, "src", "broadcast", group_src)
    flat = contiguous(tensor)
    what = f"broadcast({_describe(tensor)}, src={src})"
    pg.agree(what)
    request = pg.comm.Ibcast(as_bytes(flat), root=src)
    on_done = None if pg.rank() == src else (lambda: store(tensor, flat))
    return _run(pg, [request], on_done, what, async_op, keep=(flat,))


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """``tensor_list[i]`` becomes rank i's ``tensor``, on every rank."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "all_gather", writes=False)
    _check_list(tensor_list, "tensor_list", "all_gather", tensor, pg.size())
    flat = contiguous(tensor)
    gathered = np.empty((pg.size(), flat.size), flat.dtype)
    what = f"all_gather({_describe(tensor)})"
    pg.agree(what)
    request = pg.comm.Iallgather(as_bytes(flat), as_bytes(gathered))

    def on_done():
        for out, values in zip(tensor_list, gathered):
            store(out, values)
    return _run(pg, [request], on_done, what, async_op, keep=(flat, gathered))


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """``output_tensor`` becomes the ranks' ``input_tensor`` one after another (rank 0 first), on every rank:
    shaped ``(world_size * n, ...)`` to concatenate or ``(world_size, n, ...)`` to stack."""
    pg = default_group(group)
    _check_whole_and_part(pg, "all_gather_into_tensor", (output_tensor, "output_tensor"),
                          (input_tensor, "input_tensor"),
                          "output tensor size must be equal to world_size times input tensor size", writes_whole=True)
    flat = contiguous(input_tensor)
    out = contiguous(output_tensor)
    what = f"all_gather_into_tensor({_describe(input_tensor)})"
    pg.agree(what)
    request = pg.comm.Iallgather(as_bytes(flat), as_bytes(out))
    return _run(pg, [request], lambda: store(output_tensor, out), what, async_op, keep=(flat, out))


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce the ranks' ``input`` (``op``), split the result into ``world_size`` equal parts along its first
    elements, and give rank i part i in ``output``."""
    pg = default_group(group)
    _check_whole_and_part(pg, "reduce_scatter_tensor", (input, "input"), (output, "output"),
                          "input tensor must be the same size as output size times world size", writes_whole=False)
    op = as_red_op(op)
    send, mpi_op, finish = reduction(pg, contiguous(input), op, "reduce_scatter_tensor")   # MPI only reads it
    received = np.empty(output.numel(), send.dtype)
    what = f"reduce_scatter_tensor({_describe(input)}, op={op.name})"
    pg.agree(what)
    request = pg.comm.Ireduce_scatter_block(send, received, mpi_op)
    return _run(pg, [request], lambda: store(output, reduced(finish, received)), what, async_op,
                keep=(send, received))


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """Rank ``dst`` receives every rank's ``tensor`` in ``gather_list`` (given on ``dst`` only)."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "gather", writes=False)
    dst = _check_rank(pg, dst, "dst", "gather", group_dst, default=0)
    root = pg.rank() == dst
    if root:
        _check_list(gather_list, "gather_list", "gather", tensor, pg.size())
    elif gather_list:
        raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
    flat = contiguous(tensor)
    gathered = np.empty((pg.size(), flat.size), flat.dtype) if root else None
    what = f"gather({_describe(tensor)}, dst={dst})"
    pg.agree(what)
    request = pg.comm.Igather(as_bytes(flat), as_bytes(gathered) if root else None, root=dst)

    def on_done():
        if root:
            for out, values in zip(gather_list, gathered):
                store(out, values)
    return _run(pg, [request], on_done, what, async_op, keep=(flat, gathered))


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank i's ``tensor`` becomes ``scatter_list[i]`` of rank ``src`` (given on ``src`` only)."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "scatter")
    src = _check_rank(pg, src, "src", "scatter", group_src, default=0)
    root = pg.rank() == src
    if root:
        _check_list(scatter_list, "scatter_list", "scatter", tensor, pg.size())
        parts = np.stack([contiguous(t) for t in scatter_list]) if scatter_list else None
    elif scatter_list:
        raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    else:
        parts = None
    received = np.empty(tensor.numel(), tensor._array.dtype)
    what = f"scatter({_describe(tensor)}, src={src})"
    pg.agree(what)
    request = pg.comm.Iscatter(as_bytes(parts) if root else None, as_bytes(received), root=src)
    return _run(pg, [request], lambda: store(tensor, received), what, async_op, keep=(parts, received))


# ----- point to point ------------------------------------------------------------------------------------
def _peer(pg, rank, argument, op, group_rank=None):
    rank = _check_rank(pg, rank, argument, op, group_rank)
    if rank == pg.rank():
        raise ValueError(f"Invalid {'destination' if argument == 'dst' else 'source'} rank: should not be the same "
                         f"as rank of the current process.")
    return rank


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Start sending ``tensor`` to rank ``dst``; returns a Work."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "send", writes=False)
    dst = _peer(pg, dst, "dst", "send", group_dst)
    flat = np.array(contiguous(tensor))   # a snapshot: the caller may change the tensor before it is sent
    request = pg.p2p_comm.Isend(as_bytes(flat), dest=dst, tag=tag)
    return Work(pg, [request], None, f"send({_describe(tensor)}, dst={dst}, tag={tag})", keep=(flat,))


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Start receiving into ``tensor`` from rank ``src`` (any rank when None); ``wait()`` then
    ``result()`` is the sender's rank."""
    pg = default_group(group)
    _check_tensor(tensor, "tensor", "recv")
    MPI = pg.MPI
    any_source = src is None and group_src is None
    source = MPI.ANY_SOURCE if any_source else _peer(pg, src, "src", "recv", group_src)
    received = np.empty(tensor.numel(), tensor._array.dtype)
    status = MPI.Status()
    request = pg.p2p_comm.Irecv(as_bytes(received), source=source, tag=tag)

    def on_done():
        if status.Get_count(MPI.BYTE) != received.nbytes:
            raise DistBackendError(f"recv: rank {status.Get_source()} sent {status.Get_count(MPI.BYTE)} bytes but "
                                   f"{_describe(tensor)} holds {received.nbytes}")
        store(tensor, received)
        return status.Get_source()
    what = f"recv({_describe(tensor)}, src={'any' if any_source else source}, tag={tag})"
    return Work(pg, [request], on_done, what, status=status, keep=(received,))


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` (which calls ``recv``)."""
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns the sender's rank."""
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work.result()


# ----- Python objects (pickled, as PyTorch's are: use them only between ranks you trust) ----------------
def _gather_payloads(pg, payload, what, root=None):
    """Every rank's bytes, to every rank (root None) or to ``root`` only (a list there, None elsewhere)."""
    pg.agree(what)
    mine = np.frombuffer(payload, np.uint8)
    sizes = np.empty(pg.size(), np.int64)
    pg.wait([pg.comm.Iallgather(np.array([mine.size], np.int64), sizes)], what)
    if root is not None and pg.rank() != root:
        pg.wait([pg.comm.Igatherv(mine, None, root=root)], what)
        return None
    everything = np.empty(int(sizes.sum()), np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    spec = [everything, (sizes, offsets)]
    request = pg.comm.Iallgatherv(mine, spec) if root is None else pg.comm.Igatherv(mine, spec, root=root)
    pg.wait([request], what)
    return [everything[o:o + s].tobytes() for o, s in zip(offsets, sizes)]


def all_gather_object(object_list, obj, group=None):
    """``object_list[i]`` becomes rank i's ``obj`` (any picklable object), on every rank."""
    pg = default_group(group)
    if len(object_list) != pg.size():
        raise ValueError(f"all_gather_object: object_list holds {len(object_list)} entries; it must hold one per "
                         f"rank ({pg.size()})")
    for i, payload in enumerate(_gather_payloads(pg, pickle.dumps(obj), "all_gather_object()")):
        object_list[i] = pickle.loads(payload)


def gather_object(obj, object_gather_list=None, dst=None, group=None, group_dst=None):
    """Rank ``dst`` receives every rank's ``obj`` in ``object_gather_list``."""
    pg = default_group(group)
    dst = _check_rank(pg, dst, "dst", "gather_object", group_dst, default=0)
    if pg.rank() == dst and (object_gather_list is None or len(object_gather_list) != pg.size()):
        raise ValueError(f"gather_object: on the destination rank, object_gather_list must hold one entry per "
                         f"rank ({pg.size()})")
    payloads = _gather_payloads(pg, pickle.dumps(obj), f"gather_object(dst={dst})", root=dst)
    if payloads is not None:
        for i, payload in enumerate(payloads):
            object_gather_list[i] = pickle.loads(payload)


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Every rank's ``object_list`` (of the same length everywhere) becomes rank ``src``'s, element by element."""
    pg = default_group(group)
    src = _check_rank(pg, src, "src", "broadcast_object_list", group_src, default=0)
    what = f"broadcast_object_list({len(object_list)} objects, src={src})"
    pg.agree(what)
    payload = np.frombuffer(pickle.dumps(list(object_list)), np.uint8) if pg.rank() == src else None
    size = np.array([payload.size if payload is not None else 0], np.int64)
    pg.wait([pg.comm.Ibcast(size, root=src)], what)
    data = payload.copy() if payload is not None else np.empty(int(size[0]), np.uint8)
    pg.wait([pg.comm.Ibcast(data, root=src)], what)
    if pg.rank() != src:
        object_list[:] = pickle.loads(data.tobytes())

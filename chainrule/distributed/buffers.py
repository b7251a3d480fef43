"""Tensors as MPI buffers: their memory as flat arrays, results written back in place, and how each dtype
is reduced (which MPI op; 16-bit floats in float32; NaN-keeping MIN and MAX). Shared by the collectives and by
DistributedDataParallel's gradient buckets."""
from .._backend import xp as np
from .reduce_op import RedOpType


def contiguous(tensor):
    """The tensor's values as a 1-D C-contiguous array: its own memory when it can be, else a copy."""
    a = tensor._array
    if a.flags.c_contiguous:
        return a.reshape(-1)
    return np.ascontiguousarray(a).reshape(-1)


def store(tensor, flat):
    """Write ``flat`` (the result) into ``tensor`` in place, unless it already is the tensor's memory."""
    a = tensor._array
    if not np.shares_memory(a, flat):
        np.copyto(a, flat.reshape(a.shape))
    tensor._bump()


def as_bytes(flat):
    """A flat array's memory as bytes: what collectives that only move data (broadcast, gather) send."""
    return flat.view(np.uint8)


def _is_float(dtype):
    return dtype.kind == "f" or dtype.name == "bfloat16"


_NAN_PROPAGATING = {}   # MPI op per numpy function, made on first use


def _nan_propagating_op(MPI, function):
    """MPI's MIN/MAX may drop a NaN; NumPy's (and PyTorch's torch.minimum) keep it. This op is NumPy's."""
    op = _NAN_PROPAGATING.get(function)
    if op is None:
        from mpi4py.util.dtlib import to_numpy_dtype

        def combine(inbuf, inoutbuf, datatype):
            dtype = to_numpy_dtype(datatype)
            out = np.frombuffer(inoutbuf, dtype)
            function(np.frombuffer(inbuf, dtype), out, out=out)

        op = _NAN_PROPAGATING[function] = MPI.Op.Create(combine, commute=True)
    return op


def reduction(pg, flat, op, name):
    """``(buffer, mpi_op, finish)``: the array MPI reduces (``flat`` itself, or a float32 copy for 16-bit floats)
    with which MPI op, and ``finish(buffer)`` -> the result in ``flat``'s dtype. Raises for an op the dtype has
    no meaning for, before any rank starts the collective."""
    MPI, dtype = pg.MPI, flat.dtype
    if op == RedOpType.PREMUL_SUM:
        raise ValueError(f"{name}: ReduceOp.PREMUL_SUM is only supported by NCCL; chainrule does not have it")
    if dtype.kind == "b":
        if op == RedOpType.AVG:
            raise TypeError(f"{name}: ReduceOp.AVG needs a floating point tensor, got bool")
        mpi_op = {RedOpType.SUM: MPI.LOR, RedOpType.MAX: MPI.LOR, RedOpType.BOR: MPI.LOR,
                  RedOpType.PRODUCT: MPI.LAND, RedOpType.MIN: MPI.LAND, RedOpType.BAND: MPI.LAND,
                  RedOpType.BXOR: MPI.LXOR}[op]
        return flat, mpi_op, None
    if dtype.kind in "iu":
        if op == RedOpType.AVG:
            raise TypeError(f"{name}: ReduceOp.AVG needs a floating point tensor, got {dtype.name}")
        mpi_op = {RedOpType.SUM: MPI.SUM, RedOpType.PRODUCT: MPI.PROD, RedOpType.MIN: MPI.MIN,
                  RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND, RedOpType.BOR: MPI.BOR,
                  RedOpType.BXOR: MPI.BXOR}[op]
        return flat, mpi_op, None
    if not _is_float(dtype):
        raise TypeError(f"{name}: cannot reduce tensors of dtype {dtype.name}")
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR):
        raise TypeError(f"{name}: ReduceOp.{op.name} is a bitwise reduction and needs an integer or bool tensor, "
                        f"got {dtype.name}")
    # 16-bit floats have no MPI type: reduce in float32 and round once at the end.
    buffer = flat if dtype.itemsize >= 4 and dtype.kind == "f" else flat.astype(np.float32)
    mpi_op = {RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
              RedOpType.MIN: _nan_propagating_op(MPI, np.minimum),
              RedOpType.MAX: _nan_propagating_op(MPI, np.maximum)}[op]
    size = pg.size()

    def finish(result):
        if op == RedOpType.AVG:
            result /= size
        return result if result.dtype == dtype else result.astype(dtype)
    return buffer, mpi_op, finish


def reduced(finish, buffer):
    """The reduction's result in the tensor's dtype (``finish`` from ``reduction``, None when nothing is left)."""
    return buffer if finish is None else finish(buffer)

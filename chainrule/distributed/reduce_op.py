"""``ReduceOp``: how ``all_reduce``, ``reduce`` and ``reduce_scatter_tensor`` combine the ranks' values."""
import enum


class RedOpType(enum.IntEnum):
    """PyTorch's ``ReduceOp.RedOpType`` (the same names and numbers)."""
    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8


class ReduceOp:
    """``dist.ReduceOp.SUM``, ``AVG``, ``PRODUCT``, ``MIN``, ``MAX`` and the bitwise ``BAND``, ``BOR``, ``BXOR``."""
    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


def as_red_op(op):
    """``op`` as a RedOpType, or PyTorch's error for something that is not a reduction."""
    if isinstance(op, RedOpType):
        return op
    if isinstance(op, str) and op.upper() in RedOpType.__members__:
        return RedOpType[op.upper()]
    raise TypeError(f"op must be a torch.distributed.ReduceOp (ReduceOp.SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR "
                    f"or BXOR), got {op!r}")

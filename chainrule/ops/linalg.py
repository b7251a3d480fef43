"""Matrix products: ``matmul`` in all of PyTorch's cases (1-D, 2-D, batched, broadcast batch dims)."""
import math

from .._backend import xp as np

from ..autograd import grad_mode
from ._autocast import autocast_runs_as_is, autocast_to_lower_precision
from ._common import _HALF_FLOATS, _make, half_in_float32, record, requires, to_tensor


def _check(a, b, op):
    A, B = a._array, b._array
    if A.ndim == 0 or B.ndim == 0:
        raise RuntimeError(f"both arguments to {op} need to be at least 1D, but they are "
                           f"{A.ndim}D and {B.ndim}D")
    if A.dtype != B.dtype:
        raise RuntimeError(f"{op}: expected both operands to have the same dtype, but got "
                           f"{a.dtype} and {b.dtype} (shapes {list(A.shape)} and {list(B.shape)}); "
                           f"convert one with .to(...)")
    if A.shape[-1] != B.shape[-2 if B.ndim > 1 else -1]:
        sa = "x".join(map(str, A.shape if A.ndim <= 2 else A.shape))
        sb = "x".join(map(str, B.shape))
        raise RuntimeError(f"{op}: shapes cannot be multiplied ({sa} and {sb}): the last dimension of "
                           f"the first ({A.shape[-1]}) must equal the "
                           f"{'first' if B.ndim == 1 else 'second-to-last'} dimension of the second "
                           f"({B.shape[-2 if B.ndim > 1 else -1]})")
    if A.dtype == bool:   # PyTorch has no bool matrix product (NumPy's is logical)
        kernel = ("dot" if A.ndim == 1 and B.ndim == 1 else "addmv_impl_cpu" if B.ndim == 1 or A.ndim == 1
                  else "addmm_impl_cpu_" if A.ndim == 2 and B.ndim == 2 else "bmm")
        raise NotImplementedError(f'"{kernel}" not implemented for \'Bool\' ({op} of shapes '
                                  f"{list(A.shape)} and {list(B.shape)}; convert with .float() or .long())")


def _matmul_nd(a, b):
    """The primitive: both operands at least 2-D; batch dims broadcast (the engine sums them back).

    Backward: dA = g @ Bᵀ, dB = Aᵀ @ g, each one op (``matmul_nt``/``matmul_tn``), not a transpose
    op followed by a product.
    """
    A, B = a._array, b._array
    if B.ndim == 2 and A.ndim > 2:
        return _matmul_folded(a, b)
    try:
        out = np.matmul(A, B)
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions of shapes {list(A.shape)} and {list(B.shape)} "
                           f"cannot be broadcast") from None
    ra, rb = requires(a), requires(b)
    return record(out, "MmBackward0" if A.ndim == 2 and B.ndim == 2 else "BmmBackward0", (a, b),
                  lambda g: (matmul_nt(g, b) if ra else None, matmul_tn(a, g) if rb else None),
                  saved=(b, a) if ra and rb else (b,) if ra else (a,))


def _matmul_folded(a, b):
    """(..., n, k) @ (k, m) as one 2-D GEMM over the flattened leading dims (NumPy's stacked matmul
    would make one small product per leading index). Backward: dA = g @ Bᵀ, dB = A₂ᵀ @ g₂ (the
    flattened operands), on the arrays; under create_graph in Tensor ops."""
    A, B = a._array, b._array
    rows = math.prod(A.shape[:-1])   # (not -1: a dim may be 0)
    A2 = A.reshape(rows, A.shape[-1])
    out = (A2 @ B).reshape(A.shape[:-1] + (B.shape[1],))
    ra, rb = requires(a), requires(b)

    def backward(g):
        if grad_mode.enabled:   # create_graph: differentiable ops
            return (matmul_nt(g, b) if ra else None,
                    matmul_tn(a.reshape(rows, A.shape[-1]), g.reshape(rows, B.shape[1])) if rb else None)
        G2 = g._array.reshape(rows, B.shape[1])
        return (_make((G2 @ B.T).reshape(A.shape)) if ra else None, _make(A2.T @ G2) if rb else None)
    return record(out, "UnsafeViewBackward0", (a, b), backward,
                  saved=(b, a) if ra and rb else (b,) if ra else (a,))


def matmul_nt(x, y):
    """x @ yᵀ (last two dims of y swapped) as one op; its own backward is in plain matmuls."""
    return record(np.matmul(x._array, y._array.swapaxes(-1, -2)), "MmBackward0", (x, y),
                  lambda g: (g @ y if requires(x) else None, g.mT @ x if requires(y) else None), saved=(x, y))


def matmul_tn(x, y):
    """xᵀ @ y (last two dims of x swapped) as one op; its own backward is in plain matmuls."""
    return record(np.matmul(x._array.swapaxes(-1, -2), y._array), "MmBackward0", (x, y),
                  lambda g: (y @ g.mT if requires(x) else None, x @ g if requires(y) else None), saved=(x, y))


@autocast_to_lower_precision
def matmul(a, b):
    a, b = to_tensor(a), to_tensor(b)
    _check(a, b, "matmul")
    if a._array.ndim >= 2 and b._array.ndim >= 2:
        return _matmul_nd(a, b)
    if a._array.ndim == 1 and b._array.ndim == 1:
        return dot(a, b)
    if a._array.ndim == 1:   # (k) @ (..., k, m): a row vector, then drop that row dim
        return _matmul_nd(a.unsqueeze(0), b).squeeze(-2)
    return _matmul_nd(a, b.unsqueeze(-1)).squeeze(-1)   # (..., n, k) @ (k)


@half_in_float32
def dot(a, b):
    a, b = to_tensor(a), to_tensor(b)
    if a._array.ndim != 1 or b._array.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a._array.shape != b._array.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    _check(a, b, "dot")
    ra, rb = requires(a), requires(b)
    return record(np.dot(a._array, b._array), "DotBackward0", (a, b),
                  lambda g: (g * b if ra else None, g * a if rb else None), saved=(a, b))


@autocast_to_lower_precision
def mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: both arguments must be matrices (2-D), got {a.ndim}-D and {b.ndim}-D")
    _check(a, b, "mm")
    return _matmul_nd(a, b)


@autocast_to_lower_precision
def bmm(a, b):
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: both arguments must be batches of matrices (3-D), got {a.ndim}-D and {b.ndim}-D")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: shapes {list(a.shape)} and {list(b.shape)}")
    _check(a, b, "bmm")
    return _matmul_nd(a, b)


@autocast_runs_as_is
def mv(a, v):
    return matmul(a, v)


@half_in_float32
def outer(a, b):
    return a.reshape(-1, 1) * b.reshape(1, -1)


def rmatmul(a, b):
    return matmul(b, a)


@autocast_to_lower_precision
def einsum(equation, *operands):
    """A general contraction, built from permute, reshape, broadcasting multiply and sum."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    operands = [to_tensor(o) for o in operands]
    half = next((o.dtype for o in operands if o._array.dtype in _HALF_FLOATS), None)
    if half is not None:   # products and sums in float32, rounded once (see half_in_float32)
        return einsum(equation, [o.float() if o.dtype == half else o for o in operands]).to(half)
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if "..." in equation:
        raise NotImplementedError("einsum with '...' is not supported yet; write the contraction with matmul")
    if not _:
        letters = sorted(set("".join(terms)))
        rhs = "".join(c for c in letters if "".join(terms).count(c) == 1)
    letters = sorted(set("".join(terms)))
    sizes = {}
    expanded = []
    for term, op in zip(terms, operands):
        if len(term) != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(term)}) does not "
                               f"match the number of dimensions ({op.ndim}) for operand")
        # A letter repeated within one term ("ii->i") takes that operand's diagonal (moved last).
        while len(set(term)) != len(term):
            c = next(c for c in term if term.count(c) > 1)
            i = term.index(c)
            j = term.index(c, i + 1)
            if op.shape[i] != op.shape[j]:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand but the sizes don't "
                                   f"match, {op.shape[i]} != {op.shape[j]}")
            op = op.diagonal(0, i, j)
            term = term[:i] + term[i + 1:j] + term[j + 1:] + c
        for c, s in zip(term, op.shape):
            sizes.setdefault(c, s)
        order = [term.index(c) for c in letters if c in term]
        t = op.permute(order) if order != list(range(op.ndim)) else op
        shape = [sizes[c] if c in term else 1 for c in letters]
        expanded.append(t.reshape(shape))
    prod = expanded[0]
    for e in expanded[1:]:
        prod = prod * e
    summed = tuple(i for i, c in enumerate(letters) if c not in rhs)
    out = prod.sum(summed) if summed else prod
    kept = [c for c in letters if c in rhs]
    return out.permute([kept.index(c) for c in rhs]) if kept != list(rhs) else out


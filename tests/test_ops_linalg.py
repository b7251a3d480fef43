"""matmul in every case PyTorch defines, mm, bmm, dot, mv, outer, einsum: values and gradients."""
import pytest

import chainrule
from oracle import check

MATMUL_SHAPES = [
    ((4,), (4,)),              # 1-D . 1-D: a scalar
    ((4,), (4, 3)),            # 1-D . 2-D: a prepended 1, removed again
    ((3, 4), (4,)),            # 2-D . 1-D: matrix-vector
    ((3, 4), (4, 2)),          # 2-D
    ((5, 3, 4), (5, 4, 2)),    # batched
    ((5, 3, 4), (4, 2)),       # batched . matrix (the matrix is broadcast)
    ((3, 4), (5, 4, 2)),
    ((2, 1, 3, 4), (5, 4, 2)), # broadcast batch dims
    ((4,), (2, 4, 3)),         # 1-D . batched
    ((2, 3, 4), (4,)),         # batched . 1-D
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes):
    check(lambda lib, a, b: a @ b, list(shapes))
    check(lambda lib, a, b: lib.matmul(a, b), list(shapes))


def test_mm_bmm_dot_mv_outer():
    check(lambda lib, a, b: lib.mm(a, b), [(3, 4), (4, 5)])
    check(lambda lib, a, b: a.mm(b), [(1, 4), (4, 1)])
    check(lambda lib, a, b: lib.bmm(a, b), [(2, 3, 4), (2, 4, 5)])
    check(lambda lib, a, b: lib.dot(a, b), [(4,), (4,)])
    check(lambda lib, a, b: lib.mv(a, b), [(3, 4), (4,)])
    check(lambda lib, a, b: lib.outer(a, b), [(3,), (4,)])


def test_einsum():
    check(lambda lib, a, b: lib.einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)])
    check(lambda lib, a, b: lib.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 2)])
    check(lambda lib, a: lib.einsum("ij->ji", a), [(3, 4)])
    check(lambda lib, a, b: lib.einsum("i,j->ij", a, b), [(3,), (4,)])


def test_matmul_shape_error_names_both_shapes():
    a, b = chainrule.randn(3, 4), chainrule.randn(5, 2)
    with pytest.raises(RuntimeError, match=r"3x4.*5x2"):
        a @ b
    with pytest.raises(RuntimeError, match=r"\[2, 3, 4\].*\[5, 4, 2\]"):
        chainrule.randn(2, 3, 4) @ chainrule.randn(5, 4, 2)

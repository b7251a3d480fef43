"""Ops composed from primitives (tile, repeat_interleave, meshgrid, addmm, fmod, nansum, diff,
index_add, index_fill, the in-place scatter/index forms, cosine_similarity) against PyTorch."""
import numpy as np
import pytest

from oracle import check, nograd

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dims", [(2,), (2, 1), (1, 3), (2, 2, 1)])
def test_tile(dims):
    check(lambda lib, x: x.tile(dims), [(2, 3)])


@pytest.mark.parametrize("dim", [None, 0, 1])
def test_repeat_interleave_int(dim):
    check(lambda lib, x: lib.repeat_interleave(x, 2, dim=dim), [(2, 3)])


def test_repeat_interleave_counts_tensor():
    check(lambda lib, x, r: x.repeat_interleave(r, dim=0), [(3, 2), nograd([1, 0, 2])])


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    check(lambda lib, a, b, c: lib.meshgrid(a, b, c, indexing=indexing), [(2,), (3,), (4,)])


def test_addmm_and_baddbmm():
    check(lambda lib, i, a, b: lib.addmm(i, a, b, beta=0.5, alpha=2.0), [(3, 4), (3, 2), (2, 4)])
    check(lambda lib, i, a, b: lib.baddbmm(i, a, b, beta=2.0, alpha=0.5), [(2, 3, 4), (2, 3, 5), (2, 5, 4)])


def test_fmod_and_nansum_and_diff():
    a = np.array([[5.3, -5.3, 2.2], [-7.1, 0.4, 9.9]])
    check(lambda lib, x, y: lib.fmod(x, y), [a, np.array([2.0, 1.5, -3.0])])
    check(lambda lib, x: lib.fmod(x, 1.7), [a])
    with_nan = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, 4.0]])
    check(lambda lib, x: lib.nansum(x, dim=1), [with_nan])
    check(lambda lib, x: lib.nansum(x), [with_nan])
    check(lambda lib, x: lib.diff(x), [(3, 5)])
    check(lambda lib, x: lib.diff(x, n=2, dim=0), [(5, 3)])


def test_index_add_and_index_fill():
    check(lambda lib, x, s, i: x.index_add(0, i, s, alpha=2.0), [(4, 3), (3, 3), nograd([0, 2, 0])])
    check(lambda lib, x, i: x.index_fill(1, i, -1.0), [(3, 4), nograd([1, 3])])


def test_inplace_scatter_and_index_forms():
    def fn(lib, x, s, idx, rows):
        y = x * 1.0
        y.scatter_(1, idx, s)
        z = x * 2.0
        z.scatter_add_(1, idx, s)
        w = x * 3.0
        w.index_add_(0, rows, s[:2])
        v = x * 4.0
        v.index_fill_(1, rows, 0.5)
        return y, z, w, v
    check(fn, [(3, 4), (3, 4), nograd([[0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 1, 1]]), nograd([2, 0])])


def test_one_hot_with_scatter_of_a_number():
    def fn(lib, labels):
        onehot = lib.zeros(4, 5)
        onehot.scatter_(1, labels.unsqueeze(1), 1.0)
        return onehot
    check(fn, [nograd([0, 3, 4, 1])], grad=False)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cosine_similarity_and_pairwise_distance(dim):
    check(lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b, dim=dim), [(3, 4), (3, 4)])
    check(lambda lib, a, b: lib.cosine_similarity(a, b), [(3, 4), (1, 4)])
    check(lambda lib, a, b: lib.nn.functional.pairwise_distance(a, b), [(3, 4), (3, 4)])

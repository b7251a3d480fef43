"""Offline datasets: shapes, dtypes, determinism, and agreement with scikit-learn's versions."""

import sys

import numpy as np
import pytest

import chainrule
from chainrule import datasets


def _np(t):
    return t.detach().numpy()


def test_xor():
    X, y = datasets.xor()
    assert X.dtype == chainrule.float32 and tuple(X.shape) == (4, 2)
    assert y.dtype == chainrule.float32 and tuple(y.shape) == (4, 1)
    np.testing.assert_array_equal(_np(y)[:, 0], np.logical_xor(_np(X)[:, 0], _np(X)[:, 1]))


@pytest.mark.parametrize("make", [datasets.moons, datasets.spirals, datasets.circles, datasets.blobs])
def test_generated_sets_are_deterministic_per_seed(make):
    X1, y1 = make(n_samples=101, seed=3)
    X2, y2 = make(n_samples=101, seed=3)
    X3, _ = make(n_samples=101, seed=4)
    assert X1.dtype == chainrule.float32 and y1.dtype == chainrule.int64
    assert tuple(X1.shape) == (101, 2) and tuple(y1.shape) == (101,)
    np.testing.assert_array_equal(_np(X1), _np(X2))
    np.testing.assert_array_equal(_np(y1), _np(y2))
    assert not np.array_equal(_np(X1), _np(X3))


def test_moons_without_noise_are_sklearns_moons():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = datasets.moons(n_samples=51, noise=0.0, seed=0)
    X_sk, y_sk = sk.make_moons(n_samples=51, noise=0.0, shuffle=False)
    # Same points with the same labels, in a different (shuffled) order.
    ours = sorted(zip(map(tuple, np.round(_np(X), 5)), _np(y)))
    theirs = sorted(zip(map(tuple, np.round(X_sk.astype(np.float32), 5)), y_sk))
    assert ours == theirs


def test_circles_without_noise_are_sklearns_circles():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = datasets.circles(n_samples=60, noise=0.0, factor=0.4, seed=0)
    X_sk, y_sk = sk.make_circles(n_samples=60, noise=0.0, factor=0.4, shuffle=False)
    ours = sorted(zip(map(tuple, np.round(_np(X), 5)), _np(y)))
    theirs = sorted(zip(map(tuple, np.round(X_sk.astype(np.float32), 5) + 0.0), y_sk))
    assert ours == theirs
    with pytest.raises(ValueError, match="factor must be between 0 and 1"):
        datasets.circles(factor=1.5)


def test_blobs_are_gaussians_around_their_centers():
    X, y = datasets.blobs(n_samples=4000, centers=[(-2.0, 0.0), (3.0, 1.0)], std=0.5, seed=1)
    X, y = _np(X), _np(y)
    assert np.bincount(y).tolist() == [2000, 2000]
    for k, center in enumerate([(-2.0, 0.0), (3.0, 1.0)]):
        np.testing.assert_allclose(X[y == k].mean(axis=0), center, atol=0.05)
        np.testing.assert_allclose(X[y == k].std(axis=0), [0.5, 0.5], atol=0.03)
    with pytest.raises(ValueError, match="std must be 0 or more"):
        datasets.blobs(std=-1)


def test_spirals_classes_and_radius():
    X, y = datasets.spirals(n_samples=100, n_classes=3, noise=0.0)
    assert np.bincount(_np(y)).tolist() == [34, 33, 33]
    radius = np.linalg.norm(_np(X), axis=1)
    assert radius.max() <= 1.0 + 1e-6 and radius.min() == 0.0
    with pytest.raises(ValueError, match="n_classes"):
        datasets.spirals(n_classes=0)


def test_digits_split_scaled_and_matching_sklearn():
    sk = pytest.importorskip("sklearn.datasets")
    split = datasets.digits(test_fraction=0.2, seed=0)
    X_train, y_train, X_test, y_test = split
    assert split.X_train is X_train
    assert tuple(X_train.shape) == (1438, 64) and tuple(X_test.shape) == (359, 64)
    assert X_train.dtype == chainrule.float32 and y_test.dtype == chainrule.int64
    all_X = np.concatenate([_np(X_train), _np(X_test)])
    assert all_X.min() == 0.0 and all_X.max() == 1.0
    # Together, the rows are exactly scikit-learn's images, each with its own label.
    bunch = sk.load_digits()
    ours = sorted(zip(map(bytes, (all_X * 16).astype(np.uint8)),
                      np.concatenate([_np(y_train), _np(y_test)])))
    theirs = sorted(zip(map(bytes, bunch.data.astype(np.uint8)), bunch.target))
    assert ours == theirs
    again = datasets.digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(_np(again.y_test), _np(y_test))
    assert not np.array_equal(_np(datasets.digits(seed=1).y_test), _np(y_test))


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install scikit-learn.*chainrule\[datasets\]"):
        datasets.digits()

"""Small offline datasets for examples and tests: XOR, two moons, circles, blobs, spirals, handwritten digits.

Everything is generated with NumPy from a seed (or, for ``digits``, read from the
copy bundled with scikit-learn), so nothing is downloaded and every call with the
same arguments returns the same tensors.  Features are ``float32``; class labels
are ``int64`` (what ``nn.CrossEntropyLoss`` expects), except XOR's, which are
``float32`` targets of shape ``(4, 1)`` for a sigmoid output and ``BCELoss``/``MSELoss``.
"""

from collections import namedtuple

import numpy as np

import chainrule

__all__ = ["xor", "moons", "circles", "blobs", "spirals", "digits", "DigitsSplit"]


def _tensors(X, y):
    return chainrule.from_numpy(np.ascontiguousarray(X, dtype=np.float32)), \
        chainrule.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def _two_classes(class0, class1, noise, rng):
    """The points of class 0 and of class 1 shuffled together, then Gaussian noise of std ``noise`` added."""
    X = np.concatenate([class0, class1])
    y = np.concatenate([np.zeros(len(class0)), np.ones(len(class1))])
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    return _tensors(X, y)


def xor():
    """The four points of XOR: ``X`` float32 ``(4, 2)``, ``y`` float32 ``(4, 1)``.

    The classic problem a single linear layer cannot solve and one hidden layer can.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return chainrule.from_numpy(X), chainrule.from_numpy(y)


def moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``), shuffled.

    Returns ``X`` float32 ``(n_samples, 2)`` and ``y`` int64 ``(n_samples,)`` in
    {0, 1}; ``noise`` is the standard deviation of Gaussian noise added to ``X``.
    """
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    rng = np.random.default_rng(seed)
    t_outer = np.linspace(0, np.pi, n_outer)
    t_inner = np.linspace(0, np.pi, n_inner)
    return _two_classes(np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
                        np.stack([1 - np.cos(t_inner), 0.5 - np.sin(t_inner)], axis=1), noise, rng)


def circles(n_samples=200, noise=0.05, factor=0.5, seed=0):
    """A small circle inside a large one (as ``sklearn.datasets.make_circles``), shuffled.

    The outer circle (radius 1) is class 0, the inner one (radius ``factor``) class 1; ``noise``
    is the standard deviation of Gaussian noise added to ``X``. No straight line separates them.
    Returns ``X`` float32 ``(n_samples, 2)`` and ``y`` int64 ``(n_samples,)``.
    """
    if not 0 < factor < 1:
        raise ValueError(f"factor must be between 0 and 1 (the inner circle's radius), got {factor}")
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    rng = np.random.default_rng(seed)
    t_outer = np.linspace(0, 2 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0, 2 * np.pi, n_inner, endpoint=False)
    return _two_classes(np.stack([np.cos(t_outer), np.sin(t_outer)], axis=1),
                        factor * np.stack([np.cos(t_inner), np.sin(t_inner)], axis=1), noise, rng)


def blobs(n_samples=200, centers=((-1.0, -1.0), (1.0, 1.0)), std=0.5, seed=0):
    """Gaussian blobs, one per class, around ``centers`` (as ``sklearn.datasets.make_blobs``), shuffled.

    ``std`` is each blob's standard deviation. Returns ``X`` float32 ``(n_samples, len(centers[0]))``
    and ``y`` int64 ``(n_samples,)`` with the index of each point's center.
    """
    centers = np.asarray(centers, dtype=np.float64)
    if centers.ndim != 2 or len(centers) < 1:
        raise ValueError(f"centers must be a list of points, got shape {centers.shape}")
    if std < 0:
        raise ValueError(f"std must be 0 or more, got {std}")
    rng = np.random.default_rng(seed)
    k = len(centers)
    y = np.arange(n_samples) % k
    X = centers[y] + rng.normal(scale=std, size=(n_samples, centers.shape[1]))
    order = rng.permutation(n_samples)
    return _tensors(X[order], y[order])


def spirals(n_samples=300, n_classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms, one per class (the CS231n toy problem).

    ``n_samples`` points in total, split as evenly as possible between classes;
    each arm sweeps 4 radians while its radius grows from 0 to 1, with Gaussian
    ``noise`` on the angle.  Returns ``X`` float32 ``(n_samples, 2)`` and ``y``
    int64 ``(n_samples,)`` in ``range(n_classes)``, grouped by class.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes must be at least 1, got {n_classes}")
    rng = np.random.default_rng(seed)
    counts = [n_samples // n_classes + (c < n_samples % n_classes) for c in range(n_classes)]
    points, labels = [], []
    for c, count in enumerate(counts):
        radius = np.linspace(0.0, 1.0, count)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, count) + rng.normal(scale=noise, size=count)
        points.append(np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1))
        labels.append(np.full(count, c))
    return _tensors(np.concatenate(points).reshape(-1, 2), np.concatenate(labels))


DigitsSplit = namedtuple("DigitsSplit", "X_train y_train X_test y_test")
DigitsSplit.__doc__ = "The digits data split into train and test tensors (unpack or use fields)."


def digits(test_fraction=0.2, seed=0):
    """The 1,797 8x8 handwritten digits bundled with scikit-learn, split into train and test.

    Pixels are scaled from 0..16 to [0, 1]; each image is a row of 64 float32
    features and labels are int64 in 0..9.  The split is a seeded random
    permutation; ``test_fraction`` of the samples (rounded) go to test.

    Returns ``DigitsSplit(X_train, y_train, X_test, y_test)``.  Needs scikit-learn
    (``pip install scikit-learn`` or ``pip install chainrule[datasets]``).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "chainrule.datasets.digits() needs scikit-learn, which bundles the digits data: "
            "pip install scikit-learn  (or: pip install chainrule[datasets])"
        ) from None
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    bunch = load_digits()
    X = bunch.data.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    X_train, y_train = _tensors(X[train], y[train])
    X_test, y_test = _tensors(X[test], y[test])
    return DigitsSplit(X_train, y_train, X_test, y_test)

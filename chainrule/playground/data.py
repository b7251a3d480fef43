"""The playground's data sets: two input features, two classes, split into training and test points."""
from dataclasses import dataclass

import numpy as np

from .. import datasets

__all__ = ["PlaygroundData", "make_data"]

N_POINTS = 200


@dataclass
class PlaygroundData:
    X_train: np.ndarray        # (n, 2) float64
    y_train: np.ndarray        # (n, 1) float64, 0 or 1
    X_test: np.ndarray         # (m, 2); m = 0 for xor, whose four points are all training points
    y_test: np.ndarray
    domain: tuple              # (x_min, x_max, y_min, y_max): the input plane the heat maps cover

    def points(self):
        """The points for the page: [[x1, x2, label, is_test], ...]."""
        rows = [[float(a), float(b), int(c), 0] for (a, b), c in zip(self.X_train, self.y_train[:, 0])]
        rows += [[float(a), float(b), int(c), 1] for (a, b), c in zip(self.X_test, self.y_test[:, 0])]
        return rows


def _generate(name, noise, seed):
    if name == "circles":
        return datasets.circles(N_POINTS, noise=noise, seed=seed)
    if name == "moons":
        return datasets.moons(N_POINTS, noise=noise, seed=seed)
    if name == "spirals":
        return datasets.spirals(N_POINTS, n_classes=2, noise=noise * 2, seed=seed)   # noise on the angle
    return datasets.blobs(N_POINTS, std=0.35 + noise * 2, seed=seed)


def make_data(config):
    """The points of ``config.dataset`` (noise, split and seed from the config), as float64 arrays."""
    if config.dataset == "xor":
        X, y = datasets.xor()
        X, y = X.numpy().astype(np.float64), y.numpy().astype(np.float64)
        return PlaygroundData(X, y, np.zeros((0, 2)), np.zeros((0, 1)), (-0.5, 1.5, -0.5, 1.5))
    X, labels = _generate(config.dataset, config.noise, config.seed)
    X = X.numpy().astype(np.float64)
    y = labels.numpy().astype(np.float64).reshape(-1, 1)
    order = np.random.default_rng(config.seed + 1).permutation(len(X))
    n_test = int(round(len(X) * config.test_fraction))
    test, train = order[:n_test], order[n_test:]
    lo, hi = X.min(axis=0), X.max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 + 0.3           # a square plane around every point
    domain = (centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half)
    return PlaygroundData(X[train], y[train], X[test], y[test], tuple(float(v) for v in domain))

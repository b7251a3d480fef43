"""``Dropout1d`` / ``Dropout2d`` / ``Dropout3d``: zero whole channels while training; identity in eval mode."""
from ..functional_dropout2d import dropout1d, dropout2d, dropout3d
from .dropout import _DropoutNd


class Dropout1d(_DropoutNd):
    """Zero each channel of (N, C, L) with probability ``p``; survivors scaled by 1/(1-p)."""

    def forward(self, input):
        return dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero each feature map of (N, C, H, W) with probability ``p``; survivors scaled by 1/(1-p)."""

    def forward(self, input):
        return dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero each volume of (N, C, D, H, W) with probability ``p``; survivors scaled by 1/(1-p)."""

    def forward(self, input):
        return dropout3d(input, self.p, self.training, self.inplace)

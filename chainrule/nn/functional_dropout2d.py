"""Channel dropout: ``dropout1d``, ``dropout2d``, ``dropout3d`` zero whole feature maps at once.

Neighbouring pixels of a feature map are strongly correlated, so zeroing single pixels (plain
dropout) barely regularises a CNN; zeroing a whole channel does. One Bernoulli draw per (sample,
channel), broadcast over the spatial dims; survivors are scaled by 1/(1-p) so the expected value
is unchanged and evaluation needs no rescaling.
"""
import numpy as np

from ..random import default_generator
from ..tensor import Tensor, _make


def _channel_dropout(input, p, training, inplace, spatial_dims, op):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if input.ndim not in (spatial_dims + 1, spatial_dims + 2):
        raise RuntimeError(f"{op}: expected {spatial_dims + 1}-D (unbatched) or {spatial_dims + 2}-D (batched) "
                           f"input, but got input of size: {list(input.shape)}")
    if not training or p == 0.0:
        return input
    A = input._array
    if op == "dropout2d" and A.ndim == 3:
        # PyTorch's current rule: a 3-D input to dropout2d is read as (N, C, L), not as (C, H, W).
        import warnings
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel "
                      "dim. Use dropout1d for (N, C, L) input or give dropout2d a 4-D input.")
        spatial_dims = 1
    # One draw per channel (and per sample when batched); the spatial dims broadcast.
    mask_shape = A.shape[:A.ndim - spatial_dims] + (1,) * spatial_dims
    if p == 1.0:
        scale = np.zeros(mask_shape, dtype=A.dtype)
    else:
        keep = default_generator().np.random(mask_shape) >= p
        scale = keep.astype(A.dtype) * A.dtype.type(1.0 / (1.0 - p))
    return input.mul_(_make(scale)) if inplace else input * _make(scale)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) (or (C, L)) with probability ``p``."""
    return _channel_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) with probability ``p`` (a 3-D input is read as (N, C, L), as PyTorch does)."""
    return _channel_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) (or (C, D, H, W)) with probability ``p``."""
    return _channel_dropout(input, p, training, inplace, 3, "dropout3d")

"""``torch.functional``: where PyTorch keeps a few tensor functions (``torch.functional.einsum``...).

The functions are chainrule's core ops; this module only gives them PyTorch's path.
"""
from .ops import broadcast_tensors, einsum, meshgrid, norm, split, unique

__all__ = ["broadcast_tensors", "einsum", "meshgrid", "norm", "split", "unique"]

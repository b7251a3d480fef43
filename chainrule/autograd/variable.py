"""``torch.autograd.variable``: PyTorch's path for the legacy ``Variable`` (defined in ``autograd/__init__``)."""
from . import Variable  # noqa: F401

"""``torch.utils.data._utils``: PyTorch's path for the collate functions (named by pickles and programs)."""
from . import collate  # noqa: F401

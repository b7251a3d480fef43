"""``torch.utils.data._utils.collate``: the collate functions, defined in ``chainrule.utils.data.collate``."""
from ..collate import default_collate, default_convert  # noqa: F401

"""``chainrule.nn.parallel`` (``torch.nn.parallel``): ``DistributedDataParallel`` trains one model on several
processes (see ``chainrule.distributed``); ``DataParallel`` is PyTorch's GPU wrapper, a pass-through here."""
from .data_parallel import DataParallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]

from ..._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

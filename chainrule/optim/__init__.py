"""Optimizers and learning-rate schedulers with PyTorch's API (``torch.optim``).

Every optimizer reproduces PyTorch's single-tensor update formulas operation by
operation, so a run matches ``torch.optim`` to rounding, and its
``state_dict()`` has PyTorch's layout.
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]

from .._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

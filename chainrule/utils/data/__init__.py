"""Datasets and batching with PyTorch's API (``torch.utils.data``).

``Dataset`` is anything indexable with a length; ``DataLoader`` draws indices
(shuffled or in order), fetches those samples and collates them into batches.
Loading happens in the calling process: there are no worker processes.
"""

from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .distributed import DistributedSampler

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "default_convert",
    "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
    "BatchSampler", "DistributedSampler",
]

from ..._pytorch_api import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(__name__)   # a PyTorch name chainrule lacks: say so, naming it

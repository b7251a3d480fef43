"""Map-style datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``, ``random_split``."""

import bisect
import math
import warnings

import chainrule


class Dataset:
    """A collection of samples: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows: item ``i`` is ``tuple(t[i] for t in tensors)``.

    All tensors must have the same size along their first dimension.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0] if len(tensors[0].shape) else None
        if n is None or any(len(t.shape) == 0 or t.shape[0] != n for t in tensors):
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(
                f"Size mismatch between tensors: TensorDataset needs every tensor to have "
                f"the same size in dimension 0, got shapes {shapes}"
            )
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """Several datasets one after another (what ``dataset_a + dataset_b`` builds)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = []
        total = 0
        for d in self.datasets:
            total += len(d)
            self.cumulative_sizes.append(total)

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        if index < 0:
            if -index > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            index = len(self) + index
        which = bisect.bisect_right(self.cumulative_sizes, index)
        offset = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - offset]


def _split_lengths(lengths, n):
    """Turn fractions summing to 1 into integer lengths (PyTorch's rule), or pass counts through.

    Each fraction is floored, then the leftover samples go one each to the
    splits in order, round-robin.
    """
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, count in enumerate(counts):
            if count == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=3)
        return counts
    if any(not float(x).is_integer() or x < 0 for x in lengths):
        raise ValueError(f"lengths must be non-negative integers or fractions summing to 1, "
                         f"got {list(lengths)}")
    return [int(x) for x in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given lengths.

    ``lengths`` holds counts summing to ``len(dataset)``, or fractions summing to 1.
    The permutation comes from ``generator`` (a ``chainrule.Generator``) or, if
    none is given, the global generator seeded by ``chainrule.manual_seed``.
    """
    lengths = _split_lengths(list(lengths), len(dataset))
    if sum(lengths) != len(dataset):
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset! "
            f"({sum(lengths)} != {len(dataset)})"
        )
    perm = chainrule.randperm(sum(lengths), generator=generator)
    indices = [int(i) for i in perm.numpy()]
    subsets, start = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, indices[start:start + length]))
        start += length
    return subsets

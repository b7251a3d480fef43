"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches.

Each epoch (each ``iter(loader)``) walks the sampler -- ``RandomSampler`` when
``shuffle=True``, else ``SequentialSampler``, or the one given -- grouped into
batches by a ``BatchSampler``, and yields ``collate_fn([dataset[i] for i in
batch])`` for each batch as it is drawn.  The shuffle comes from ``generator``
if one is given, else from a seed drawn from the global generator, so
``chainrule.manual_seed(s)`` makes a run's batches reproducible.
"""

from .collate import default_collate, default_convert
from .dataset import Subset, TensorDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler


class DataLoader:
    """Combines a dataset and a sampling order, and yields batches (``torch.utils.data.DataLoader``).

    Args:
        dataset: anything with ``__getitem__`` and ``__len__``.
        batch_size: samples per batch (default 1); ``None`` yields single samples, unbatched.
        shuffle: reshuffle the order at the start of every epoch.
        sampler: an iterable of indices giving the order (instead of ``shuffle``).
        batch_sampler: an iterable of index lists, one per batch (instead of all of
            ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``).
        collate_fn: merges a list of samples into a batch (default: ``default_collate``).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: a ``chainrule.Generator`` for the shuffle.

    ``num_workers``, ``pin_memory``, ``timeout``, ``worker_init_fn``,
    ``prefetch_factor`` and ``persistent_workers`` are accepted for compatibility;
    loading always happens in the calling process.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")

        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn

    def _fetch(self, batch):
        # Fast path: a batch of a TensorDataset (or of a Subset of one, as
        # random_split makes) is one fancy index per tensor, not a Python loop
        # over rows; the result equals default_collate of the rows.
        if self.collate_fn is default_collate:
            tensors, rows = _tensor_rows(self.dataset, batch)
            if tensors is not None:
                return [t[rows] for t in tensors]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(batch) if getitems is not None else [self.dataset[i] for i in batch]
        return self.collate_fn(samples)

    def __iter__(self):
        # Index by index, as the sampler yields them: an endless sampler is an endless loader.
        if self.batch_sampler is None:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
            return
        for batch in self.batch_sampler:
            yield self._fetch(batch)

    def __len__(self):
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)


def _tensor_rows(dataset, indices):
    """``(tensors, rows)`` if ``dataset`` is a TensorDataset, possibly inside Subsets.

    Returns ``(None, None)`` for any other dataset.
    """
    while type(dataset) is Subset:
        indices = [dataset.indices[i] for i in indices]
        dataset = dataset.dataset
    if type(dataset) is TensorDataset:
        return dataset.tensors, [int(i) for i in indices]
    return None, None

"""``DistributedSampler``: each rank reads its own share of the dataset, the shares together covering it.

Every rank shuffles with the same seed (``seed + epoch``), pads the order by repeating its start until it
divides evenly (or, with ``drop_last``, cuts the tail), and takes every ``num_replicas``-th index from its
``rank``. The order is PyTorch's exactly, index for index: ``torch.randperm`` with a generator seeded by
``manual_seed(seed + epoch)`` is a Fisher-Yates shuffle driven by the 32-bit outputs of MT19937, which
``_pytorch_randperm`` reproduces with NumPy's MT19937 (chainrule's own generators are NumPy's PCG64 and give
other orders). So a job moved between PyTorch and chainrule sees its samples in the same order.
"""
import math

from ..._backend import xp as np
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _mt19937_key(seed):
    """MT19937's state after the reference ``init_genrand(seed)`` (PyTorch's ``manual_seed`` keeps 32 bits)."""
    key = np.empty(624, np.uint32)
    x = seed & 0xFFFFFFFF
    key[0] = x
    for j in range(1, 624):
        x = (1812433253 * (x ^ (x >> 30)) + j) & 0xFFFFFFFF
        key[j] = x
    return key


def _pytorch_randperm(n, seed):
    """``torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()``, computed without PyTorch."""
    generator = np.random.MT19937()
    generator.state = {"bit_generator": "MT19937", "state": {"key": _mt19937_key(seed), "pos": 624}}
    if n < 2:
        return list(range(n))
    # Step i swaps position i with position i + (draw_i mod (n - i)).
    offsets = (generator.random_raw(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).tolist()
    order = list(range(n))
    for i, z in enumerate(offsets):
        j = i + z
        order[i], order[j] = order[j], order[i]
    return order


class DistributedSampler(Sampler):
    """The indices of ``dataset`` that rank ``rank`` of ``num_replicas`` reads (``torch.utils.data.distributed``).

    Args:
        dataset: anything with a length.
        num_replicas, rank: default to the process group's world size and this process's rank.
        shuffle: a new order every epoch (call ``set_epoch(epoch)`` before each one); else in order.
        seed: the same on every rank, so the ranks' shares do not overlap.
        drop_last: drop the tail that does not divide evenly, instead of padding with repeated indices.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from ... import distributed as dist
            if not dist.is_available():
                raise RuntimeError("Requires distributed package to be available")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self):
        n = len(self.dataset)
        order = _pytorch_randperm(n, self.seed + self.epoch) if self.shuffle else list(range(n))
        if self.drop_last:
            order = order[:self.total_size]
        elif order:
            missing = self.total_size - len(order)
            order += (order * math.ceil(missing / len(order)))[:missing]
        return iter(order[self.rank:self.total_size:self.num_replicas])

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use ``epoch`` in the seed of the next shuffle (the same on every rank: a new order each epoch)."""
        self.epoch = epoch

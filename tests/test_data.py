"""Datasets, random_split, collation and DataLoader, compared with ``torch.utils.data``.

Shuffled orders cannot match PyTorch's (different random number generators), so
for shuffles we check the properties that matter: every sample exactly once per
epoch, a new order each epoch, and reproducibility under a seed or a generator.
"""

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.utils.data as tdata  # noqa: E402

import chainrule  # noqa: E402
import chainrule.utils.data as data  # noqa: E402


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def assert_same_batch(ours, theirs):
    """Same structure, same types (tensor/list/dict), same values and dtypes."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, chainrule.Tensor), type(ours)
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert _np(ours).dtype == theirs.numpy().dtype
        np.testing.assert_array_equal(_np(ours), theirs.numpy())
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs)
        for key in theirs:
            assert_same_batch(ours[key], theirs[key])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same_batch(a, b)
    else:
        assert ours == theirs


def _pair(n=10, d=3):
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64) % 3
    return x, y


def test_tensor_dataset_items_and_len():
    x, y = _pair()
    ds = data.TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y))
    assert len(ds) == 10
    xi, yi = ds[4]
    np.testing.assert_array_equal(_np(xi), x[4])
    assert int(yi.item()) == y[4]


def test_tensor_dataset_size_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"Size mismatch.*\(5, 2\), \(4,\)"):
        data.TensorDataset(chainrule.zeros(5, 2), chainrule.zeros(4))


def test_subset_and_concat():
    x, y = _pair()
    ds = data.TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y))
    sub = data.Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    np.testing.assert_array_equal(_np(sub[1][0]), x[2])
    both = sub + sub
    assert len(both) == 6
    np.testing.assert_array_equal(_np(both[4][0]), x[2])
    np.testing.assert_array_equal(_np(both[-1][0]), x[5])


@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (11, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]),
                                       (10, [0.33, 0.33, 0.34]), (11, [0.9, 0.1])])
def test_random_split_lengths_match_torch(n, lengths):
    ours = data.random_split(list(range(n)), lengths)
    theirs = tdata.random_split(list(range(n)), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(n))


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        data.random_split(list(range(10)), [3, 3])


def test_random_split_reproducible_with_seed_and_generator():
    def split(**kw):
        return [list(s.indices) for s in data.random_split(range(20), [0.5, 0.5], **kw)]

    chainrule.manual_seed(3)
    a = split()
    chainrule.manual_seed(3)
    assert split() == a
    g1, g2 = chainrule.Generator(), chainrule.Generator()
    g1.manual_seed(7)
    g2.manual_seed(7)
    assert split(generator=g1) == split(generator=g2)


Point = collections.namedtuple("Point", "x y")

SAMPLES = {
    "tensors": lambda lib: [lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])],
    "pairs": lambda lib: [(lib.tensor([1.0, 2.0]), 0), (lib.tensor([3.0, 4.0]), 1)],
    "numpy": lambda lib: [np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)],
    "numpy_scalars": lambda lib: [np.float64(1.5), np.float64(2.5)],
    "floats": lambda lib: [1.5, 2.5, 3.5],
    "ints": lambda lib: [1, 2, 3],
    "bools": lambda lib: [True, False],
    "strings": lambda lib: ["a", "b"],
    "dicts": lambda lib: [{"x": lib.tensor([1, 2]), "label": 3, "name": "u"},
                          {"x": lib.tensor([3, 4]), "label": 5, "name": "v"}],
    "lists": lambda lib: [[1, 2.0], [3, 4.0]],
    "nested": lambda lib: [((np.int64(1), [2.0, 3.0]), {"k": (1, 2)}),
                           ((np.int64(4), [5.0, 6.0]), {"k": (3, 4)})],
    "namedtuple": lambda lib: [Point(lib.tensor(1.0), 2), Point(lib.tensor(3.0), 4)],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_default_collate_matches_torch(kind):
    ours = data.default_collate(SAMPLES[kind](chainrule))
    theirs = tdata.default_collate(SAMPLES[kind](torch))
    if kind == "namedtuple":
        assert type(ours) is Point
        ours, theirs = list(ours), list(theirs)
    assert_same_batch(ours, theirs)


def test_default_collate_rejects_ragged_lists():
    with pytest.raises(RuntimeError, match="equal size"):
        data.default_collate([[1, 2], [3]])


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 3, False), (10, 3, True), (9, 3, True),
                                                     (10, 1, False), (10, 20, False), (10, 20, True)])
def test_dataloader_batches_and_len_match_torch(n, batch_size, drop_last):
    x, y = _pair(n)
    ours = data.DataLoader(data.TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y)),
                           batch_size=batch_size, drop_last=drop_last)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                              batch_size=batch_size, drop_last=drop_last)
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same_batch(a, b)


class DictDataset(data.Dataset):
    """A custom map-style dataset returning dicts of NumPy arrays and numbers."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"image": np.full((2, 2), i, dtype=np.float32), "label": i % 2, "id": f"s{i}"}


class TorchDictDataset(tdata.Dataset):
    __len__ = DictDataset.__len__
    __getitem__ = DictDataset.__getitem__


def test_dataloader_custom_dataset_matches_torch():
    ours = list(data.DataLoader(DictDataset(), batch_size=3))
    theirs = list(tdata.DataLoader(TorchDictDataset(), batch_size=3))
    for a, b in zip(ours, theirs):
        assert_same_batch(a, b)


def test_dataloader_unbatched_and_custom_collate():
    ours = list(data.DataLoader(DictDataset(), batch_size=None))
    theirs = list(tdata.DataLoader(TorchDictDataset(), batch_size=None))
    assert len(ours) == len(ours) == 7
    for a, b in zip(ours, theirs):
        assert_same_batch(a, b)
    ids = list(data.DataLoader(DictDataset(), batch_size=4, collate_fn=lambda b: [s["id"] for s in b]))
    assert ids == [["s0", "s1", "s2", "s3"], ["s4", "s5", "s6"]]


def test_dataloader_sampler_and_batch_sampler():
    ds = list(range(10))
    assert [b.tolist() for b in data.DataLoader(ds, batch_size=4, sampler=[9, 8, 7, 1, 0])] == \
        [[9, 8, 7, 1], [0]]
    loader = data.DataLoader(ds, batch_sampler=[[0, 1], [5, 6, 7]])
    assert len(loader) == 2 and [b.tolist() for b in loader] == [[0, 1], [5, 6, 7]]
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        data.DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        data.DataLoader(ds, batch_size=0)


def _epoch_order(loader):
    return [int(i) for batch in loader for i in _np(batch[1])]


def _index_loader(n=50, **kw):
    x = chainrule.zeros(n, 1)
    idx = chainrule.from_numpy(np.arange(n, dtype=np.int64))
    return data.DataLoader(data.TensorDataset(x, idx), batch_size=8, **kw)


def test_shuffle_visits_every_sample_once_and_reshuffles_each_epoch():
    loader = _index_loader(shuffle=True)
    first, second = _epoch_order(loader), _epoch_order(loader)
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and first != list(range(50))


def test_shuffle_reproducible_under_manual_seed():
    chainrule.manual_seed(123)
    a = [_epoch_order(_index_loader(shuffle=True)) for _ in range(2)]
    chainrule.manual_seed(123)
    b = [_epoch_order(_index_loader(shuffle=True)) for _ in range(2)]
    chainrule.manual_seed(124)
    c = [_epoch_order(_index_loader(shuffle=True)) for _ in range(2)]
    assert a == b and a != c


def test_shuffle_reproducible_under_a_generator_and_independent_of_global_seed():
    def orders(seed, global_seed):
        chainrule.manual_seed(global_seed)
        g = chainrule.Generator()
        g.manual_seed(seed)
        loader = _index_loader(shuffle=True, generator=g)
        return [_epoch_order(loader) for _ in range(3)]

    assert orders(5, 0) == orders(5, 99)
    assert orders(5, 0) != orders(6, 0)


def test_dataloader_over_random_split_subsets_matches_per_sample_collation():
    """The batched fast path over Subset(TensorDataset) equals collating sample by sample."""
    x, y = _pair(23)
    ds = data.TensorDataset(chainrule.from_numpy(x), chainrule.from_numpy(y))
    g = chainrule.Generator()
    g.manual_seed(0)
    train, _ = data.random_split(ds, [0.7, 0.3], generator=g)
    inner = data.Subset(train, list(range(len(train)))[::-1])
    fast = list(data.DataLoader(inner, batch_size=4))
    slow = list(data.DataLoader(inner, batch_size=4, collate_fn=lambda b: data.default_collate(b)))
    assert len(fast) == len(slow) == 5  # 17 samples: floor(16.1) + 1 leftover
    for a, b in zip(fast, slow):
        for u, v in zip(a, b):
            assert u.dtype == v.dtype and tuple(u.shape) == tuple(v.shape)
            np.testing.assert_array_equal(_np(u), _np(v))

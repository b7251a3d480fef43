"""Samplers and the DataLoader's use of them, against ``torch.utils.data``.

Random orders come from different streams in chainrule and PyTorch, so random samplers are checked by
what PyTorch guarantees (a permutation per pass, counts, laziness); everything deterministic is compared
element for element.
"""
import itertools

import pytest
import torch
import torch.utils.data as tdata

import chainrule
import chainrule.utils.data as data


def both(fn):
    return fn(data), fn(tdata)


def test_sequential_and_batch_samplers_match_pytorch():
    for drop_last in (False, True):
        ours, theirs = both(lambda d: list(d.BatchSampler(d.SequentialSampler(range(10)), 3, drop_last)))
        assert ours == theirs
        ours, theirs = both(lambda d: len(d.BatchSampler(range(10), 3, drop_last)))
        assert ours == theirs


@pytest.mark.parametrize("make", [
    lambda d: d.BatchSampler(range(4), 0, False),
    lambda d: d.BatchSampler(range(4), 2, 1),
    lambda d: d.RandomSampler(range(4), num_samples=0),
    lambda d: d.WeightedRandomSampler([1.0, 2.0], num_samples=-1),
    lambda d: d.WeightedRandomSampler([[1.0, 2.0]], num_samples=2),
])
def test_bad_sampler_arguments_raise_pytorchs_errors(make):
    with pytest.raises(ValueError) as ours:
        make(data)
    with pytest.raises(ValueError) as theirs:
        make(tdata)
    assert str(ours.value) == str(theirs.value)


def test_random_sampler_refuses_a_non_bool_replacement_as_pytorch_does():
    for d in (data, tdata):
        with pytest.raises(TypeError, match="replacement should be a boolean value, but got replacement=1"):
            d.RandomSampler(range(4), replacement=1)


def test_random_sampler_is_a_permutation_per_pass():
    chainrule.manual_seed(0)
    order = list(data.RandomSampler(range(10)))
    assert sorted(order) == list(range(10)) and order != list(range(10))
    longer = list(data.RandomSampler(range(10), num_samples=25))
    assert len(longer) == 25
    assert sorted(longer[:10]) == sorted(longer[10:20]) == list(range(10))   # two whole passes, then 5
    assert len(set(longer[20:])) == 5


def test_random_sampler_with_replacement_draws_num_samples_uniformly():
    chainrule.manual_seed(0)
    draws = list(data.RandomSampler(range(5), replacement=True, num_samples=5000))
    counts = [draws.count(i) for i in range(5)]
    assert len(draws) == 5000 and min(counts) > 850 and max(counts) < 1150   # each ~1000 +- 5 sigma
    assert len(data.RandomSampler(range(5), replacement=True, num_samples=7)) == 7


def test_an_endless_random_sampler_feeds_a_dataloader_lazily():
    # The idiom of a minimal-GPT training script: sample batches "forever", stop after a few steps.
    ds = data.TensorDataset(chainrule.arange(100).float())
    sampler = data.RandomSampler(ds, replacement=True, num_samples=int(1e10))
    loader = data.DataLoader(ds, sampler=sampler, batch_size=4)
    batches = list(itertools.islice(iter(loader), 3))
    assert [tuple(b[0].shape) for b in batches] == [(4,)] * 3
    assert len(loader) == int(1e10) // 4


def test_random_sampler_with_a_generator_repeats_and_ignores_the_global_seed():
    def order(seed, global_seed):
        chainrule.manual_seed(global_seed)
        return list(data.RandomSampler(range(20), generator=chainrule.Generator().manual_seed(seed)))
    assert order(3, 0) == order(3, 1) != order(4, 0)


def test_an_epoch_costs_the_global_stream_one_draw_however_far_it_goes():
    chainrule.manual_seed(0)
    it = iter(data.RandomSampler(range(1000)))
    next(it)
    after_one = chainrule.rand(1).item()
    chainrule.manual_seed(0)
    list(data.RandomSampler(range(1000)))
    assert chainrule.rand(1).item() == after_one


def test_subset_random_sampler_visits_exactly_its_indices():
    chainrule.manual_seed(0)
    order = list(data.SubsetRandomSampler([3, 7, 11, 19]))
    assert sorted(order) == [3, 7, 11, 19] and len(data.SubsetRandomSampler([3, 7])) == 2


def test_weighted_random_sampler_follows_the_weights():
    chainrule.manual_seed(0)
    draws = list(data.WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4000))
    assert draws.count(0) == 0 and 2700 < draws.count(2) < 3300   # 3000 +- 11 sigma
    once = list(data.WeightedRandomSampler([1.0, 1.0, 1.0, 5.0], num_samples=4, replacement=False))
    assert sorted(once) == [0, 1, 2, 3]


def test_dataloader_with_a_batch_sampler_matches_pytorch():
    xs = list(range(10))
    ours, theirs = both(lambda d: [b.tolist() for b in
                                   d.DataLoader(xs, batch_sampler=d.BatchSampler(d.SequentialSampler(xs), 4, False))])
    assert ours == theirs == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    ours, theirs = both(lambda d: len(d.DataLoader(xs, batch_sampler=[[0, 1], [2]])))
    assert ours == theirs == 2


def test_dataloader_exposes_its_sampler_and_batch_sampler_as_pytorch_does():
    for d in (data, tdata):
        shuffled = d.DataLoader(list(range(6)), batch_size=2, shuffle=True)
        assert type(shuffled.sampler).__name__ == "RandomSampler"
        assert type(shuffled.batch_sampler).__name__ == "BatchSampler" and shuffled.batch_sampler.batch_size == 2
        plain = d.DataLoader(list(range(6)), batch_size=None)
        assert type(plain.sampler).__name__ == "SequentialSampler" and plain.batch_sampler is None


def test_sampler_module_path_is_pytorchs():
    from chainrule.utils.data.sampler import RandomSampler
    from chainrule.utils.data.dataloader import DataLoader
    assert RandomSampler is data.RandomSampler and DataLoader is data.DataLoader

"""DistributedDataParallel over 2 and 4 MPI ranks ends where one process training on the whole batch ends.

Each rank trains its DDP replica on its slice of every batch; the same rank also trains a plain copy of the
model on the concatenated batch (the oracle: one process, no DDP), and the two must agree to 1e-6 in float64
after 50 steps. The ranks' replicas must also be bitwise identical to one another.
"""
import pytest

from mpi_ranks import check, run_ranks

COMMON = """
    import datetime
    import numpy as np
    import chainrule as torch
    import chainrule.distributed as dist
    from chainrule import nn
    from chainrule.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_default_dtype(torch.float64)

    def same_everywhere(model):
        mine = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
        everyone = [torch.zeros(mine.size) for _ in range(world)]
        dist.all_gather(everyone, torch.tensor(mine))
        return all(np.array_equal(e.numpy(), mine) for e in everyone)

    def report(result):
        # Rank 0 prints every rank's result, one line each (ranks writing at once would interleave).
        results = [None] * world if rank == 0 else None
        dist.gather_object(result, results, dst=0)
        if rank == 0:
            for r, res in enumerate(results):
                print("rank", r, res)

    def farthest(a, b):
        return max(float((p - q).abs().max()) for p, q in zip(a.parameters(), b.parameters()))
"""


TRAINING = COMMON + """
    import sys
    optimizer_name, accumulate = sys.argv[1], int(sys.argv[2])

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU())
            self.head = nn.Linear(16, 3)

        def forward(self, x):
            return self.head(self.body(x))

    torch.manual_seed(100 + rank)          # each rank starts differently: DDP must take rank 0's weights
    model = Net()
    ddp = DDP(model, bucket_cap_mb=0.001)  # small buckets: several all-reduces per backward
    assert len(ddp._buckets) > 1
    reference = Net()
    reference.load_state_dict(model.state_dict())

    def optimizer(params):
        if optimizer_name == "sgd":
            return torch.optim.SGD(params, lr=0.05, momentum=0.9)
        return torch.optim.AdamW(params, lr=0.01, weight_decay=0.1)
    opt, ref_opt = optimizer(ddp.parameters()), optimizer(reference.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(opt, 20, 0.5)
    ref_scheduler = torch.optim.lr_scheduler.StepLR(ref_opt, 20, 0.5)
    rng = np.random.default_rng(0)
    per_rank = 5
    loss_fn = nn.MSELoss()
    for step in range(50):
        micro = [(torch.tensor(rng.standard_normal((world * per_rank, 6))),
                  torch.tensor(rng.standard_normal((world * per_rank, 3)))) for _ in range(accumulate)]
        opt.zero_grad()
        for k, (x, y) in enumerate(micro):
            mine = slice(rank * per_rank, (rank + 1) * per_rank)
            context = ddp.no_sync() if k < accumulate - 1 else torch.enable_grad()
            with context:
                (loss_fn(ddp(x[mine]), y[mine]) / accumulate).backward()
        nn.utils.clip_grad_norm_(ddp.parameters(), 0.5)
        opt.step()
        scheduler.step()
        ref_opt.zero_grad()
        for x, y in micro:
            (loss_fn(reference(x), y) / accumulate).backward()
        nn.utils.clip_grad_norm_(reference.parameters(), 0.5)
        ref_opt.step()
        ref_scheduler.step()
    distance = farthest(model, reference)
    assert distance < 1e-6, distance
    assert same_everywhere(model)
    report(distance)
"""


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("optimizer, accumulate", [("sgd", 1), ("adamw", 1), ("sgd", 3), ("adamw", 2)])
def test_ddp_ends_at_the_weights_of_one_process_on_the_whole_batch(tmp_path, ranks, optimizer, accumulate):
    out = check(run_ranks(ranks, TRAINING, tmp_path, optimizer, str(accumulate)))
    assert [line.split()[1] for line in out.splitlines()] == [str(r) for r in range(ranks)]


UNUSED = COMMON + """
    class Branchy(nn.Module):
        # `left` is used on even ranks, `right` on odd ones; `never` on none.
        def __init__(self):
            super().__init__()
            self.trunk = nn.Linear(4, 4)
            self.left, self.right, self.never = nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)

        def forward(self, x, go_left):
            h = torch.tanh(self.trunk(x))
            return self.left(h) if go_left else self.right(h)

    torch.manual_seed(0)
    model = Branchy()
    reference = Branchy()
    reference.load_state_dict(model.state_dict())
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=0.0001)
    opt, ref_opt = torch.optim.SGD(ddp.parameters(), lr=0.1), torch.optim.SGD(reference.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    for step in range(20):
        x = torch.tensor(rng.standard_normal((world * 3, 4)))
        mine = x[rank * 3:(rank + 1) * 3]
        opt.zero_grad()
        ddp(mine, rank % 2 == 0).pow(2).mean().backward()
        assert model.never.weight.grad is None        # unused on every rank: keeps its None
        if world > 1:                                  # used on another rank: gets the average
            assert model.left.weight.grad is not None and model.right.weight.grad is not None
        opt.step()
        ref_opt.zero_grad()
        # One process: the mean over ranks of each rank's loss (each rank's branch on its own slice).
        (sum(reference(x[r * 3:(r + 1) * 3], r % 2 == 0).pow(2).mean() for r in range(world)) / world).backward()
        ref_opt.step()
    distance = farthest(model, reference)
    assert distance < 1e-6, distance
    assert same_everywhere(model)

    # Without find_unused_parameters, a parameter that gets no gradient stops the next forward, by name.
    strict = DDP(Branchy())
    strict(torch.ones(2, 4), True).sum().backward()
    try:
        strict(torch.ones(2, 4), True)
    except RuntimeError as e:
        assert "Expected to have finished reduction in the prior iteration" in str(e), e
        assert "right.weight, right.bias, never.weight, never.bias" in str(e), e
    else:
        raise AssertionError("the unfinished reduction was not reported")
    report("unused ok")
"""


def test_find_unused_parameters_matches_one_process_and_strict_mode_names_the_culprits(tmp_path):
    out = check(run_ranks(2, UNUSED, tmp_path))
    assert out.splitlines() == ["rank 0 unused ok", "rank 1 unused ok"]


CONSTRUCTION = COMMON + """
    class WithStats(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.fc = nn.Linear(3, width)
            self.bn = nn.BatchNorm1d(width)

        def forward(self, x):
            return self.bn(self.fc(x))

    # Rank 0's parameters and buffers reach every rank at construction, and buffers again at every forward.
    torch.manual_seed(rank)
    model = WithStats(4)
    model.bn.running_mean.fill_(float(rank))
    ddp = DDP(model)
    assert same_everywhere(model) and float(model.bn.running_mean.sum()) == 0.0
    seen = []
    model.bn.register_forward_pre_hook(lambda module, args: seen.append(module.running_mean.clone()))
    ddp(torch.randn(5, 3) + rank)                  # each rank's batch moves its statistics its own way...
    after_first = [torch.zeros(4) for _ in range(world)]
    dist.all_gather(after_first, model.bn.running_mean)
    assert not torch.equal(after_first[0], after_first[1])
    ddp(torch.randn(5, 3))                         # ...and the next forward starts from rank 0's
    assert torch.equal(seen[1], after_first[0]), (seen[1], after_first[0])
    assert list(ddp.state_dict())[:2] == ["module.fc.weight", "module.fc.bias"]

    def refused(kind, text, make):
        try:
            make()
        except kind as e:
            assert text in str(e), e
        else:
            raise AssertionError(f"no {kind.__name__} for {text!r}")
    refused(RuntimeError, "DDP expects same model across all ranks, but parameter 0 differs: rank 0 has "
            "fc.weight: torch.float64 [4, 3], rank 1 has fc.weight: torch.float64 [5, 3]",
            lambda: DDP(WithStats(4 + rank)))
    refused(RuntimeError, "DDP expects same model across all ranks, but Rank 0 has 4 params, while rank 1 has "
            "inconsistent 2 params", lambda: DDP(WithStats(4) if rank == 0 else nn.Linear(3, 4)))
    refused(ValueError, "device_ids and output_device arguments only work with single-device/multiple-device GPU "
            "modules or CPU modules, but got device_ids [0]", lambda: DDP(nn.Linear(2, 2), device_ids=[0]))
    refused(RuntimeError, "DistributedDataParallel is not needed when a module doesn't have any parameter that "
            "requires a gradient.", lambda: DDP(nn.Linear(2, 2).requires_grad_(False)))
    report("construction ok")
"""


def test_construction_takes_rank_0s_state_and_refuses_models_that_differ(tmp_path):
    out = check(run_ranks(2, CONSTRUCTION, tmp_path))
    assert out.splitlines() == ["rank 0 construction ok", "rank 1 construction ok"]

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

"""chainrule.distributed in one process, without MPI: what programs touch before (or instead of) starting ranks,
and DistributedSampler against PyTorch's own, index for index."""
import itertools
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import chainrule
import chainrule.distributed as dist
from chainrule.distributed import launch_env
from chainrule.nn.parallel import DataParallel, DistributedDataParallel
from chainrule.utils.data import DistributedSampler
from chainrule.utils.data.distributed import _pytorch_randperm


def test_not_initialized_until_a_group_is_made():
    assert isinstance(dist.is_available(), bool)
    assert dist.is_initialized() is False
    assert dist.group.WORLD is None
    for call in (dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: dist.all_reduce(chainrule.zeros(2)),
                 lambda: DistributedDataParallel(chainrule.nn.Linear(2, 2)),
                 lambda: DistributedSampler(list(range(4)))):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            call()
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"):
        assert getattr(dist.ReduceOp, name) == getattr(torch.distributed.ReduceOp, name)


def test_backends_and_rendezvous_that_cannot_be_served_say_so(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="NCCL needs CUDA GPUs.*'gloo' or 'mpi'"):
        dist.init_process_group("nccl")
    with pytest.raises(ValueError, match="'ucc' is not one of them"):
        dist.init_process_group("ucc")
    with pytest.raises(ValueError, match="init_method='redis://x'"):
        dist.init_process_group("gloo", init_method="redis://x")
    with pytest.raises(ValueError, match="not through a Store"):
        dist.init_process_group("gloo", store=object())
    with pytest.raises(ValueError, match="environment variable RANK expected, but not set.*chainrule run -n N"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()


def test_torch_paths_resolve_to_chainrule_modules(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent("""
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
        from torch.utils.data.distributed import DistributedSampler
        from torch.utils.data import DistributedSampler as Sampler2
        import torch.nn.parallel.distributed
        print(torch.distributed is dist, dist.is_available(), dist.is_initialized(), DDP.__module__,
              DistributedSampler is Sampler2, torch.nn.DataParallel(torch.nn.Linear(2, 1)).module.in_features)
        """))
    out = subprocess.run([sys.executable, "-m", "chainrule", "run", str(program)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False", "chainrule.nn.parallel.distributed", "True", "2"]


def test_data_parallel_without_gpus_runs_the_module():
    model = chainrule.nn.Linear(3, 2)
    x = chainrule.randn(4, 3)
    wrapped = DataParallel(model)
    assert wrapped.module is model and list(wrapped.state_dict()) == ["module.weight", "module.bias"]
    assert chainrule.equal(wrapped(x), model(x))
    with pytest.raises(ValueError, match="no GPUs"):
        DataParallel(model, device_ids=[0])


@pytest.mark.parametrize("n, seed", [(0, 0), (1, 3), (2, 0), (10, 0), (97, 5), (1000, 2**40 + 7), (20000, -3)])
def test_permutation_is_torch_randperm_with_a_seeded_generator(n, seed):
    g = torch.Generator()
    g.manual_seed(seed)
    assert _pytorch_randperm(n, seed) == torch.randperm(n, generator=g).tolist()


def test_distributed_sampler_gives_pytorchs_indices():
    from torch.utils.data import DistributedSampler as TorchSampler
    for n, replicas, shuffle, drop_last, seed, epoch in itertools.product(
            [0, 1, 5, 10, 13, 64, 101], [1, 2, 3, 4, 7], [True, False], [True, False], [0, 42], [0, 3]):
        for rank in range(replicas):
            ours = DistributedSampler(range(n), replicas, rank, shuffle, seed, drop_last)
            theirs = TorchSampler(range(n), replicas, rank, shuffle, seed, drop_last)
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, replicas, rank, shuffle, drop_last)
    for rank in (-1, 3):
        with pytest.raises(ValueError, match=r"Invalid rank .*interval \[0, 2\]"):
            DistributedSampler(range(5), num_replicas=3, rank=rank)


def test_distributed_sampler_feeds_a_dataloader():
    data = chainrule.utils.data.TensorDataset(chainrule.arange(10.0))
    shards = []
    for rank in range(2):
        sampler = DistributedSampler(data, num_replicas=2, rank=rank, seed=1)
        loader = chainrule.utils.data.DataLoader(data, batch_size=2, sampler=sampler)
        shards.append([v for (batch,) in loader for v in batch.tolist()])
    assert sorted(shards[0] + shards[1]) == [float(i) for i in range(10)]


def test_launcher_variables_become_torchruns():
    env = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2", "RANK": "3"}
    assert launch_env.export_torchrun_variables(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == ("3", "4", "1", "2")
    openmpi = {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"}
    assert launch_env.launcher_ranks(openmpi) == (0, 2, 0, 2)
    assert launch_env.export_torchrun_variables({}) is False


def test_one_process_without_a_launcher(tmp_path):
    """backend="mpi" makes a group of one; a program that expects more ranks is told how to start them."""
    pytest.importorskip("mpi4py", reason="needs pip install 'chainrule[distributed]'")
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent("""
        import chainrule as torch
        import chainrule.distributed as dist
        try:
            dist.init_process_group("gloo", init_method="tcp://127.0.0.1:23456", rank=0, world_size=2)
        except ValueError as e:
            print(e)
        dist.init_process_group("mpi")
        t = torch.tensor([3.0])
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        print(dist.get_rank(), dist.get_world_size(), dist.get_backend(), t.item())
        """))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "PMI_RANK", "PMI_SIZE")}
    out = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    refused, result = out.stdout.strip().splitlines()
    assert refused == ("init_process_group: the program expects 2 ranks (world_size=2) but MPI started 1. "
                       "chainrule's ranks are MPI processes: start them with `chainrule run -n 2 prog.py` or "
                       "`mpiexec -n 2 python prog.py` (torch.multiprocessing.spawn is not supported).")
    assert result == "0 1 mpi 3.0"

"""Starting ranks: ``chainrule run -n N`` (torchrun's variables, one BLAS thread per rank, a host file), plain
``mpiexec -n N python prog.py``, the GPT-style example on one process and on two, and failures that end the job:
a rank that raises, and ranks that call different collectives."""
import os
import pathlib
import time

import chainrule

from mpi_ranks import check, run_chainrule, run_ranks, write

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "gpt_ddp.py"


def test_ranks_get_torchruns_variables_and_one_blas_thread(tmp_path):
    program = write(tmp_path, """
        import os, sys
        import threadpoolctl
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")
        blas = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
        seen = [os.environ[n] for n in names] + [sys.argv[1:], set(blas), dist.is_torchelastic_launched()]
        everyone = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, seen)
        if dist.get_rank() == 0:
            print(everyone)
        """)
    expected = [[str(r), "3", str(r), "3", "127.0.0.1", "29500", ["--lr", "0.1"], {1}, True] for r in range(3)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    out = check(run_chainrule(["run", "-n", "3", str(program), "--lr", "0.1"], tmp_path, env=env))
    assert out.strip() == str(expected)
    # Spread by a host file (here: this machine, twice), the ranks still learn that they share it.
    (tmp_path / "hosts").write_text("localhost:2\n")
    out = check(run_chainrule(["run", "-n", "2", "--hostfile", "hosts", str(program)], tmp_path, env=env))
    assert out.strip() == str([[str(r), "2", str(r), "2", "127.0.0.1", "29500", [], {1}, True] for r in range(2)])


def test_a_users_thread_count_is_kept(tmp_path):
    program = write(tmp_path, """
        import os
        import torch.distributed as dist
        dist.init_process_group("gloo")
        if dist.get_rank() == 0:
            print(os.environ["OMP_NUM_THREADS"])
        """)
    out = check(run_chainrule(["run", "-n", "2", str(program)], tmp_path, env={**os.environ, "OMP_NUM_THREADS": "2"}))
    assert out.strip() == "2"


def test_plain_mpiexec_runs_a_program_that_reads_rank(tmp_path):
    out = check(run_ranks(2, """
        import os
        import chainrule as torch
        import chainrule.distributed as dist
        ddp = int(os.environ.get("RANK", -1)) != -1
        assert ddp
        dist.init_process_group(backend="gloo")
        t = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(t)
        if dist.get_rank() == 0:
            print(os.environ["WORLD_SIZE"], t.item())
        """, tmp_path))
    assert out.split() == ["2", "3.0"]


def _weights(path):
    return chainrule.load(str(path))


def test_gpt_example_takes_the_same_steps_on_two_ranks_as_on_one(tmp_path):
    common = [str(EXAMPLE), "--dtype", "float64", "--steps", "12", "--batch-size", "8", "--log-every", "4"]
    one = check(run_chainrule(["run", *common, "--save", "one.ckpt"], tmp_path))
    two = check(run_chainrule(["run", "-n", "2", *common, "--grad-accum", "2", "--save", "two.ckpt"], tmp_path))
    assert "1 rank(s): 12 steps" in one and "2 rank(s): 12 steps" in two
    losses = [[line for line in out.splitlines() if line.startswith("step")] for out in (one, two)]
    assert len(losses[0]) == 4 and losses[0] == losses[1]
    a, b = _weights(tmp_path / "one.ckpt"), _weights(tmp_path / "two.ckpt")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-9


def test_a_failing_rank_ends_the_job_naming_itself(tmp_path):
    program = write(tmp_path, """
        import os, time
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")
        if dist.get_rank() == 1:
            time.sleep(0.5)
            raise ValueError("bad batch on this rank")
        dist.barrier()      # rank 0 waits here for a rank that will never come
        """)
    start = time.monotonic()
    out = run_chainrule(["run", "-n", "2", str(program)], tmp_path, timeout=120)
    assert out.returncode != 0 and time.monotonic() - start < 60
    assert "ValueError: bad batch on this rank" in out.stderr
    assert "rank 1 failed with ValueError: bad batch on this rank; ending the job" in out.stderr


def test_a_rank_failing_before_init_or_exiting_non_zero_ends_the_job(tmp_path):
    program = write(tmp_path, """
        import os, sys, time
        import torch
        import torch.distributed as dist
        if os.environ["RANK"] == "1":
            time.sleep(0.5)
            sys.exit(sys.argv[1] if sys.argv[1] != "raise" else int("not a number"))
        dist.init_process_group("gloo")
        dist.barrier()
        """)
    for how, said in (("raise", "rank 1 failed with ValueError"), ("3", "rank 1 exited with status '3'")):
        start = time.monotonic()
        out = run_chainrule(["run", "-n", "2", str(program), how], tmp_path, timeout=120)
        assert out.returncode != 0 and time.monotonic() - start < 60, out.stderr
        assert said in out.stderr


def test_mismatched_collectives_fail_clearly(tmp_path):
    common = """
        import datetime, sys
        import chainrule as torch
        import chainrule.distributed as dist
        dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=3))
        rank = dist.get_rank()
    """
    # Different collectives (or shapes) at the same point: every rank learns what each one called.
    out = run_ranks(2, common + """
        try:
            if rank == 0:
                dist.all_reduce(torch.zeros(3))
            else:
                dist.broadcast(torch.zeros(3), src=0)
        except dist.DistBackendError as e:
            # One write per rank: print's separate pieces from two ranks interleave in the shared stderr.
            sys.stderr.write(f"{rank} {e}\\n")
            sys.exit(0)
        """, tmp_path)
    assert out.returncode == 0, out.stderr
    for rank in (0, 1):
        assert f"{rank} Detected mismatch between collectives on ranks (collective #2): rank 0 called " \
               f"all_reduce(float32 [3], op=SUM); rank 1 called broadcast(float32 [3], src=0)" in out.stderr
    # A rank that never comes: the others fail after the timeout, and the job ends.
    start = time.monotonic()
    out = run_ranks(2, common + """
        import time
        if rank == 1:
            time.sleep(30)
        dist.all_reduce(torch.zeros(3))
        """, tmp_path, timeout=120)
    assert out.returncode != 0 and time.monotonic() - start < 25
    assert "rank 0: all_reduce(float32 [3], op=SUM) (collective #2 of this group) did not complete within 3 s" \
           in out.stderr
    assert "rank 0 failed with DistBackendError" in out.stderr


def test_run_n_reports_what_is_wrong(tmp_path):
    out = run_chainrule(["run", "-n", "2", str(tmp_path / "nope.py")], tmp_path)
    assert out.returncode == 2 and "no such program" in out.stderr
    out = run_chainrule(["run", "-n", "0", "x.py"], tmp_path)
    assert out.returncode == 2 and "at least 1" in out.stderr
    out = run_chainrule(["run", "--hostfile", "h", "x.py"], tmp_path)
    assert out.returncode == 1 and "--hostfile needs -n N" in out.stderr

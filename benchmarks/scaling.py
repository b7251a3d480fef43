"""Data-parallel scaling: DistributedDataParallel over 1 and 2 MPI ranks, and the all-reduce cost model.

    python -m benchmarks.scaling                    # writes benchmarks/SCALING.md (~2 min on 2 idle cores)
    python -m benchmarks.scaling --quick            # fewer steps and rounds; prints, writes nothing
    python -m benchmarks.scaling --ranks 1,2,4 --rounds 5 --out /tmp/scaling.md

Workloads (chainrule, float32, one BLAS thread per rank, weak scaling: every rank gets the per-rank batch, so
N ranks process N times the samples per step):

* ``W2``: benchmarks/w2_digits.py's MLP 64-128-64-10 with SGD(momentum), batches of 64 digits per rank.
* ``GPT``: examples/gpt_ddp.py's model (4 layers, 128 wide, 4 heads, 64 tokens), AdamW, 8 sequences per rank.
* ``GPT, one bucket``: the same with all gradients in one bucket (``bucket_cap_mb`` large), i.e. a single
  all-reduce after backward instead of buckets started during it: what the overlap is worth here.

For each, the driver starts ``mpiexec -n R`` workers, alternating the rank counts round by round (so drift of a
shared machine spreads over all of them). A worker times ``--steps`` training steps (after warm-up) with
gradient sync, then the same steps under ``no_sync()`` (compute only), then a standalone ``all_reduce`` of a
buffer as large as the model's gradients. Rank 0 reports medians. Finally 2 ranks time ``all_reduce`` over
message sizes from 8 B to 16 MiB, and a least-squares fit of ``t = 2α + nβ`` (ring all-reduce on 2 ranks)
gives the latency α and inverse bandwidth β used by the cost model in ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from statistics import median

if __package__ in (None, ""):  # also allow `python benchmarks/scaling.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "SCALING.md")
WORKLOADS = {"W2": "W2 digits MLP, 64 samples/rank", "GPT": "GPT step, 8×64 tokens/rank",
             "GPT1": "GPT step, one bucket (no overlap)"}
SWEEP_BYTES = [8 * 4 ** k for k in range(12)]   # 8 B ... 32 MiB


# ----- the worker: one rank -------------------------------------------------------------------------------
def _w2(chainrule, rank, world, steps):
    from benchmarks.mlp import lib_mlp
    from benchmarks.w2_digits import BATCH, LR, MOMENTUM, SIZES, digits
    x_all, y_all = digits()
    model, _ = lib_mlp(chainrule, SIZES, LR, MOMENTUM)
    batches = []
    for k in range(steps):   # rank r's k-th batch: its own 64 samples (wrapping around the 1797)
        idx = [(((k * world + rank) * BATCH) + i) % len(x_all) for i in range(BATCH)]
        batches.append((chainrule.tensor(x_all[idx]), chainrule.tensor(y_all[idx])))
    return model, (lambda params: chainrule.optim.SGD(params, lr=LR, momentum=MOMENTUM)), batches, \
        chainrule.nn.functional.cross_entropy


def _gpt(chainrule, rank, world, steps):
    import importlib.util
    chainrule.install_as_torch()   # examples/gpt_ddp.py is a PyTorch program: `import torch` gives chainrule
    spec = importlib.util.spec_from_file_location("gpt_ddp", os.path.join(REPO_ROOT, "examples", "gpt_ddp.py"))
    gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpt)
    block, vocab = 64, 48
    chainrule.manual_seed(0)
    model = gpt.GPT(vocab, block, n_layer=4, n_embd=128, n_head=4)
    generator = chainrule.Generator().manual_seed(rank)
    batches = [(chainrule.randint(0, vocab, (8, block), generator=generator),
                chainrule.randint(0, vocab, (8, block), generator=generator)) for _ in range(steps)]
    F = chainrule.nn.functional

    def loss_fn(logits, y):
        return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    return model, (lambda params: chainrule.optim.AdamW(params, lr=1e-3)), batches, loss_fn


def worker(workload, steps, warmup):
    import chainrule
    import chainrule.distributed as dist
    from chainrule.nn.parallel import DistributedDataParallel
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    build = _w2 if workload == "W2" else _gpt
    model, make_optimizer, batches, loss_fn = build(chainrule, rank, world, steps + warmup)
    ddp = DistributedDataParallel(model, bucket_cap_mb=1024 if workload == "GPT1" else None)
    optimizer = make_optimizer(ddp.parameters())

    def step(x, y):
        loss = loss_fn(ddp(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def timed(context):
        times = []
        for k, (x, y) in enumerate(batches):
            dist.barrier()
            start = time.perf_counter()
            with context():
                step(x, y)
            if k >= warmup:
                times.append(time.perf_counter() - start)
        return median(times)

    import contextlib
    synced = timed(contextlib.nullcontext)
    compute_only = timed(ddp.no_sync)
    grad_numel = sum(p.numel() for p in model.parameters())
    allreduce = _time_allreduce(chainrule, dist, grad_numel * 4, repeats=20)
    if rank == 0:
        print(json.dumps({"workload": workload, "ranks": world, "step_s": synced, "compute_s": compute_only,
                          "allreduce_s": allreduce, "grad_bytes": grad_numel * 4,
                          "buckets": len(ddp._buckets)}))


def _time_allreduce(chainrule, dist, nbytes, repeats, checked=False):
    """Median seconds of one all-reduce of ``nbytes``: as DDP's buckets do it (one MPI Iallreduce, waited on),
    or, ``checked``, through ``dist.all_reduce`` (which first checks that every rank makes the same call)."""
    pg = dist.group.WORLD
    buffer = chainrule.zeros(max(nbytes // 4, 1))
    array = buffer.numpy()

    def once():
        if checked:
            dist.all_reduce(buffer)
        else:
            pg.wait([pg.comm.Iallreduce(pg.MPI.IN_PLACE, array, pg.MPI.SUM)], "benchmark all-reduce")
    once()
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return median(times)


def sweep_worker(repeats):
    import chainrule
    import chainrule.distributed as dist
    dist.init_process_group("mpi")
    times = {n: _time_allreduce(chainrule, dist, n, repeats) for n in SWEEP_BYTES}
    checked = _time_allreduce(chainrule, dist, 8, repeats, checked=True)
    if dist.get_rank() == 0:
        print(json.dumps({"sweep": times, "checked_8_bytes": checked, "ranks": dist.get_world_size()}))


# ----- the driver -----------------------------------------------------------------------------------------
def _one_blas_thread_env():
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _launch(ranks, *args):
    from chainrule.tools.launch import find_mpiexec
    command = [find_mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.scaling", *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=_one_blas_thread_env(),
                         cwd=REPO_ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fit_alpha_beta(sweep):
    """α and β of t = 2α + nβ (ring all-reduce on 2 ranks: 2(p-1) latencies and 2(p-1)/p of the bytes each
    way), by least squares on the relative error, so 8-byte and 32-MiB messages weigh alike."""
    rows = [(float(n), t) for n, t in sorted(sweep.items())]
    # Minimise Σ ((a + b·n - t) / t)²: the normal equations of a weighted fit with weights 1/t².
    w = [1 / t ** 2 for _, t in rows]
    sw, swn, swnn = sum(w), sum(wi * n for wi, (n, _) in zip(w, rows)), sum(wi * n * n for wi, (n, _) in zip(w, rows))
    swt, swnt = sum(wi * t for wi, (_, t) in zip(w, rows)), sum(wi * n * t for wi, (n, t) in zip(w, rows))
    det = sw * swnn - swn ** 2
    a = (swnn * swt - swn * swnt) / det
    b = (sw * swnt - swn * swt) / det
    return max(a / 2, 0.0), max(b, 1e-15)    # α (s), β (s per byte)


def ring_allreduce_seconds(p, nbytes, alpha, beta):
    """Ring all-reduce of ``nbytes`` over ``p`` ranks: a reduce-scatter then an all-gather, each p-1 steps that
    move n/p bytes, so 2(p-1) latencies and 2(p-1)/p·n bytes through each rank's link."""
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta


# Links between machines, for the projection beside the measured (same-machine) α and β. Typical MPI figures,
# not measured here: TCP over 10 Gb/s Ethernet, and 100 Gb/s InfiniBand (EDR).
NETWORKS = {"10 GbE (α 25 µs, 1.1 GB/s)": (25e-6, 1 / 1.1e9), "IB EDR (α 2 µs, 11 GB/s)": (2e-6, 1 / 11e9)}
PROJECTED_RANKS = (8, 16, 32, 64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKLOADS), help=argparse.SUPPRESS)
    parser.add_argument("--sweep-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run")
    parser.add_argument("--ranks", default="1,2", help="rank counts to compare (default 1,2)")
    parser.add_argument("--rounds", type=int, default=None, help="runs per rank count, alternating (default 3)")
    parser.add_argument("--quick", action="store_true", help="few steps and rounds; print, write nothing")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.worker:
        warmup = 3 if args.worker == "W2" else 2
        return worker(args.worker, args.steps, warmup)
    if args.sweep_worker:
        return sweep_worker(args.steps)

    steps = {"W2": 60, "GPT": 10, "GPT1": 10} if not args.quick else {"W2": 10, "GPT": 3, "GPT1": 3}
    if args.steps:
        steps = {k: args.steps for k in steps}
    rounds = args.rounds or (1 if args.quick else 3)
    rank_counts = [int(r) for r in args.ranks.split(",")]
    load_before = os.getloadavg()
    runs = {}
    for r in range(rounds):
        for workload in WORKLOADS:
            order = rank_counts[r % len(rank_counts):] + rank_counts[:r % len(rank_counts)]
            for ranks in order:
                result = _launch(ranks, "--worker", workload, "--steps", str(steps[workload]))
                runs.setdefault((workload, ranks), []).append(result)
                print(f"round {r}: {workload} on {ranks} rank(s): {result['step_s'] * 1e3:.2f} ms/step", flush=True)
    measured = _launch(2, "--sweep-worker", "--steps", "10" if args.quick else "40")
    sweep = {int(k): v for k, v in measured["sweep"].items()}
    load_after = os.getloadavg()
    report = render(runs, rank_counts, sweep, measured["checked_8_bytes"], load_before, load_after, rounds, steps)
    print(report)
    if not args.quick:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(report)
        print(f"wrote {args.out}")


def render(runs, rank_counts, sweep, checked, load_before, load_after, rounds, steps):
    def med(workload, ranks, key):
        return median(run[key] for run in runs[(workload, ranks)])

    lines = ["# Data-parallel scaling (DistributedDataParallel over MPI)", "",
             f"Written by `python -m benchmarks.scaling` on {datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}; one BLAS thread per rank; "
             f"medians of {rounds} runs per cell (steps per run: {steps}). Load average (1 min) before/after: "
             f"{load_before[0]:.1f} / {load_after[0]:.1f} — other jobs on the machine slow the ranks unevenly, "
             "so compare figures of one run.", "",
             "Weak scaling: each rank gets the per-rank batch, so R ranks train on R times the samples per step. "
             "Throughput ratio = (R · step time on 1 rank) / (step time on R ranks). *compute only* is the same "
             "step under `no_sync()`, and *sync cost* the difference (the all-reduce DDP could not hide, plus "
             "waiting for the slower rank); *all-reduce alone* is one MPI all-reduce of a buffer the size of the "
             "gradients, timed alone (as DDP's buckets do it).", "",
             "| workload | ranks | ms/step | ms/step compute only | sync cost per step (ms) | all-reduce of the "
             "gradients alone (ms) | gradient size | buckets | throughput vs 1 rank |",
             "|---|---|---|---|---|---|---|---|---|"]
    for workload, title in WORKLOADS.items():
        base = med(workload, 1, "step_s") if (workload, 1) in runs else None
        for ranks in rank_counts:
            if (workload, ranks) not in runs:
                continue
            step = med(workload, ranks, "step_s")
            ratio = f"{ranks * base / step:.2f}×" if base else "—"
            allreduce = med(workload, ranks, "allreduce_s") * 1e3 if ranks > 1 else 0.0
            compute = med(workload, ranks, "compute_s")
            lines.append(f"| {title} | {ranks} | {step * 1e3:.2f} | {compute * 1e3:.2f} | "
                         f"{(step - compute) * 1e3:.2f} | {allreduce:.3f} | "
                         f"{runs[(workload, ranks)][0]['grad_bytes'] / 2 ** 20:.2f} MiB | "
                         f"{runs[(workload, ranks)][0]['buckets']} | {ratio} |")
    alpha, beta = fit_alpha_beta(sweep)
    lines += ["", "## all_reduce on 2 ranks (same machine, shared memory)", "",
              "| bytes | µs | GB/s (bytes / time) |", "|---|---|---|"]
    for n in sorted(sweep):
        lines.append(f"| {n:,} | {sweep[n] * 1e6:.1f} | {n / sweep[n] / 1e9:.3f} |")
    lines += ["", f"Fit of t = 2α + nβ: α = {alpha * 1e6:.1f} µs, 1/β = {1 / beta / 1e9:.2f} GB/s. "
              f"`dist.all_reduce` of 8 bytes, with its check that every rank makes the same call: "
              f"{checked * 1e6:.1f} µs.", ""]
    lines += projection(runs, alpha, beta)
    return "\n".join(lines)


def projection(runs, alpha, beta):
    """The ring cost model at 8-64 ranks: all-reduce time per step and the scaling efficiency it leaves,
    t_compute / (t_compute + t_allreduce) (no overlap), with the 1-rank compute time measured above."""
    links = {f"measured here (α {alpha * 1e6:.1f} µs, {1 / beta / 1e9:.2f} GB/s)": (alpha, beta), **NETWORKS}
    lines = ["## Ring all-reduce projected to 8-64 ranks", "",
             "t = 2(p−1)·α + 2(p−1)/p · n·β per step, for each workload's gradients (n bytes), and the efficiency "
             "t_compute / (t_compute + t) it leaves when none of it overlaps backward (t_compute: the 1-rank "
             "compute-only step above). The two network rows are typical MPI figures for those links, not "
             "measurements.", "",
             "| workload | link | " + " | ".join(f"p = {p}" for p in PROJECTED_RANKS) + " |",
             "|---|---|" + "---|" * len(PROJECTED_RANKS)]
    for workload in ("W2", "GPT"):
        if (workload, 1) not in runs:
            continue
        nbytes = runs[(workload, 1)][0]["grad_bytes"]
        compute = median(run["compute_s"] for run in runs[(workload, 1)])
        for link, (a, b) in links.items():
            cells = []
            for p in PROJECTED_RANKS:
                t = ring_allreduce_seconds(p, nbytes, a, b)
                cells.append(f"{t * 1e3:.2f} ms, {compute / (compute + t):.0%}")
            lines.append(f"| {WORKLOADS[workload]} | {link} | " + " | ".join(cells) + " |")
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())

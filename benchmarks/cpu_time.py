"""CPU seconds per unit with one thread per library: a comparison that a busy machine hardly moves.

    python -m benchmarks.cpu_time W7 W9            # chainrule and PyTorch, 2 alternating rounds of 3 runs each
    python -m benchmarks.cpu_time W4 --repeats 5 --rounds 3

``make bench`` times wall clock with every library's threads (PyTorch's OpenMP pool, OpenBLAS's), as a user
sees it; on a shared machine that measures the load as much as the code (PyTorch's threads wait for each
other at every barrier: under a load of 8-10 on 2 cores, its W10 step took 44 ms instead of 0.4 ms). Here
each implementation runs in a fresh subprocess with one BLAS/OpenMP thread and is timed in CPU seconds
(``time.process_time``), which counts only the time the process itself ran. Each run is built untimed (the
same ``lib_run`` the benchmark times), then run once; the first run of a process is a warm-up. A cell is
the median of a round's runs, and the table keeps each implementation's fastest round.
"""
import argparse
import gc
import os
import subprocess
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.run import select  # noqa: E402

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
IMPLS = ("chainrule", "torch")


def child(key, impl, repeats):
    """In the subprocess: ``repeats`` timed runs after a warm-up; prints the median CPU seconds per unit."""
    (workload,) = select(key)
    lib = __import__(impl)
    if impl == "torch":
        lib.set_num_threads(1)
    config = workload.config(False)
    times = []
    for i in range(repeats + 1):
        run = workload.make(impl, lib, config)
        gc.collect()
        start = time.process_time()
        run()
        if i:
            times.append((time.process_time() - start) / workload.units(config))
    print(sorted(times)[len(times) // 2])


def measure(key, impl, repeats):
    out = subprocess.run([sys.executable, "-m", "benchmarks.cpu_time", "--child", key, impl, str(repeats)],
                         env={**os.environ, **ONE_THREAD}, capture_output=True, text=True, timeout=1800,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode:
        raise SystemExit(f"{key} {impl} failed: {(out.stderr.strip().splitlines() or ['no output'])[-1]}")
    return float(out.stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description="CPU time per unit, one thread, chainrule vs PyTorch")
    parser.add_argument("workloads", nargs="*", help="keys or names (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process (after a warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating processes per implementation")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))
    workloads = select(",".join(args.workloads)) if args.workloads else select(None)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| workload | unit | chainrule | PyTorch | chainrule / PyTorch |\n|---|---|---|---|---|")
    for w in workloads:
        rounds = {impl: [] for impl in IMPLS}
        for r in range(args.rounds):   # alternating, the order rotated every round
            for impl in IMPLS[r % 2:] + IMPLS[:r % 2]:
                rounds[impl].append(measure(w.key, impl, args.repeats))
        best = {impl: min(times) for impl, times in rounds.items()}
        cells = [f"{best[impl] * w.unit_scale:.4g}" for impl in IMPLS]
        print(f"| {w.key} {w.name} | {w.unit} (CPU) | {cells[0]} | {cells[1]} | "
              f"{best['chainrule'] / best['torch']:.2f}× |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

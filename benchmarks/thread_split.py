"""What chainrule's thread splitting gains on whole workloads: chainrule on 1 thread against N, alternating.

    python -m benchmarks.thread_split W7 W8 W9             # 5 rounds, chainrule threads 1 vs 2
    python -m benchmarks.thread_split W8 --rounds 7 --threads 3

chainrule splits its large exp/tanh/softmax/GELU passes over ``chainrule.get_num_threads()`` threads
(``chainrule/ops/_parallel.py``). Each measurement here is a fresh subprocess with ``OMP_NUM_THREADS`` set to 1
or N (which chainrule reads) and ``OPENBLAS_NUM_THREADS`` fixed (``--blas``, default 2), so only chainrule's own
splitting differs (``--blas-timeout N`` also shortens OpenBLAS's idle spin in both: see ``blas_spin.py``); the two
settings take turns, round by round, so that the machine's changing speed falls on both. A cell is the median
over rounds of each process's median of three runs (after a warm-up, each timed as the benchmark harness times a
run), per unit.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.harness import REPO_ROOT, _time_one_run  # noqa: E402
from benchmarks.run import select  # noqa: E402


def child(key):
    """In the subprocess: the median of three timed runs of the workload (the harness's timing), seconds per unit."""
    import chainrule
    (workload,) = select(key)
    config = workload.config(False)
    workload.make("chainrule", chainrule, workload.check_config)()   # warm-up
    times = [_time_one_run(workload, "chainrule", chainrule, config) / workload.units(config) for _ in range(3)]
    print(json.dumps({"seconds": statistics.median(times), "threads": chainrule.get_num_threads()}))


def measure(key, threads, blas, blas_timeout=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(blas),
               PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if blas_timeout is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = str(blas_timeout)
    out = subprocess.run([sys.executable, "-m", "benchmarks.thread_split", "--child", key], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=1800, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["threads"] == threads, result
    return result["seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["W7", "W8", "W9"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="chainrule's threads to compare with 1")
    parser.add_argument("--blas", type=int, default=2, help="OPENBLAS_NUM_THREADS in both settings")
    parser.add_argument("--blas-timeout", type=int,
                        help="OPENBLAS_THREAD_TIMEOUT in both settings: OpenBLAS's idle threads spin 2^N cycles "
                             "after a product (default 2^28, ~0.1 s; see benchmarks/blas_spin.py)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child)
    print(f"load average before: {os.getloadavg()[0]:.2f}; OPENBLAS_THREAD_TIMEOUT "
          f"{'default' if args.blas_timeout is None else args.blas_timeout}")
    print(f"| workload | unit | chainrule, 1 thread | chainrule, {args.threads} threads | ratio |")
    print("|---|---|---|---|---|")
    for key in args.workloads:
        (workload,) = select(key)
        results = {1: [], args.threads: []}
        for _ in range(args.rounds):
            for threads in results:
                results[threads].append(measure(key, threads, args.blas, args.blas_timeout) * workload.unit_scale)
        one, many = (statistics.median(results[t]) for t in (1, args.threads))
        print(f"| {workload.key} {workload.name} | {workload.unit} | {one:.4g} | {many:.4g} | {many / one:.2f}× |",
              flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

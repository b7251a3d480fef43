"""Profile one workload on one implementation with cProfile and print the top functions.

    python -m benchmarks.profile W1                       # chainrule, full size, top 15 by tottime
    python -m benchmarks.profile overhead --impl torch --top 25 --sort cumtime

The run is built (untimed setup) and warmed up with the workload's small check configuration, then
one run of the timed configuration is profiled — the same code the benchmark times.
"""
import argparse
import cProfile
import pstats

from benchmarks import harness
from benchmarks.run import select


def main(argv=None):
    parser = argparse.ArgumentParser(description="cProfile one benchmark workload")
    parser.add_argument("workload", help="key or name, e.g. W1 or xor")
    parser.add_argument("--impl", default="chainrule", choices=harness.IMPLS)
    parser.add_argument("--quick", action="store_true", help="profile the --quick size")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumtime, ncalls…)")
    args = parser.parse_args(argv)

    (workload,) = select(args.workload)
    library = harness.load_library(args.impl)
    if library.unavailable:
        raise SystemExit(library.unavailable)
    workload.make(args.impl, library.module, workload.check_config)()  # warm-up
    run = workload.make(args.impl, library.module, workload.config(args.quick))
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()

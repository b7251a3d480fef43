"""Profile one workload on one implementation with cProfile and print the top functions.

    python -m benchmarks.profile W1                       # chainrule, full size, top 15 by tottime
    python -m benchmarks.profile overhead --impl torch --top 25 --sort cumtime
    python -m benchmarks.profile W7 --impl compiled --kernels   # time each kernel of a chainrule.compile replay
    python -m benchmarks.profile W7 --impl torch --kernels      # PyTorch's time per ATen operator, to compare

The run is built (untimed setup) and warmed up with the workload's small check configuration, then
one run of the timed configuration is profiled — the same code the benchmark times.

cProfile cannot see inside a ``chainrule.compile`` replay (one generated function calling NumPy ufuncs, which
it does not count as calls), so ``--kernels`` times the replay's kernels one by one instead: after the run,
the program the run replayed last is replayed ``--replays`` times kernel by kernel, and the time is summed per
NumPy function (GEMMs are ``matmul``; ``np.add.reduce`` is ``add.reduce``). With ``--impl torch``, ``--kernels``
prints torch.profiler's self CPU time per ATen operator of one run (GEMMs are ``aten::mm``/``aten::bmm``), to
compare with.
"""
import argparse
import cProfile
import pstats
import time
from collections import Counter, defaultdict

from benchmarks import harness
from benchmarks.run import select


def main(argv=None):
    parser = argparse.ArgumentParser(description="cProfile one benchmark workload")
    parser.add_argument("workload", help="key or name, e.g. W1 or xor")
    parser.add_argument("--impl", default="chainrule", choices=harness.IMPLS)
    parser.add_argument("--quick", action="store_true", help="profile the --quick size")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumtime, ncalls…)")
    parser.add_argument("--kernels", action="store_true",
                        help="--impl compiled: time each kernel of the captured program, summed per function; "
                             "--impl torch: torch.profiler's self CPU time per operator")
    parser.add_argument("--replays", type=int, default=5, help="replays timed kernel by kernel (--kernels)")
    args = parser.parse_args(argv)
    if args.kernels and args.impl not in ("compiled", "torch"):
        parser.error("--kernels works with --impl compiled (a chainrule.compile program) or --impl torch")

    (workload,) = select(args.workload)
    library = harness.load_library(args.impl)
    if library.unavailable:
        raise SystemExit(library.unavailable)
    workload.make(args.impl, library.module, workload.check_config)()  # warm-up
    run = workload.make(args.impl, library.module, workload.config(args.quick))
    if args.kernels and args.impl == "torch":
        from torch.profiler import profile
        run()
        with profile() as prof:
            run()
        return print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top))
    if args.kernels:
        run()
        return print_kernel_profile(args.top, args.replays)
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)


def _kernel_name(func):
    owner = getattr(func, "__self__", None)
    if owner is not None and type(owner).__name__ == "ufunc":
        return f"{owner.__name__}.{func.__name__}"                # np.add.reduce -> add.reduce
    return getattr(func, "__name__", type(func).__name__)


def print_kernel_profile(top, replays):
    """Time every kernel of the chainrule.compile program replayed last, ``replays`` times; print per function."""
    from chainrule.compile import CompiledStep

    steps = [v for value in harness._CAPTURED.values() for v in (value if isinstance(value, tuple) else (value,))
             if isinstance(v, CompiledStep)]
    if not steps or not steps[-1].programs:
        raise SystemExit("no captured chainrule.compile program: does the workload define a compiled_factory?")
    program = steps[-1].programs[-1]
    seconds, calls = defaultdict(float), Counter()
    for _ in range(replays):
        for func, args, kwargs in program.kernels:
            start = time.perf_counter()
            func(*args, **kwargs)
            seconds[_kernel_name(func)] += time.perf_counter() - start
            calls[_kernel_name(func)] += 1
    total = sum(seconds.values())
    print(f"{len(program.kernels)} kernels, {total / replays * 1e3:.2f} ms per replay (kernel by kernel, "
          f"mean of {replays} replays)")
    print(f"{'ms/replay':>10} {'share':>6} {'calls':>6}  function")
    for name, t in sorted(seconds.items(), key=lambda item: -item[1])[:top]:
        print(f"{t / replays * 1e3:10.3f} {t / total:6.1%} {calls[name] // replays:6d}  {name}")


if __name__ == "__main__":
    main()

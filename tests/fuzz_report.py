"""``make fuzz``: run thousands of random programs in PyTorch and chainrule and tally the mismatches.

    python tests/fuzz_report.py [--programs 5000] [--seed 0] [--examples 3]

Prints the number of programs run, then the mismatches by kind (with the ops where they showed and a
few example programs); a kind tests/differential.py lists in KNOWN (a PyTorch inconsistency chainrule
does not copy) is printed with its reason. Exits 1 if any program mismatched in a way not explained
there.
"""
import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings  # noqa: E402

import differential  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--programs", type=int, default=5000, help="how many programs to run (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--examples", type=int, default=3, help="example programs shown per kind (default 3)")
    parser.add_argument("--max-steps", type=int, default=6, help="steps per program (default up to 6)")
    args = parser.parse_args(argv)

    kinds = collections.Counter()
    by_op = collections.Counter()   # (kind, the op of the step where it showed)
    examples = collections.defaultdict(list)
    ran = [0]
    mismatched = [0]
    unexplained = [0]
    reasons = {}

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.programs, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(differential.programs(max_steps=args.max_steps))
    def fuzz(program):
        ran[0] += 1
        found = differential.run(program)
        if found:
            mismatched[0] += 1
        if any(m.known is None for m in found):
            unexplained[0] += 1
        for m in found:
            if m.known:
                reasons[m.kind] = m.known
        for kind in sorted({m.kind for m in found}):
            kinds[kind] += 1
            by_op[kind, next(m.op for m in found if m.kind == kind)] += 1
            if len(examples[kind]) < args.examples:
                m = next(m for m in found if m.kind == kind)
                examples[kind].append(f"{program.describe()}\n  -> at {m.where}: {m.detail}")

    start = time.perf_counter()
    fuzz()
    elapsed = time.perf_counter() - start
    print(f"programs run: {ran[0]} in {elapsed:.0f} s (seed {args.seed}, up to {args.max_steps} steps each)")
    print("how the agreeing runs ended: " + ", ".join(f"{k} {v}" for k, v in differential.OUTCOMES.items()))
    print(f"programs with a mismatch: {mismatched[0]} ({unexplained[0]} not explained by a known PyTorch "
          f"inconsistency)")
    for kind, n in kinds.most_common():
        ops = ", ".join(f"{op} {k}" for (kd, op), k in by_op.most_common() if kd == kind)
        print(f"\n== {kind}: {n} programs (by op: {ops})")
        if kind in reasons:
            print(f"   known: {reasons[kind]}")
        for ex in examples[kind]:
            print("  " + ex.replace("\n", "\n  "))
    return 1 if unexplained[0] else 0


if __name__ == "__main__":
    sys.exit(main())

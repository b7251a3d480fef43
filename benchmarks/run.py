"""Run the benchmark suite and write benchmarks/RESULTS.md.

    python -m benchmarks.run                    # everything; writes benchmarks/RESULTS.md
    python -m benchmarks.run --quick            # smoke test: small sizes, 3 repeats, prints only
    python -m benchmarks.run --only W1,deep     # some workloads, by key or name

chainrule, PyTorch (CPU, eager) and hand-written NumPy each run in a worker process, alternating run by run;
an implementation that lacks a feature, fails, or disagrees with PyTorch is reported, not timed.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

if __package__ in (None, ""):  # also allow `python benchmarks/run.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import (harness, w1_xor, w2_digits, w3_mlp_big, w4_overhead, w5_deep, w6_conv,  # noqa: E402
                        w7_gpt, w8_lstm_lm, w9_cnn, w10_char_mlp)
from benchmarks.harness import IMPLS, LABELS  # noqa: E402

MEMORY_IMPLS = ("chainrule", "torch", "numpy")   # graph capture is timed, not measured for memory
COMPILE_COLUMNS = (
    "The compile columns are steady states: the capture (chainrule.compile's trace, torch.compile's "
    "compilation) is made once per worker process, outside the timed runs, and each run starts from the same "
    "weights. **compile / PyTorch eager divides a chainrule.compile replay by PyTorch's eager step**, not by "
    "torch.compile's; compile / torch.compile compares the two captured steps. torch.compile runs with its "
    "default backend (inductor, which generates C++ and builds it with the machine's g++; `loss.backward()` is "
    "a graph break it allows). Workloads without a captured variant read n/a in both columns.")

WORKLOADS = [m.WORKLOAD for m in (w1_xor, w2_digits, w3_mlp_big, w4_overhead, w5_deep, w6_conv, w7_gpt, w8_lstm_lm,
                                  w9_cnn, w10_char_mlp)]
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def select(only: str | None):
    if not only:
        return WORKLOADS
    wanted = {w.strip().lower() for w in only.split(",") if w.strip()}
    chosen = [w for w in WORKLOADS if w.key.lower() in wanted or w.name.lower() in wanted]
    unknown = wanted - {w.key.lower() for w in chosen} - {w.name.lower() for w in chosen}
    if unknown:
        names = ", ".join(f"{w.key}/{w.name}" for w in WORKLOADS)
        raise SystemExit(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from {names}")
    return chosen


def load_average() -> float:
    """The 1-minute load average: how many processes wanted a CPU (0.0 where unknown)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def fmt(value: float) -> str:
    """Three significant digits, without scientific notation for the usual range."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def ratio(a, b) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "–"


def run_workload(workload, workers, quick, repeats, memory):
    """Guard, time and (optionally) measure memory of one workload; returns its result record."""
    config = workload.config(quick)
    print(f"\n{workload.key} {workload.name}: {workload.title}  {config}")
    status = harness.check_agreement(workload, workers)
    for impl in IMPLS:
        print(f"  guard {LABELS[impl]:9s} {status[impl].text}")
    timed = [impl for impl in IMPLS if status[impl].ok]
    seconds, errors = harness.time_alternating(workload, workers, timed, config, repeats)
    for impl, text in errors.items():
        status[impl] = harness.Status(False, text)
    units = workload.units(config)
    timings = {impl: harness.summarize(s, units) for impl, s in seconds.items()}
    notes = workload.notes(config, {i: t.seconds_per_unit for i, t in timings.items()}) if workload.notes else {}
    peaks = {}
    if memory and workload.memory:
        for impl in MEMORY_IMPLS:
            if status[impl].ok:
                peaks[impl] = harness.peak_memory(workload, impl, quick)
                print(f"  peak memory {LABELS[impl]:9s} {peaks[impl]}")
    return {"workload": workload, "config": config, "status": status, "timings": timings,
            "notes": notes, "peaks": peaks}


def brief(text: str) -> str:
    """A status short enough for a table cell (the guard table keeps the full text)."""
    text = text.split(" (")[0]
    return text if len(text) <= 70 else text[:69] + "…"


def cell(record, impl) -> str:
    timing = record["timings"].get(impl)
    if timing is None:
        return brief(record["status"][impl].text)
    value = fmt(timing.seconds_per_unit * record["workload"].unit_scale)
    return f"{value} (±{timing.spread * 50:.0f}%)"


def render(records, workers, loads, args, elapsed) -> str:
    info = harness.machine_info(workers)
    info["load average (1 min) before / after"] = f"{loads[0]:.2f} / {loads[1]:.2f}"
    mode = "quick (smoke test; small sizes, not for comparison)" if args.quick else "full"
    lines = [
        "# chainrule benchmarks",
        "",
        f"Generated by `{' '.join(['python -m benchmarks.run'] + sys.argv[1:])}` on "
        f"{datetime.datetime.now().isoformat(timespec='seconds')} in {elapsed:.0f} s; mode: {mode}; "
        f"{args.repeats} timed runs per implementation (after one warm-up round), alternating. "
        "See benchmarks/README.md for what each workload does and how the numbers are computed.",
        "",
    ]
    cores = harness.thread_count()
    if loads[0] > 0.5 * cores or loads[1] > 1.5 * cores:  # "after" includes this benchmark's own load
        lines += [f"**Warning: the machine was busy (1-min load average {loads[0]:.2f} before, {loads[1]:.2f} "
                  f"after, on {cores} cores); other jobs competed for the CPUs, so absolute times "
                  "and spreads are inflated. Ratios from alternating runs suffer less, but rerun on a quiet "
                  "machine before drawing conclusions.**", ""]
    lines += [
        "## Time (median per unit; ± is half the max–min spread of the runs, relative to the median)",
        "",
        "| workload | unit | chainrule | PyTorch | NumPy | chainrule / PyTorch | chainrule / NumPy | "
        "chainrule.compile | torch.compile | compile / PyTorch eager | compile / torch.compile | compile / NumPy | "
        "notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        w, t = r["workload"], r["timings"]
        sec = {i: t[i].seconds_per_unit if i in t else None for i in IMPLS}
        notes = "; ".join(f"{LABELS[i]} {r['notes'][i]}" for i in IMPLS if i in r["notes"])
        lines.append(f"| {w.key} {w.name} | {w.unit} | {cell(r, 'chainrule')} | {cell(r, 'torch')} | "
                     f"{cell(r, 'numpy')} | {ratio(sec['chainrule'], sec['torch'])} | "
                     f"{ratio(sec['chainrule'], sec['numpy'])} | {cell(r, 'compiled')} | {cell(r, 'torch_compiled')} | "
                     f"{ratio(sec['compiled'], sec['torch'])} | {ratio(sec['compiled'], sec['torch_compiled'])} | "
                     f"{ratio(sec['compiled'], sec['numpy'])} | {notes} |")
    lines += ["", "Workloads: " + "; ".join(f"**{r['workload'].key}** {r['workload'].title} {r['config']}"
                                             for r in records) + "."]
    lines += ["", COMPILE_COLUMNS]

    mem = [r for r in records if r["peaks"]]
    if mem:
        lines += ["", "## Peak memory of one run (fresh subprocess per implementation)", "",
                  "Peak RSS during the run minus the RSS just before it (after imports, a small warm-up run "
                  "and the run's setup); in parentheses, what the setup kept (weights, data).", "",
                  "| workload | chainrule | PyTorch | NumPy | chainrule / PyTorch |", "|---|---|---|---|---|"]
        for r in mem:
            peaks = r["peaks"]
            mib = {i: peaks[i].get("peak_mib") if i in peaks else None for i in MEMORY_IMPLS}
            cells = [f"{mib[i]:.1f} MiB (setup {peaks[i]['setup_mib']:.1f})" if mib[i] is not None else
                     brief(peaks[i]["error"] if i in peaks else r["status"][i].text) for i in MEMORY_IMPLS]
            lines.append(f"| {r['workload'].key} {r['workload'].name} | {' | '.join(cells)} | "
                         f"{ratio(mib['chainrule'], mib['torch'])} |")

    lines += ["", "## Correctness guard (small configuration, before timing; compared with PyTorch)", "",
              "| workload | " + " | ".join(LABELS[i] for i in IMPLS) + " |", "|---" * (len(IMPLS) + 1) + "|"]
    for r in records:
        lines.append(f"| {r['workload'].key} {r['workload'].name} | "
                     + " | ".join(r["status"][i].text for i in IMPLS) + " |")

    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += ["", "BLAS / OpenMP thread pools in each worker process (threadpoolctl):", "",
              "| process | library | user_api | internal_api | version | kernel (architecture) | threading | "
              "num_threads |", "|---|---|---|---|---|---|---|---|"]
    for impl, worker in workers.items():
        for p in (worker.info.get("pools", []) if isinstance(worker.info, dict) else []):
            lines.append(f"| {LABELS[impl]} | {p['package']} | {p.get('user_api')} | {p.get('internal_api')} | "
                         f"{p.get('version')} | {p.get('architecture', '–')} | {p.get('threading_layer', '–')} | "
                         f"{p.get('num_threads')} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description="chainrule vs PyTorch vs NumPy benchmarks")
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 repeats (smoke test)")
    parser.add_argument("--only", help="comma-separated workload keys or names, e.g. W1,deep")
    parser.add_argument("--repeats", type=int, help="timed runs per implementation (default 5, quick 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--out", help=f"markdown file to write (default {os.path.relpath(DEFAULT_OUT)}; "
                                      "--quick writes nothing unless --out is given)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    out = args.out or (None if args.quick else DEFAULT_OUT)

    workloads = select(args.only)
    started, load_before = time.perf_counter(), load_average()
    workers = harness.start_workers()
    try:
        for impl, worker in workers.items():
            if worker.unavailable:
                print(f"{LABELS[impl]}: {worker.unavailable}")
        records = [run_workload(w, workers, args.quick, args.repeats, not args.no_memory) for w in workloads]
        loads = (load_before, load_average())
        text = render(records, workers, loads, args, time.perf_counter() - started)
    finally:
        for worker in workers.values():
            worker.close()
    print("\n" + text)
    if out:
        with open(out, "w") as f:
            f.write(text)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Timing harness: worker processes, the correctness guard, alternating timing, medians, peak memory.

Every workload module (``benchmarks/wN_*.py``) describes itself with a :class:`Workload`: a factory that
builds a run for a library module ``lib`` (``torch`` or ``chainrule``; the code is the same for both,
since chainrule's API is PyTorch's), a factory for the hand-written NumPy version, and the sizes to use.
A factory does the untimed setup (data, initial weights) and returns ``run``, a zero-argument callable
that does the timed work and returns the values the correctness guard compares (losses, gradients,
parameters), flattened by :func:`observe`.

Each implementation lives in a :class:`Worker` process of its own that imports only NumPy and its own
library; the benchmark process drives them over pipes. The harness never times code that disagrees
with PyTorch: :func:`check_agreement` runs every implementation on a small configuration first, and
only those that match are timed. Timing (:func:`time_alternating`) interleaves the workers run by run,
rotating the order each round, so slow drift of a shared machine (other jobs, thermal state) spreads
over all columns instead of landing on one. Peak memory is measured in yet another fresh subprocess
per implementation and workload (:func:`peak_memory`).

Run ``python -m benchmarks.harness --peak-memory MODULE IMPL [--quick]`` to get one memory measurement
(this is what :func:`peak_memory` spawns).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from statistics import median
from typing import Any, Callable

import numpy as np

IMPLS = ("chainrule", "compiled", "torch", "torch_compiled", "numpy")
LABELS = {"chainrule": "chainrule", "compiled": "chainrule.compile", "torch": "PyTorch",
          "torch_compiled": "torch.compile", "numpy": "NumPy"}
CHAINRULE_IMPLS = ("chainrule", "compiled")   # both run the chainrule library
TORCH_IMPLS = ("torch", "torch_compiled")
COMPILED_IMPLS = ("compiled", "torch_compiled")   # built by a workload's compiled_factory
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Errors that mean "chainrule does not have this yet" rather than "chainrule is broken".
MISSING_FEATURE_ERRORS = (AttributeError, NotImplementedError, ImportError)


@dataclass
class Workload:
    """One benchmark: how to build it for each implementation and how to report it."""

    key: str                      # "W1"
    name: str                     # "xor"
    title: str                    # one line for the table
    unit: str                     # what a reported number means, e.g. "µs/epoch"
    unit_scale: float             # seconds per unit → reported number (1e6 for µs, 1e3 for ms)
    config: Callable[[bool], dict]  # quick? → keyword arguments for the factories
    check_config: dict            # small keyword arguments for the correctness guard
    units: Callable[[dict], int]  # how many units (epochs, batches, ops…) one run does
    lib_factory: Callable[..., Callable[[], Any]]    # (lib, **config) → run
    numpy_factory: Callable[..., Callable[[], Any]] | None  # (**config) → run; None: no NumPy version
    # (lib, **config) → run of the step captured by lib's compiler (chainrule.compile or torch.compile)
    compiled_factory: Callable[..., Callable[[], Any]] | None = None
    needs: tuple = ()             # dotted attributes of lib that chainrule must have, e.g. "nn.Linear"
    rtol: float = 1e-4            # tolerance of the correctness guard (float32 everywhere)
    atol: float = 1e-5
    notes: Callable[[dict, dict], dict] | None = None  # (config, seconds per unit by impl) → note by impl
    memory: bool = False          # also measure peak memory in a subprocess
    module: str = ""              # the workload's module, for the memory subprocess

    def make(self, impl: str, lib, config: dict) -> Callable[[], Any]:
        """Build (untimed) one run of this workload for ``impl``."""
        if impl == "numpy":
            if self.numpy_factory is None:
                raise NotImplementedError("no hand-written NumPy version of this workload")
            return self.numpy_factory(**config)
        if impl in COMPILED_IMPLS:
            if self.compiled_factory is None:
                raise NotImplementedError("no captured variant of this workload")
            return self.compiled_factory(lib, **config)
        return self.lib_factory(lib, **config)


# --------------------------------------------------------------------------------------------------
# Libraries
# --------------------------------------------------------------------------------------------------

def thread_count() -> int:
    """The number of cores this process may use (what torch.set_num_threads is set to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Library:
    """A loaded implementation: the module (None for NumPy) or the reason it is unavailable."""

    impl: str
    module: Any = None
    unavailable: str | None = None


def load_library(impl: str) -> Library:
    """Import ``torch`` or ``chainrule`` (with its nn/optim subpackages when present)."""
    if impl == "numpy":
        return Library(impl)
    if impl in TORCH_IMPLS:
        import torch

        torch.set_num_threads(thread_count())
        return Library(impl, torch)
    try:
        lib = importlib.import_module("chainrule")
        lib.tensor(1.0)
    except Exception as exc:  # a core being written may fail in any way; report, never crash
        return Library(impl, unavailable=f"chainrule core not usable yet ({short_error(exc)})")
    for sub in ("nn", "nn.functional", "optim"):  # make lib.nn.Linear etc. resolvable, as in torch
        try:
            importlib.import_module(f"chainrule.{sub}")
        except Exception:
            pass
    return Library(impl, lib)


def missing_features(lib, needs) -> list[str]:
    """The dotted attributes in ``needs`` that ``lib`` lacks."""
    missing = []
    for path in needs:
        obj = lib
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                missing.append(path)
                break
    return missing


def short_error(exc: BaseException, limit: int = 120) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_status(exc: BaseException) -> str:
    """'n/a: …' for a missing feature, 'error: …' for anything else."""
    if isinstance(exc, MISSING_FEATURE_ERRORS):
        return f"n/a: {short_error(exc)}"
    return f"error: {short_error(exc)}"


def compile_step(lib, step):
    """``step`` captured by ``lib``'s compiler: ``chainrule.compile(step, fullgraph=True)`` (a refusal is an
    error), or ``torch.compile(step)`` with its default backend (inductor; ``loss.backward()`` is a graph
    break, which torch.compile allows outside fullgraph mode)."""
    if lib.__name__ == "torch":
        return lib.compile(step)
    return lib.compile(step, fullgraph=True)


_CAPTURED: dict = {}


def captured_once(lib, key, build):
    """``build()``'s result, made once per worker process and library: a captured step is reused by every
    run built afterwards (each run puts the weights back in place). torch.compile guards on the identity of
    the tensors a step reads, so a step rebuilt around new tensors would be compiled again, for minutes."""
    if (lib.__name__, key) not in _CAPTURED:
        _CAPTURED[(lib.__name__, key)] = build()
    return _CAPTURED[(lib.__name__, key)]


# --------------------------------------------------------------------------------------------------
# Observables and the correctness guard
# --------------------------------------------------------------------------------------------------

def to_numpy(value) -> np.ndarray:
    """A float64 NumPy copy of an array, a tensor (torch or chainrule) or a Python number."""
    if isinstance(value, np.ndarray | np.generic | float | int):
        return np.asarray(value, dtype=np.float64)
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy(), dtype=np.float64)
    return np.asarray(value.tolist(), dtype=np.float64)


def observe(*values) -> np.ndarray:
    """Flatten losses, gradients and parameters into one vector the guard can compare."""
    return np.concatenate([to_numpy(v).ravel() for v in values])


@dataclass
class Status:
    """Whether an implementation may be timed, and what the table says about it."""

    ok: bool
    text: str  # "ok (max abs err 1e-07)", "n/a: …", "error: …", "WRONG: …"


def check_agreement(workload: Workload, workers: dict[str, "Worker"]) -> dict[str, Status]:
    """Run every implementation on ``workload.check_config`` and compare with PyTorch (else NumPy).

    An implementation that is unavailable, raises, or disagrees beyond ``rtol``/``atol`` is marked and
    will not be timed, so a benchmark never times wrong code.
    """
    status: dict[str, Status] = {}
    outputs: dict[str, np.ndarray] = {}
    for impl, worker in workers.items():
        ok, result = worker.call("check", workload.module)
        if ok:
            outputs[impl] = result
        else:
            status[impl] = Status(False, result)
    reference = "torch" if "torch" in outputs else ("numpy" if "numpy" in outputs else None)
    for impl, out in outputs.items():
        if impl == reference:
            status[impl] = Status(True, "reference")
            continue
        ref = outputs[reference]
        if out.shape != ref.shape:
            status[impl] = Status(False, f"WRONG: {out.size} values, {LABELS[reference]} has {ref.size}")
            continue
        err = np.abs(out - ref)
        bad = ~(err <= workload.atol + workload.rtol * np.abs(ref))  # also catches NaN
        if bad.any():
            i = int(np.argmax(bad))
            status[impl] = Status(False, f"WRONG: value {i} is {out[i]:.6g}, {LABELS[reference]} "
                                         f"says {ref[i]:.6g} ({int(bad.sum())} of {out.size} differ)")
        else:
            status[impl] = Status(True, f"ok (max abs err {err.max():.1e} vs {LABELS[reference]})")
    return status


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------

def rotate(seq, k):
    k %= max(len(seq), 1)
    return list(seq[k:]) + list(seq[:k])


def time_alternating(workload: Workload, workers: dict[str, "Worker"], impls: list[str], config: dict,
                     repeats: int, log=print) -> tuple[dict, dict]:
    """Time ``repeats`` runs of each implementation, alternating between them.

    Round 0 is an untimed warm-up. In every round each implementation, in turn, builds a fresh run in
    its worker process (untimed: data, initial weights) and times one run (see :func:`_time_one_run`);
    the order rotates every round, so slow drift of the machine spreads over all columns.

    Returns (seconds per run by impl, error text by impl for those that failed while being timed).
    """
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    errors: dict[str, str] = {}
    for rnd in range(repeats + 1):
        for impl in rotate(impls, rnd):
            if impl in errors:
                continue
            ok, result = workers[impl].call("time", workload.module, config)
            if not ok:
                errors[impl] = result
            elif rnd > 0:
                times[impl].append(result)
        done = ", ".join(f"{LABELS[i]} {times[i][-1] * 1e3:.1f} ms" for i in impls if times[i] and rnd)
        log(f"  {workload.key} round {rnd}/{repeats}{' (warm-up)' if rnd == 0 else ''}  {done}")
    return {impl: t for impl, t in times.items() if t and impl not in errors}, errors


@dataclass
class Timing:
    """Summary of one implementation's runs, per unit (epoch, batch, op…)."""

    seconds_per_unit: float  # median
    spread: float            # (max - min) / median of the runs
    runs: int


def summarize(seconds: list[float], units: int) -> Timing:
    med = median(seconds)
    return Timing(med / units, (max(seconds) - min(seconds)) / med if med else 0.0, len(seconds))


# --------------------------------------------------------------------------------------------------
# Worker processes: one per implementation
# --------------------------------------------------------------------------------------------------

class Worker:
    """One implementation in a process of its own, driven over a pipe by the benchmark process.

    Why not time all three in one process: they would share the garbage collector (whose full passes
    would scan torch's ~200k module objects while timing chainrule, whose graph nodes trigger many such
    passes) and the cores' thread pools (torch's OpenMP and NumPy's OpenBLAS threads), and each library
    would run in a heap the others shaped. A worker imports only numpy and its own library, like a
    script that uses it; the parent alternates between workers, so the comparison stays interleaved.
    A worker waits on its pipe while the others run, so it uses no CPU then.
    """

    def __init__(self, impl: str):
        ctx = multiprocessing.get_context("spawn")
        self.impl = impl
        self.conn, child_end = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(impl, child_end), daemon=True,
                                   name=f"bench-{impl}")
        self.process.start()
        child_end.close()
        ok, self.info = self.call("info")
        self.unavailable = self.info.get("unavailable") if ok else self.info

    def call(self, *message):
        """Send a command, wait for (ok, result); a dead worker reads as an error."""
        try:
            self.conn.send(message)
            return self.conn.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:
            return False, f"error: {LABELS[self.impl]} worker died ({short_error(exc)})"

    def close(self):
        try:
            self.conn.send(("exit",))
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()


def _worker_main(impl: str, conn):
    """The worker's loop: load the library once, then answer info / check / time until told to exit."""
    library = load_library(impl)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        command, args = message[0], message[1:]
        if command == "exit":
            return
        try:
            if command == "info":
                reply = (True, _library_info(library))
            elif library.unavailable:
                reply = (False, f"n/a: {library.unavailable}")
            else:
                workload = importlib.import_module(args[0]).WORKLOAD
                missing = missing_features(library.module, workload.needs) if impl in CHAINRULE_IMPLS else []
                if missing:
                    reply = (False, f"n/a: chainrule has no {', '.join(missing)} yet")
                elif command == "check":
                    reply = (True, observe(workload.make(impl, library.module, workload.check_config)()))
                else:  # "time"
                    reply = (True, _time_one_run(workload, impl, library.module, args[1]))
        except Exception as exc:
            reply = (False, failure_status(exc))
        conn.send(reply)


def _time_one_run(workload: Workload, impl: str, lib, config: dict, settle_s: float = 0.25) -> float:
    """Build a run (untimed), then time it with ``time.perf_counter``.

    Before the clock starts: ``gc.collect()`` (so the last run's garbage isn't collected on this one's
    time) and a ``settle_s`` pause, so that the previous worker's BLAS threads have stopped spinning:
    an idle OpenBLAS thread busy-waits about 2**28 cycles (~0.1 s) before it sleeps, and on 2 cores a
    spinning thread of another process halves what a 2-thread matmul gets (measured: W2 doubled with a
    50 ms pause, after NumPy's runs only). The collector stays enabled during the run: collecting what a
    library allocates is part of its cost.
    """
    run = workload.make(impl, lib, config)
    gc.collect()
    time.sleep(settle_s)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _library_info(library: Library) -> dict:
    """Versions and thread settings, as seen from inside a worker."""
    info = {"unavailable": library.unavailable, "pools": blas_pools()}
    lib = library.module
    if library.impl in TORCH_IMPLS:
        config = lib.__config__.show()
        blas = re.search(r"BLAS_INFO=\w+", config)
        capability = re.search(r"CPU capability usage: (\w+)", config)
        info["version"] = (f"{lib.__version__} ({blas.group(0) if blas else 'BLAS_INFO=?'}, "
                           f"CPU capability {capability.group(1) if capability else '?'})")
        info["threads"] = lib.get_num_threads()
    elif library.impl in CHAINRULE_IMPLS and lib is not None:
        info["version"] = getattr(lib, "__version__", "importable (no __version__)")
        info["threads"] = lib.get_num_threads()
    return info


def start_workers(impls=IMPLS) -> dict[str, Worker]:
    return {impl: Worker(impl) for impl in impls}


# --------------------------------------------------------------------------------------------------
# Peak memory, each implementation in a fresh subprocess
# --------------------------------------------------------------------------------------------------

def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS; Linux ≥ 4.0 only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _release_free_heap() -> None:
    """Give the memory malloc holds free back to the kernel (glibc's ``malloc_trim``), so that RSS counts
    only live memory. chainrule keeps freed blocks for reuse (chainrule/_allocator.py): without this, what
    the warm-up and setup freed would sit in "RSS before the run" and the run would reuse it unseen."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):   # not glibc: nothing to release this way
        pass


def _peak_memory_child(module_name: str, impl: str, quick: bool) -> dict:
    """Inside the subprocess: import, warm up, build the run (setup), then measure the run's own peak.

    The warm-up (one run of the small check configuration) loads the libraries' lazily loaded kernels
    (MKL, oneDNN, OpenBLAS buffers), which would otherwise count as the run's memory. The kernel's
    peak-RSS counter (VmHWM) is reset right before the run, so neither the import spike (torch's is
    hundreds of MiB) nor the setup's temporaries hide or inflate the run's own peak. Linux only.
    """
    workload = importlib.import_module(module_name).WORKLOAD
    library = load_library(impl)
    if library.unavailable:
        return {"error": f"n/a: {library.unavailable}"}
    if impl in CHAINRULE_IMPLS and (missing := missing_features(library.module, workload.needs)):
        return {"error": f"n/a: chainrule has no {', '.join(missing)} yet"}
    if not _reset_peak_rss() or _proc_status_kib("VmHWM") is None:
        return {"error": "n/a: needs Linux's /proc/self/clear_refs and VmHWM"}
    try:
        workload.make(impl, library.module, workload.check_config)()  # warm-up: load lazy kernels
        gc.collect()
        _release_free_heap()
        before_setup = _proc_status_kib("VmRSS")
        run = workload.make(impl, library.module, workload.config(quick))
        gc.collect()
        _release_free_heap()
        before_run = _proc_status_kib("VmRSS")
        _reset_peak_rss()
        run()
        peak = _proc_status_kib("VmHWM")
    except Exception as exc:
        return {"error": failure_status(exc)}
    return {"peak_mib": (peak - before_run) / 1024, "setup_mib": (before_run - before_setup) / 1024,
            "rss_before_run_mib": before_run / 1024}


def peak_memory(workload: Workload, impl: str, quick: bool, timeout_s: float = 900) -> dict:
    """Peak RSS growth (MiB) during one run of ``workload`` on ``impl``, above the RSS before it.

    Measured in a fresh ``python -m benchmarks.harness`` subprocess (see :func:`_peak_memory_child`):
    ``peak_mib`` is what the run itself adds at its peak (graph, activations, gradients, optimizer
    state, temporaries); ``setup_mib`` is what building the run kept (weights, data).
    """
    cmd = [sys.executable, "-m", "benchmarks.harness", "--peak-memory", workload.module, impl]
    if quick:
        cmd.append("--quick")
    try:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"error: memory subprocess timed out after {timeout_s:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"error: memory subprocess exited {proc.returncode}: {tail[:120]}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_pools() -> list[dict]:
    """threadpoolctl's view of every BLAS/OpenMP pool loaded in this process, labelled by package."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    pools = []
    for info in threadpool_info():
        path = info.get("filepath", "")
        owner = next((p for p in ("numpy", "torch", "scipy", "scikit_learn", "sklearn")
                      if f"/{p}" in path), os.path.basename(os.path.dirname(path)))
        pools.append({"package": owner.split(".")[0], **info})
    return pools


def machine_info(workers: dict[str, Worker]) -> dict:
    info = {
        "CPU": cpu_model(),
        "logical cores (os.cpu_count)": os.cpu_count(),
        "cores usable (sched_getaffinity)": thread_count(),
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "numpy": np.__version__,
    }
    torch = workers.get("torch")
    if torch is not None:
        info["torch"] = torch.unavailable or torch.info.get("version")
        if not torch.unavailable:
            info["torch.get_num_threads()"] = f"{torch.info.get('threads')} (set to the usable cores)"
    chainrule = workers.get("chainrule")
    if chainrule is not None:
        info["chainrule"] = chainrule.unavailable or chainrule.info.get("version")
        if not chainrule.unavailable:
            info["chainrule.get_num_threads()"] = (f"{chainrule.info.get('threads')} (its default: OMP_NUM_THREADS "
                                                   f"or the usable cores)")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS"):
        info[var] = os.environ.get(var, "unset")
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak-memory", nargs=2, metavar=("MODULE", "IMPL"), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(_peak_memory_child(*args.peak_memory, args.quick)))


if __name__ == "__main__":
    main()

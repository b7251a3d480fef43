"""Transcendental passes (exp, tanh, log, ...) over large arrays, split between threads.

NumPy runs every ufunc on one thread. For a memory-bound pass (an add, a copy) a second thread gains little,
but exp or tanh cost ~1.5-2.5 ns an element in float32, compute-bound, and NumPy releases the GIL inside the
loop: two halves on two threads take half the time (a 1.4M-element ``np.exp``, the log-softmax of an LSTM
language model's decoder: 3.1 ms -> 1.6 ms on 2 cores). PyTorch's CPU kernels split their loops the same
way, over its intra-op thread pool. Below ``_MIN_ELEMENTS`` handing work to a thread costs more than it saves.

``chainrule.set_num_threads(n)`` sets how many threads take part (1: every pass on the calling thread); the
default is ``OMP_NUM_THREADS`` when set, as in PyTorch, else the cores this process may use. BLAS keeps its
own threads. While ``chainrule.compile`` traces a step, every pass runs whole on the calling thread (the
tracer records one kernel per call).
"""
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .._backend import xp as np
from ..compiler import is_compiling

# Below this many elements a pass stays on one thread: the hand-off (~0.1 ms on this 2-core VM) eats the gain.
# Measured with np.exp on float32, split in two against whole: 128K elements 0.99x, 256K 0.75x, 1M 0.55x.
_MIN_ELEMENTS = 1 << 18


def _default_threads():
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.strip().isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # (not Linux)
        return os.cpu_count() or 1


_threads = _default_threads()
_pool = None
_pool_lock = threading.Lock()


def set_threads(n):
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int):
        raise RuntimeError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _threads, _pool = n, None


def get_threads():
    return _threads


def _workers():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="chainrule-pass")
        return _pool


def _forget_pool_in_child():
    # A forked child (a DataLoader worker) has none of the parent's threads: it starts its own pool if it needs one.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def unary(ufunc, x, out=None):
    """``ufunc(x, out=out)``, for a large C-contiguous ``x`` (and ``out``) in pieces on the worker threads.

    Returns the result as ``ufunc`` would (``out`` when given)."""
    if (x.size < _MIN_ELEMENTS or _threads == 1 or is_compiling() or x.dtype.kind != "f" or not x.flags.c_contiguous
            or (out is not None and (not out.flags.c_contiguous or out.shape != x.shape))):
        return ufunc(x, out=out)
    if out is None:
        out = np.empty(x.shape, x.dtype)    # (exp, tanh, log of a float array keep its dtype)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    over_rows(lambda lo, hi: ufunc(flat_x[lo:hi], out=flat_out[lo:hi]), flat_x.size, flat_x.size)
    return out


# Set on a thread while it runs its piece of a split op: an op inside that piece (GELU's erf calls tanh) runs
# whole on that thread, never split again (and never waits on a pool whose workers are all busy).
_inside = threading.local()


def over_rows(body, rows, elements):
    """``body(lo, hi)`` over row ranges that cover ``[0, rows)``, split between the threads when the work
    (``elements`` in all) is large: for a row-wise op (softmax over the last dim) or a chain of elementwise
    passes (GELU), every thread runs all the passes on its own rows, as PyTorch's kernels do. The ranges are
    disjoint, so the result is the same as one ``body(0, rows)``."""
    n = min(_threads, rows)
    if elements < _MIN_ELEMENTS or n <= 1 or is_compiling() or getattr(_inside, "piece", False):
        body(0, rows)
        return
    bounds = [rows * i // n for i in range(n + 1)]
    pool = _workers()
    # Each piece runs in a copy of the caller's context: NumPy keeps np.errstate there (an exp that overflows
    # on purpose must stay quiet on every thread).
    pending = [pool.submit(contextvars.copy_context().run, _piece, body, lo, hi)
               for lo, hi in zip(bounds[1:-1], bounds[2:])]
    _piece(body, 0, bounds[1])
    for job in pending:
        job.result()


def _piece(body, lo, hi):
    _inside.piece = True
    try:
        body(lo, hi)
    finally:
        _inside.piece = False

"""W5 deep: a 100,000-op chain on a 16-element tensor, forward and backward — graph depth and bookkeeping.

The ops alternate ``y * 1.00001`` and ``y + 0.00001`` (so values stay near the start: 1.00001**50000
≈ 1.65), then ``y.sum().backward()``. A recursive backward dies here; an iterative one should not. The
whole graph is alive at once, so this is also the memory-per-node benchmark (peak RSS is measured in a
subprocess). Reported per run of the whole chain, with µs/op in the notes. The NumPy column is the floor:
the same forward ops, and a backward that multiplies by 1.00001 once per mul (an add passes the gradient
through unchanged).
"""
import numpy as np

from benchmarks.harness import Workload, observe

SCALE, SHIFT = 1.00001, 0.00001


def start():
    return np.random.RandomState(2).randn(16).astype(np.float32)


def lib_run(lib, ops):
    x_np = start()

    def run():
        x = lib.tensor(x_np, requires_grad=True)
        y = x
        for i in range(ops):
            y = y * SCALE if i % 2 == 0 else y + SHIFT
        y.sum().backward()
        return observe(y, x.grad)

    return run


def numpy_run(ops):
    x = start()

    def run():
        y = x
        for i in range(ops):
            y = y * SCALE if i % 2 == 0 else y + SHIFT
        grad = np.ones_like(y)
        for i in range(ops - 1, -1, -1):
            if i % 2 == 0:
                grad = grad * SCALE
        return observe(y, grad)

    return run


def per_op(config, seconds_per_run):
    return {impl: f"{s / config['ops'] * 1e6:.2f} µs/op" for impl, s in seconds_per_run.items()}


WORKLOAD = Workload(
    key="W5", name="deep", title="100,000-op chain (mul/add) on a 16-element tensor, fwd+bwd",
    unit="ms/chain", unit_scale=1e3,
    config=lambda quick: {"ops": 10_000 if quick else 100_000},
    check_config={"ops": 2_000},
    units=lambda cfg: 1,
    lib_factory=lib_run, numpy_factory=numpy_run,
    needs=("tensor",),
    rtol=1e-3, atol=1e-5,
    notes=per_op,
    memory=True,
    module=__name__,
)

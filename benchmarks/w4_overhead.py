"""W4 overhead: 1,000 elementwise ops on a 1-element tensor, forward then backward — pure per-op cost.

The ops cycle through ``y * 1.001``, ``y + 0.001``, ``sin(y)``, ``tanh(y)``, so values and gradients
stay near 1. The gradient is taken with ``y.sum().backward()``. A run builds and differentiates this
graph several times; reported per op (forward and backward together). The NumPy column does the same
1,000 forward ops on a shape-(1,) array and the hand-derived backward (nothing to do for an add).
"""
import numpy as np

from benchmarks.harness import Workload, observe

START = np.array([0.5], dtype=np.float32)
LIB_OPS = (lambda lib, y: y * 1.001, lambda lib, y: y + 0.001, lambda lib, y: lib.sin(y),
           lambda lib, y: lib.tanh(y))


def lib_run(lib, ops, graphs):
    def run():
        for _ in range(graphs):
            x = lib.tensor(START, requires_grad=True)
            y = x
            for i in range(ops):
                y = LIB_OPS[i % 4](lib, y)
            y.sum().backward()
        return observe(y, x.grad)

    return run


def numpy_run(ops, graphs):
    def run():
        for _ in range(graphs):
            x = START.copy()
            y, saved = x, []
            for i in range(ops):           # forward, keeping what each backward rule needs
                k = i % 4
                if k == 0:
                    y = y * 1.001
                elif k == 1:
                    y = y + 0.001
                elif k == 2:
                    saved.append(y)
                    y = np.sin(y)
                else:
                    y = np.tanh(y)
                    saved.append(y)
            grad = np.ones_like(y)
            for i in range(ops - 1, -1, -1):  # backward, in reverse
                k = i % 4
                if k == 0:
                    grad = grad * 1.001
                elif k == 1:
                    pass                      # d(y + c)/dy = 1: nothing to do
                elif k == 2:
                    grad = grad * np.cos(saved.pop())
                else:
                    out = saved.pop()
                    grad = grad * (1 - out * out)
        return observe(y, grad)

    return run


WORKLOAD = Workload(
    key="W4", name="overhead", title="1,000 elementwise ops on a 1-element tensor, fwd+bwd",
    unit="µs/op", unit_scale=1e6,
    config=lambda quick: {"ops": 1000, "graphs": 2 if quick else 10},
    check_config={"ops": 1000, "graphs": 1},
    units=lambda cfg: cfg["ops"] * cfg["graphs"],
    lib_factory=lib_run, numpy_factory=numpy_run,
    needs=("tensor", "sin", "tanh"),
    module=__name__,
)

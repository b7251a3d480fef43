"""W1 xor: the essay's 2-2-1 sigmoid network trained on XOR by plain gradient descent.

X is 4×2, y is 4×1, loss is the mean squared error, the whole batch of 4 each epoch, and the update is
``w ← w − lr·grad`` written by hand under ``no_grad`` (no nn, no optim): parameters are plain tensors
with ``requires_grad=True``. Tiny tensors, so this measures per-op overhead of a real training loop.
"""
import numpy as np

from benchmarks.harness import Workload, captured_once, compile_step, observe

LR = 0.5
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def initial_weights():
    """The same float32 starting point for every implementation (seed 0 converges to XOR)."""
    rng = np.random.RandomState(0)
    w1 = rng.randn(2, 2).astype(np.float32)
    b1 = np.zeros((1, 2), np.float32)
    w2 = rng.randn(2, 1).astype(np.float32)
    b2 = np.zeros((1, 1), np.float32)
    return [w1, b1, w2, b2]


def xor_step(lib, params):
    """One epoch of the essay's loop, as a function (so the captured variant runs the same code)."""
    w1, b1, w2, b2 = params

    def train_step(x, y):
        a1 = lib.sigmoid(x @ w1 + b1)
        y_hat = lib.sigmoid(a1 @ w2 + b2)
        loss = ((y_hat - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        return loss.detach()
    return train_step


def lib_run(lib, epochs):
    """Written once for torch and chainrule."""
    x, y = lib.tensor(X), lib.tensor(Y)
    params = [lib.tensor(p, requires_grad=True) for p in initial_weights()]
    step = xor_step(lib, params)

    def run():
        for _ in range(epochs):
            loss = step(x, y)
        return observe(loss, *params)

    return run


def compiled_run(lib, epochs):
    """The same step captured once (``chainrule.compile``, or ``torch.compile`` for the torch.compile column)
    and replayed every epoch. The capture happens once per worker, outside the timed run; each run puts the
    weights back first, so the timed run is the steady state."""
    x, y = lib.tensor(X), lib.tensor(Y)

    def capture():
        params = [lib.tensor(p, requires_grad=True) for p in initial_weights()]
        step = compile_step(lib, xor_step(lib, params))
        for _ in range(3):          # warm-up, trace, replay
            step(x, y)
        return params, step
    params, step = captured_once(lib, "xor", capture)
    with lib.no_grad():
        for p, start in zip(params, initial_weights()):
            p.copy_(lib.tensor(start))

    def run():
        for _ in range(epochs):
            loss = step(x, y)
        return observe(loss, *params)

    return run


def numpy_run(epochs):
    """The floor: forward, hand-derived backward, in-place update, on float32 arrays."""
    w1, b1, w2, b2 = params = initial_weights()
    n = Y.size

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def run():
        for _ in range(epochs):
            a1 = sigmoid(X @ w1 + b1)
            y_hat = sigmoid(a1 @ w2 + b2)
            diff = y_hat - Y
            loss = (diff * diff).mean()
            dz2 = (2 / n) * diff * y_hat * (1 - y_hat)      # d loss / d z2
            dz1 = (dz2 @ w2.T) * a1 * (1 - a1)              # d loss / d z1
            grads = [X.T @ dz1, dz1.sum(0, keepdims=True), a1.T @ dz2, dz2.sum(0, keepdims=True)]
            for p, g in zip(params, grads):
                p -= LR * g
        return observe(loss, *params)

    return run


WORKLOAD = Workload(
    key="W1", name="xor", title="2-2-1 sigmoid MLP on XOR, MSE, full-batch GD",
    unit="µs/epoch", unit_scale=1e6,
    config=lambda quick: {"epochs": 500 if quick else 5000},
    check_config={"epochs": 20},
    units=lambda cfg: cfg["epochs"],
    lib_factory=lib_run, numpy_factory=numpy_run, compiled_factory=compiled_run,
    needs=("tensor", "sigmoid", "no_grad"),
    module=__name__,
)

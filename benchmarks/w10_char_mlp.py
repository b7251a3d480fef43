"""W10 char-mlp: the character-level MLP language model learners write by hand, trained by plain SGD.

27 characters, a 10-dimensional embedding table ``C``, a context of 3 characters, a hidden layer of 200
with tanh and an output layer of 27: ``emb = C[X]``, ``h = tanh(emb.view(-1, 30) @ W1 + b1)``,
``logits = h @ W2 + b2``, ``F.cross_entropy``; parameters are plain ``requires_grad`` tensors, gradients
are reset with ``p.grad = None`` and the update is ``p.data += -lr * p.grad``. Each step takes a minibatch
of 32 random rows of a fixed dataset of random contexts (the row indices are drawn once with NumPy, so
every implementation sees the same batches). Reported per step. The NumPy column is the same model with
its backward written by hand.
"""
import numpy as np

from benchmarks.harness import Workload, observe

VOCAB, EMBED, CONTEXT, HIDDEN, BATCH, LR, ROWS = 27, 10, 3, 200, 32, 0.1, 5000


def dataset():
    rng = np.random.RandomState(2)
    return (rng.randint(0, VOCAB, (ROWS, CONTEXT)).astype(np.int64),
            rng.randint(0, VOCAB, ROWS).astype(np.int64))


def minibatches(steps):
    return np.random.RandomState(4).randint(0, ROWS, (steps, BATCH)).astype(np.int64)


def initial_weights():
    rng = np.random.RandomState(0)
    fan_in = EMBED * CONTEXT
    return [rng.randn(VOCAB, EMBED).astype(np.float32),
            (rng.randn(fan_in, HIDDEN) * (5 / 3) / fan_in ** 0.5).astype(np.float32),
            (rng.randn(HIDDEN) * 0.01).astype(np.float32),
            (rng.randn(HIDDEN, VOCAB) * 0.01).astype(np.float32),
            np.zeros(VOCAB, np.float32)]


def lib_run(lib, steps):
    X_np, Y_np = dataset()
    X, Y = lib.tensor(X_np), lib.tensor(Y_np)
    batches = [lib.tensor(ix) for ix in minibatches(steps)]
    C, W1, b1, W2, b2 = parameters = [lib.tensor(a, requires_grad=True) for a in initial_weights()]
    cross_entropy = lib.nn.functional.cross_entropy

    def run():
        for ix in batches:
            emb = C[X[ix]]                                   # (32, 3, 10)
            h = lib.tanh(emb.view(-1, EMBED * CONTEXT) @ W1 + b1)
            logits = h @ W2 + b2
            loss = cross_entropy(logits, Y[ix])
            for p in parameters:
                p.grad = None
            loss.backward()
            for p in parameters:
                p.data += -LR * p.grad
        return observe(loss, *parameters)

    return run


def numpy_run(steps):
    X, Y = dataset()
    batches = minibatches(steps)
    C, W1, b1, W2, b2 = parameters = initial_weights()

    def run():
        for ix in batches:
            xb, yb = X[ix], Y[ix]
            emb = C[xb].reshape(-1, EMBED * CONTEXT)
            h = np.tanh(emb @ W1 + b1)
            logits = h @ W2 + b2
            shifted = logits - logits.max(1, keepdims=True)
            exp = np.exp(shifted)
            total = exp.sum(1, keepdims=True)
            rows = np.arange(len(yb))
            loss = (np.log(total[:, 0]) - shifted[rows, yb]).mean()
            dlogits = exp / total
            dlogits[rows, yb] -= 1
            dlogits /= len(yb)
            dW2, db2 = h.T @ dlogits, dlogits.sum(0)
            dpre = (dlogits @ W2.T) * (1 - h * h)
            dW1, db1 = emb.T @ dpre, dpre.sum(0)
            dC = np.zeros_like(C)
            np.add.at(dC, xb.ravel(), (dpre @ W1.T).reshape(-1, EMBED))
            for p, g in zip(parameters, (dC, dW1, db1, dW2, db2)):
                p -= LR * g
        return observe(loss, *parameters)

    return run


WORKLOAD = Workload(
    key="W10", name="char-mlp", title="char MLP: 27 tokens, embed 10, context 3, hidden 200 tanh, batch 32, SGD",
    unit="µs/step", unit_scale=1e6,
    config=lambda quick: {"steps": 50 if quick else 500},
    check_config={"steps": 5},
    units=lambda cfg: cfg["steps"],
    lib_factory=lib_run, numpy_factory=numpy_run,
    needs=("tensor", "tanh", "nn.functional.cross_entropy"),
    rtol=1e-4, atol=1e-6,
    module=__name__,
)

"""W2 digits: an MLP 64-128-64-10 on scikit-learn's 8×8 digits, the typical small training loop.

ReLU, cross-entropy, SGD with momentum 0.9 (lr 0.05), batches of 64 in the dataset's fixed order
(1797 samples: 28 full batches and one of 5, like a DataLoader without shuffling or drop_last).
Pixels are scaled to [0, 1] and stored as float32. A timed run is 10 epochs (one epoch, ~15 ms, was too
short a run: its spread on a shared machine was ±35-47%). Reported per batch.
"""
import importlib.util
import os
from functools import lru_cache

import numpy as np

from benchmarks.harness import Workload, captured_once, compile_step, observe
from benchmarks.mlp import NumpyMLP, initial_weights, lib_mlp, lib_train, train_step

SIZES = (64, 128, 64, 10)
LR, MOMENTUM, BATCH = 0.05, 0.9, 64


@lru_cache(maxsize=1)
def digits():
    """(X float32 in [0, 1], y int64) of scikit-learn's digits, read without importing scikit-learn.

    Importing sklearn (and SciPy with it) would put ~100k objects on the heap of the process being
    timed, which the garbage collector's full passes would scan during chainrule's runs.
    """
    spec = importlib.util.find_spec("sklearn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz") if spec else ""
    if os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        pixels, labels = table[:, :-1], table[:, -1]
    else:  # a scikit-learn with another layout: the official loader
        from sklearn.datasets import load_digits

        data = load_digits()
        pixels, labels = data.data, data.target
    return (pixels / 16.0).astype(np.float32), labels.astype(np.int64)


def batch_slices(samples):
    return [slice(i, min(i + BATCH, samples)) for i in range(0, samples, BATCH)]


def lib_run(lib, samples, epochs=1):
    x_all, y_all = digits()
    x, y = lib.tensor(x_all[:samples]), lib.tensor(y_all[:samples])
    model, optimizer = lib_mlp(lib, SIZES, LR, MOMENTUM)

    def run():
        # slicing happens inside the timed loop, as in a training script that indexes its tensors
        batches = ((x[s], y[s]) for _ in range(epochs) for s in batch_slices(samples))
        return lib_train(lib, model, optimizer, batches)

    return run


def compiled_run(lib, samples, epochs=1):
    """The same training step captured (``chainrule.compile``, or ``torch.compile`` for its column), once per
    worker, with one trace per batch shape made while the run is built (like the model), so the timed epochs
    are the steady state."""
    x_all, y_all = digits()
    x, y = lib.tensor(x_all[:samples]), lib.tensor(y_all[:samples])

    def capture():
        model, optimizer = lib_mlp(lib, SIZES, LR, MOMENTUM)
        return model, optimizer, compile_step(lib, train_step(lib, model, optimizer))
    model, optimizer, step = captured_once(lib, "digits", capture)
    # Steady state: trace every batch shape before timing (warm-up, trace, one replay each), then
    # put the weights back and zero the momentum buffers in place (0.9·0 + g is the first step's g).
    slices = batch_slices(samples)
    for s in {sl.stop - sl.start: sl for sl in slices}.values():
        for _ in range(3):
            step(x[s], y[s])
    with lib.no_grad():
        starts = [array for layer in initial_weights(SIZES) for array in layer]   # w1, b1, w2, b2, ...
        for p, start in zip(model.parameters(), starts):
            p.copy_(lib.tensor(start))
        for state in optimizer.state.values():
            state["momentum_buffer"].zero_()

    def run():
        for _ in range(epochs):
            for s in batch_slices(samples):
                loss = step(x[s], y[s])
        return observe(loss, *model.parameters())

    return run


def numpy_run(samples, epochs=1):
    x_all, y_all = digits()
    x, y = x_all[:samples], y_all[:samples]
    mlp = NumpyMLP(SIZES, LR, MOMENTUM)

    def run():
        for _ in range(epochs):
            for s in batch_slices(samples):
                loss = mlp.step(x[s], y[s])
        return observe(loss, *mlp.parameters())

    return run


WORKLOAD = Workload(
    key="W2", name="digits", title="MLP 64-128-64-10 on load_digits, CE, SGD momentum, batch 64, 10 epochs",
    unit="ms/batch", unit_scale=1e3,
    config=lambda quick: {"samples": 1797, "epochs": 2 if quick else 10},
    check_config={"samples": 3 * BATCH},
    units=lambda cfg: cfg.get("epochs", 1) * len(batch_slices(cfg["samples"])),
    lib_factory=lib_run, numpy_factory=numpy_run, compiled_factory=compiled_run,
    needs=("tensor", "no_grad", "nn.Linear", "nn.ReLU", "nn.Sequential", "nn.functional.cross_entropy",
           "optim.SGD"),
    module=__name__,
)

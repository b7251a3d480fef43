"""W3 mlp-big: SGD training steps of an MLP 784-1024-1024-10 on a random batch of 256 — matmul-bound.

ReLU, cross-entropy, plain SGD (lr 0.01, no momentum). Each run does a few steps on the same batch;
reported per step, with the achieved GFLOP/s counted from the matmuls alone: forward 2·B·in·out per
layer, backward the same for each weight gradient and for each input gradient except the first layer's
(the data needs no gradient). Biases, ReLU and softmax are left out of the count.
"""
import numpy as np

from benchmarks.harness import Workload, observe
from benchmarks.mlp import NumpyMLP, lib_mlp, lib_train

SIZES = (784, 1024, 1024, 10)
LR, BATCH = 0.01, 256


def batch():
    rng = np.random.RandomState(1)
    return rng.randn(BATCH, SIZES[0]).astype(np.float32), rng.randint(0, SIZES[-1], BATCH).astype(np.int64)


def flops_per_step():
    pairs = list(zip(SIZES[:-1], SIZES[1:]))
    matmul = [2 * BATCH * fan_in * fan_out for fan_in, fan_out in pairs]
    return 2 * sum(matmul) + sum(matmul[1:])  # forward + weight grads, + input grads of layers 2..n


def lib_run(lib, steps):
    x_np, y_np = batch()
    x, y = lib.tensor(x_np), lib.tensor(y_np)
    model, optimizer = lib_mlp(lib, SIZES, LR, momentum=0.0)
    return lambda: lib_train(lib, model, optimizer, [(x, y)] * steps)


def numpy_run(steps):
    x, y = batch()
    mlp = NumpyMLP(SIZES, LR, momentum=0.0)

    def run():
        for _ in range(steps):
            loss = mlp.step(x, y)
        return observe(loss, *mlp.parameters())

    return run


def gflops(config, seconds_per_step):
    return {impl: f"{flops_per_step() / s / 1e9:.1f} GFLOP/s" for impl, s in seconds_per_step.items()}


WORKLOAD = Workload(
    key="W3", name="mlp-big", title="MLP 784-1024-1024-10, CE, SGD step, batch 256 (random data)",
    unit="ms/step", unit_scale=1e3,
    config=lambda quick: {"steps": 2 if quick else 10},
    check_config={"steps": 2},
    units=lambda cfg: cfg["steps"],
    lib_factory=lib_run, numpy_factory=numpy_run,
    needs=("tensor", "no_grad", "nn.Linear", "nn.ReLU", "nn.Sequential", "nn.functional.cross_entropy",
           "optim.SGD"),
    rtol=1e-3, atol=1e-4,  # sums over 784-1024 float32 products in different BLAS orders
    notes=gflops,
    memory=True,
    module=__name__,
)

"""W9 cnn: training steps of the LeNet-style network of PyTorch's MNIST example, on 1×28×28 images.

``conv 1→32 3×3``, ReLU, ``conv 32→64 3×3``, ReLU, ``max_pool2d(2)``, flatten (9,216), ``linear 9216→128``,
ReLU, ``linear 128→10``, ``log_softmax`` and ``F.nll_loss``; Adam (lr 1e-3); batch 64. No dropout (its
random masks would differ between the libraries). Each step reads a new batch of random images and
labels. Reported per step; no hand-written NumPy column.
"""
import numpy as np

from benchmarks.harness import Workload, observe
from benchmarks.weights import load_weights, uniform_fan_in

BATCH, LR = 64, 1e-3


def cnn_model(lib):
    nn, F = lib.nn, lib.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            return F.log_softmax(self.fc2(x), dim=1)

    return Net()


def batches(steps, batch):
    rng = np.random.RandomState(5)
    return [(rng.rand(batch, 1, 28, 28).astype(np.float32), rng.randint(0, 10, batch).astype(np.int64))
            for _ in range(steps)]


def lib_run(lib, steps, batch):
    data = [(lib.tensor(x), lib.tensor(y)) for x, y in batches(steps, batch)]
    model = cnn_model(lib)
    load_weights(lib, model, uniform_fan_in)
    optimizer = lib.optim.Adam(model.parameters(), lr=LR)
    F = lib.nn.functional

    def run():
        for x, y in data:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        return observe(loss, *model.parameters())

    return run


WORKLOAD = Workload(
    key="W9", name="cnn", title="CNN conv 1→32→64 3×3, max-pool, 9216→128→10, batch 64, Adam",
    unit="ms/step", unit_scale=1e3,
    config=lambda quick: {"steps": 2 if quick else 5, "batch": BATCH},
    check_config={"steps": 2, "batch": 4},
    units=lambda cfg: cfg["steps"],
    lib_factory=lib_run, numpy_factory=None,
    needs=("tensor", "flatten", "nn.Conv2d", "nn.Linear", "nn.functional.max_pool2d", "nn.functional.nll_loss",
           "optim.Adam"),
    rtol=1e-3, atol=1e-4,   # Adam moves a weight with a near-zero gradient by ~±lr
    # whatever its size, so float32 rounding can flip a few such steps: atol is 10% of lr (1e-3)
    memory=True,
    module=__name__,
)

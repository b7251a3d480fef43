"""One playground run: chainrule trains the network here, and the page asks for pictures of it.

A :class:`Session` holds the data, the model (an ``nn.Sequential`` of ``nn.Linear`` and activations,
in float64) and its optimizer. ``step`` trains whole epochs; ``snapshot`` returns what the page
draws (losses, ‖∂L/∂W‖ per layer, weights, each neuron's output over the input plane);
``trace`` is :func:`chainrule.explain.trace` of one sample, the record the backprop step mode shows.

Everything that computes holds :data:`COMPUTE`: chainrule's random seed and grad mode are shared by
the whole process, and two tabs training at once must not see each other's.
"""
import base64
import math
import threading
import time

import numpy as np

from .. import float64, manual_seed, nn, no_grad, optim, tensor
from ..explain import trace as explain_trace
from ..tools.models import init_weights, mlp
from .data import make_data

__all__ = ["Session", "COMPUTE", "HEATMAP_SIZE", "BOUNDARY_SIZE", "build_model", "trace_record"]

COMPUTE = threading.Lock()
HEATMAP_SIZE, BOUNDARY_SIZE = 24, 64
MAX_EPOCHS_PER_CALL = 5000


def build_model(config):
    """The network for ``config``, with the initial weights its seed gives (the same on every call)."""
    with COMPUTE:
        manual_seed(config.seed)
        model = mlp(config.sizes(), config.activation, output_activation="sigmoid")
        return init_weights(model, config.init).to(float64)


def _optimizer(config, params):
    if config.optimizer == "adam":
        return optim.Adam(params, lr=config.lr, weight_decay=config.l2)
    return optim.SGD(params, lr=config.lr, momentum=0.9 if config.optimizer == "momentum" else 0.0,
                     weight_decay=config.l2)


def _finite(value):
    """JSON has no NaN or infinity: a diverged run's numbers travel as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _pixels(t):
    """Values in [-1, 1] as base64 bytes 0..255 (the page's colour scale), row by row from the top."""
    q = np.round((np.clip(np.nan_to_num(t), -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


class Session:
    def __init__(self, config):
        self.config = config
        self.data = make_data(config)
        self.model = build_model(config)
        self.linears = [m for m in self.model if isinstance(m, nn.Linear)]
        self.optimizer = _optimizer(config, self.model.parameters())
        self.loss_fn = nn.MSELoss() if config.loss == "mse" else nn.BCELoss()
        self.rng = np.random.default_rng(config.seed)          # this run's batches, whatever other tabs do
        self.X, self.y = tensor(self.data.X_train), tensor(self.data.y_train)
        self.X_test, self.y_test = tensor(self.data.X_test), tensor(self.data.y_test)
        self.epoch = 0
        self.train_losses, self.test_losses, self.grad_norms = [], [], []
        self.last_used = time.monotonic()
        with COMPUTE:
            self._measure()

    # ----- training ---------------------------------------------------------------------------------------
    def _measure(self):
        """The training loss and ‖∂L/∂W‖ per layer at the current weights, and the test loss."""
        self.model.zero_grad()
        loss = self.loss_fn(self.model(self.X), self.y)
        loss.backward()
        self.train_losses.append(float(loss.item()))
        self.grad_norms.append([float(np.linalg.norm(m.weight.grad.numpy())) for m in self.linears])
        self.model.zero_grad()
        if len(self.X_test):
            with no_grad():
                self.test_losses.append(float(self.loss_fn(self.model(self.X_test), self.y_test).item()))
        else:
            self.test_losses.append(None)

    def _epoch(self):
        n = len(self.X)
        size = self.config.batch_size if 0 < self.config.batch_size < n else n
        order = self.rng.permutation(n) if size < n else None
        for start in range(0, n, size):
            if order is None:
                xb, yb = self.X, self.y
            else:
                idx = tensor(order[start:start + size])
                xb, yb = self.X[idx], self.y[idx]
            loss = self.loss_fn(self.model(xb), yb)            # 1. forward pass, 2. loss
            self.optimizer.zero_grad()
            loss.backward()                                     # 3. backward pass
            self.optimizer.step()                               # 4. w <- w - lr * dL/dw (5. repeat)
        self.epoch += 1
        self._measure()

    def step(self, epochs=None, budget_ms=None):
        """Train ``epochs`` epochs, or as many as fit in ``budget_ms`` milliseconds (at least one)."""
        self.last_used = time.monotonic()
        deadline = time.monotonic() + (budget_ms or 0) / 1000.0
        limit = min(int(epochs), MAX_EPOCHS_PER_CALL) if epochs else MAX_EPOCHS_PER_CALL
        done = 0
        with COMPUTE:
            while done < limit:
                self._epoch()
                done += 1
                if epochs is None and time.monotonic() >= deadline:
                    break
        return done

    # ----- what the page draws ----------------------------------------------------------------------------
    def _grid(self, size):
        x0, x1, y0, y1 = self.data.domain
        xs = np.linspace(x0, x1, size)
        ys = np.linspace(y1, y0, size)                          # the top row of a picture is the largest x₂
        gx, gy = np.meshgrid(xs, ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def _neuron_pictures(self):
        """Each neuron's output over the input plane, as pixels (inputs first, the output last)."""
        grid = self._grid(HEATMAP_SIZE)
        x0, x1, y0, y1 = self.data.domain
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        half = (x1 - x0) / 2
        layers = [[_pixels((grid[:, i] - centre[i]) / half) for i in range(2)]]
        a = tensor(grid)
        with no_grad():
            modules = list(self.model)
            for i, m in enumerate(modules):
                a = m(a)
                if isinstance(m, nn.Linear):
                    continue
                values = a.numpy()
                name = type(m).__name__
                t = 2 * values - 1 if name == "Sigmoid" else np.tanh(values) if name == "ReLU" else values
                layers.append([_pixels(t[:, j]) for j in range(values.shape[1])])
        return layers

    def _boundary(self):
        with no_grad():
            p = self.model(tensor(self._grid(BOUNDARY_SIZE))).numpy()[:, 0]
        return _pixels(2 * p - 1)

    def _accuracy(self, X, y):
        if not len(X):
            return None
        with no_grad():
            p = self.model(X).numpy()[:, 0]
        return float(((p > 0.5) == (y.numpy()[:, 0] > 0.5)).mean())

    def snapshot(self, since=0):
        """What the page draws now; the loss and gradient-norm history from epoch ``since`` on."""
        self.last_used = time.monotonic()
        since = max(0, min(int(since), len(self.train_losses)))
        with COMPUTE:
            out = {
                "epoch": self.epoch,
                "train_loss": self.train_losses[-1], "test_loss": self.test_losses[-1],
                "train_accuracy": self._accuracy(self.X, self.y),
                "test_accuracy": self._accuracy(self.X_test, self.y_test),
                "history": {"from": since, "train": self.train_losses[since:], "test": self.test_losses[since:],
                            "grad_norms": self.grad_norms[since:]},
                "network": {"weights": [m.weight.detach().numpy().tolist() for m in self.linears],
                            "biases": [m.bias.detach().numpy().tolist() for m in self.linears]},
                "heatmaps": {"size": HEATMAP_SIZE, "layers": self._neuron_pictures()},
                "boundary": {"size": BOUNDARY_SIZE, "values": self._boundary()},
            }
        out["diverged"] = not all(math.isfinite(v) for v in (out["train_loss"],))
        return _finite(out)

    def describe(self):
        """The run's fixed facts: its config, URL query, data points and input plane."""
        return {"config": self.config.as_dict(), "query": self.config.to_query(), "sizes": self.config.sizes(),
                "points": self.data.points(), "domain": list(self.data.domain),
                "n_train": len(self.data.X_train), "n_test": len(self.data.X_test)}

    def parameters(self):
        """The weights and biases now, at full precision (what a trace of this moment uses)."""
        with COMPUTE:
            return {"epoch": self.epoch,
                    "weights": [m.weight.detach().numpy().tolist() for m in self.linears],
                    "biases": [m.bias.detach().numpy().tolist() for m in self.linears]}

    def trace(self, index, split="train"):
        """``chainrule.explain.trace`` of one sample at the current weights (nothing is changed)."""
        self.last_used = time.monotonic()
        X, y = (self.data.X_train, self.data.y_train) if split == "train" else (self.data.X_test, self.data.y_test)
        if split not in ("train", "test"):
            raise ValueError(f"split must be train or test, got {split!r}")
        if not 0 <= index < len(X):
            raise ValueError(f"sample must be 0 to {len(X) - 1} for the {len(X)} {split} points, got {index}")
        with COMPUTE:
            record = explain_trace(self.model, tensor(X[index:index + 1]), tensor(y[index:index + 1]),
                                   self.config.loss, lr=self.config.lr)
            self.model.zero_grad()
        out = trace_record(record)
        out.update(epoch=self.epoch, sample=index, split=split)
        return _finite(out)


def _check(check):
    if check is None:
        return None
    return {"symbol": check.symbol, "formula_text": check.formula_text, "formula": check.formula.tolist(),
            "autograd": check.autograd.tolist(), "numeric": check.numeric.tolist(), "ok": bool(check.ok),
            "max_diff": check.max_diff}


def trace_record(record):
    """A :class:`chainrule.explain.Trace` as plain lists and numbers (what the page and the tests read)."""
    return {
        "x": record.x.tolist(), "y": record.y.tolist(), "prediction": record.prediction.tolist(),
        "loss_kind": record.loss_kind, "loss": record.loss, "loss_after": record.loss_after, "lr": record.lr,
        "eps": record.eps, "rtol": record.rtol, "atol": record.atol, "ok": bool(record.ok),
        "loss_went_down": bool(record.loss_went_down),
        "layers": [{"index": layer.index, "activation": layer.activation, "a_prev": layer.a_prev.tolist(),
                    "weight": layer.weight.tolist(), "bias": layer.bias.tolist(), "z": layer.z.tolist(),
                    "a": layer.a.tolist(), "weight_after": layer.weight_after.tolist(),
                    "bias_after": layer.bias_after.tolist(),
                    "checks": {name: _check(getattr(layer, name)) for name in
                               ("dL_da", "dsigma", "dL_dz", "dL_dW", "dL_db", "dL_da_prev")}}
                   for layer in record.layers],
    }

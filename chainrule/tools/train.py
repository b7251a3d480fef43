"""Train a small MLP on XOR, moons, spirals or digits: the essay's exercise, then a little beyond.

The loop is the essay's five steps, written the PyTorch way::

    y_hat = model(X)                 # 1. forward pass
    loss = loss_fn(y_hat, y)         # 2. loss
    optimizer.zero_grad()
    loss.backward()                  # 3. backward pass: the chain rule, output to input
    optimizer.step()                 # 4. w <- w - lr * dL/dw   (5. repeat)

From Python::

    from chainrule.tools.train import default_config, train
    result = train(default_config("xor"))
    result.accuracy, result.losses[-1]

Printing (the table, the progress bar) is the ``chainrule train`` command's job, not this module's.
"""
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import datasets, manual_seed, nn, no_grad, optim
from ..utils.data import DataLoader, TensorDataset
from .models import init_weights, mlp

__all__ = ["DATASETS", "TrainConfig", "TrainResult", "default_config", "check_size", "build_model", "train", "predict",
           "save_checkpoint", "load_checkpoint", "decision_grid"]

DATASETS = ("xor", "moons", "spirals", "digits")
N_CLASSES = {"xor": 2, "moons": 2, "spirals": 3, "digits": 10}
CHECKPOINT_FORMAT = "chainrule.tools.train/1"


@dataclass
class TrainConfig:
    """Everything that decides a run (saved with the checkpoint, so a model can be rebuilt)."""
    dataset: str
    hidden: tuple = (2,)
    activation: str = "sigmoid"
    loss: str = "mse"              # mse | bce | ce
    optimizer: str = "sgd"         # sgd | momentum | adam
    lr: float = 2.0
    epochs: int = 5000
    batch_size: int = 0            # 0: the whole training set in one batch (plain gradient descent)
    seed: int = 0
    init: str = "default"          # default | normal | kaiming | xavier (see tools.models.init_weights)

    def validate(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.activation not in ("sigmoid", "tanh", "relu"):
            raise ValueError(f"activation must be sigmoid, tanh or relu, got {self.activation!r}")
        if self.loss not in ("mse", "bce", "ce"):
            raise ValueError(f"loss must be mse, bce or ce, got {self.loss!r}")
        if self.optimizer not in ("sgd", "momentum", "adam"):
            raise ValueError(f"optimizer must be sgd, momentum or adam, got {self.optimizer!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 0:
            raise ValueError(f"batch size must be positive (or 0 for the full batch), got {self.batch_size}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive integers, got {self.hidden}")
        return self

    def describe(self):
        opt = {"sgd": "plain gradient descent (SGD)", "momentum": "SGD with momentum 0.9",
               "adam": "Adam"}[self.optimizer]
        batch = "full batch" if self.batch_size == 0 else f"batches of {self.batch_size}"
        return (f"{self.dataset}: hidden {','.join(str(h) for h in self.hidden)}, {self.activation}, "
                f"{self.loss.upper()} loss, {opt}, lr {self.lr:g}, {self.epochs} epochs, {batch}, "
                f"{self.init} init, seed {self.seed}")


_DEFAULTS = {
    # The essay's exercise: 2-2-1 sigmoid network, MSE, plain full-batch gradient descent. nn.Linear's
    # own init (uniform ±1/√2 here) reached 100% accuracy for 89 of seeds 0-99; the essay's N(0, 1)
    # (--init normal) for 76: larger weights start more units saturated, nearer XOR's local minima.
    "xor": dict(hidden=(2,), activation="sigmoid", loss="mse", optimizer="sgd", lr=2.0, epochs=5000,
                batch_size=0, init="default"),
    "moons": dict(hidden=(16, 16), activation="tanh", loss="bce", optimizer="adam", lr=0.01, epochs=100,
                  batch_size=32, init="default"),
    "spirals": dict(hidden=(64, 64), activation="relu", loss="ce", optimizer="adam", lr=0.01, epochs=400,
                    batch_size=0, init="default"),
    "digits": dict(hidden=(64,), activation="relu", loss="ce", optimizer="adam", lr=0.003, epochs=15,
                   batch_size=64, init="default"),
}


def default_config(dataset, **overrides):
    """The settings that work for ``dataset``; keyword arguments override any of them."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    cfg = TrainConfig(dataset=dataset, **_DEFAULTS[dataset])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(int(h) for h in overrides["hidden"])
    return replace(cfg, **overrides).validate()


# ----- data and model -----------------------------------------------------------------------------------
def load_data(dataset):
    """``(X_train, labels_train, X_test, labels_test)``; labels are int64 class indices (test may be None)."""
    if dataset == "xor":
        X, y = datasets.xor()
        return X, y.reshape(-1).long(), None, None
    if dataset == "moons":
        X, y = datasets.moons()
        return X, y, None, None
    if dataset == "spirals":
        X, y = datasets.spirals()
        return X, y, None, None
    split = datasets.digits()
    return split.X_train, split.y_train, split.X_test, split.y_test


def _n_outputs(config):
    k = N_CLASSES[config.dataset]
    if config.loss == "ce":
        return k
    return 1 if k == 2 else k


N_INPUTS = {"xor": 2, "moons": 2, "spirals": 2, "digits": 64}
N_SAMPLES = {"xor": 4, "moons": 200, "spirals": 300, "digits": 1438}


def check_size(config, what="the network"):
    """Refuse, before anything is allocated, a network too large for this machine's memory.

    Counts the parameters, their gradients and optimizer state, and the activations of one batch.
    """
    from .outputs import check_memory
    sizes = [N_INPUTS[config.dataset], *config.hidden, _n_outputs(config)]
    params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    batch = config.batch_size or N_SAMPLES[config.dataset]
    state = 4 if config.optimizer == "adam" else 3             # values, grads, momentum / Adam's two moments
    return check_memory(state * params + 3 * batch * sum(sizes), 4, f"{what} ({params:.3g} parameters)")


def build_model(config, n_inputs):
    """The MLP for ``config``: sigmoid outputs for MSE/BCE (one unit for two classes), logits for CE."""
    config.validate()
    sizes = [n_inputs, *config.hidden, _n_outputs(config)]
    model = mlp(sizes, config.activation, output_activation=None if config.loss == "ce" else "sigmoid")
    return init_weights(model, config.init)


def _targets(config, labels):
    """What the loss compares the output with: class indices (CE), 0/1 column or one-hot (MSE/BCE)."""
    if config.loss == "ce":
        return labels
    if _n_outputs(config) == 1:
        return labels.float().reshape(-1, 1)
    from .. import from_numpy
    return from_numpy(np.eye(N_CLASSES[config.dataset], dtype=np.float32)[labels.numpy()])


def _loss_fn(config):
    return {"mse": nn.MSELoss(), "bce": nn.BCELoss(), "ce": nn.CrossEntropyLoss()}[config.loss]


def _optimizer(config, params):
    if config.optimizer == "adam":
        return optim.Adam(params, lr=config.lr)
    return optim.SGD(params, lr=config.lr, momentum=0.9 if config.optimizer == "momentum" else 0.0)


def predict(model, config, X):
    """``(classes, scores)``: predicted class per row, and the network's output (probabilities/logits)."""
    with no_grad():
        out = model(X)
    scores = out.numpy()
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0.5).astype(np.int64), scores
    return scores.argmax(axis=1), scores


def confusion_matrix(true, pred, n_classes):
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(true), np.asarray(pred)), 1)
    return m


# ----- training -------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    config: TrainConfig
    model: object
    initial_parameters: dict         # name -> NumPy array, before the first step
    losses: list                     # mean training loss per epoch
    X: object
    labels: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray
    accuracy: float                  # on the training set
    test_accuracy: float = None      # digits only
    confusion: np.ndarray = None     # digits only: rows = true class, columns = predicted (test set)
    X_test: np.ndarray = None        # digits only: the test images (one row of 64 pixels each)
    test_labels: np.ndarray = None
    test_predictions: np.ndarray = None
    extra: dict = field(default_factory=dict)

    @property
    def final_loss(self):
        return self.losses[-1]


def train(config, on_epoch=None, on_start=None):
    """Train a fresh model for ``config``.

    on_start(model): called once before the first step (e.g. to print the initial weights);
    on_epoch(epoch, loss): called after every epoch with the epoch's mean training loss.
    """
    config.validate()
    check_size(config)
    manual_seed(config.seed)
    X, labels, X_test, labels_test = load_data(config.dataset)
    model = build_model(config, X.shape[1])
    initial = {name: p.detach().numpy().copy() for name, p in model.named_parameters()}
    if on_start is not None:
        on_start(model)
    targets = _targets(config, labels)
    loss_fn = _loss_fn(config)
    optimizer = _optimizer(config, model.parameters())
    if config.batch_size == 0 or config.batch_size >= len(X):
        batches = [(X, targets)]                       # plain gradient descent: the whole set each step
    else:
        batches = DataLoader(TensorDataset(X, targets), batch_size=config.batch_size, shuffle=True)
    losses = []
    for epoch in range(config.epochs):
        total, count = 0.0, 0
        for xb, yb in batches:
            loss = loss_fn(model(xb), yb)               # forward pass and loss
            optimizer.zero_grad()
            loss.backward()                             # backward pass
            optimizer.step()                            # w <- w - lr * dL/dw (or Adam's version)
            total += loss.item() * len(xb)
            count += len(xb)
        losses.append(total / count)
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
    pred, scores = predict(model, config, X)
    labels_np = labels.numpy()
    result = TrainResult(config=config, model=model, initial_parameters=initial, losses=losses, X=X,
                         labels=labels_np, predictions=pred, scores=scores,
                         accuracy=float((pred == labels_np).mean()))
    if X_test is not None:
        test_pred, _ = predict(model, config, X_test)
        test_true = labels_test.numpy()
        result.test_accuracy = float((test_pred == test_true).mean())
        result.confusion = confusion_matrix(test_true, test_pred, N_CLASSES[config.dataset])
        result.X_test, result.test_labels, result.test_predictions = X_test.numpy(), test_true, test_pred
    return result


# ----- checkpoints and plots -----------------------------------------------------------------------------
def save_checkpoint(result, path):
    """``chainrule.save`` of ``{"format", "config", "state_dict", "losses"}``; read back with load_checkpoint."""
    from .. import save
    config = asdict(result.config)
    config["hidden"] = list(config["hidden"])
    save({"format": CHECKPOINT_FORMAT, "config": config, "state_dict": result.model.state_dict(),
          "losses": [float(v) for v in result.losses]}, path)
    return path


def load_checkpoint(path):
    """``(model, config)`` rebuilt from a file written by :func:`save_checkpoint`."""
    from .. import load
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a checkpoint written by `chainrule train --save`")
    cfg = dict(ckpt["config"])
    cfg["hidden"] = tuple(cfg["hidden"])
    config = TrainConfig(**cfg).validate()
    X, _, _, _ = load_data(config.dataset)
    model = build_model(config, X.shape[1])
    model.load_state_dict(ckpt["state_dict"])
    return model, config


def decision_grid(model, config, X, steps=200, margin=0.5):
    """``(xx, yy, classes)`` over a grid covering the 2-D data ``X``, for contour plots."""
    from .. import from_numpy
    X = np.asarray(X.numpy() if hasattr(X, "numpy") else X, dtype=np.float32)
    if X.shape[1] != 2:
        raise ValueError(f"a decision boundary needs 2-D inputs, got {X.shape[1]} features")
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    grid = from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32))
    classes, _ = predict(model, config, grid)
    return xx, yy, classes.reshape(xx.shape)


def plot(result, path):
    """One PNG: the loss curve, and the decision boundary (2-D data) or example digits and the confusion
    matrix (digits). Needs matplotlib."""
    from .optional import pyplot
    plt = pyplot("--plot")
    two_d = result.X.shape[1] == 2
    digits = result.confusion is not None and result.X_test is not None
    panels = 2 if two_d else 3 if digits else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4.6), squeeze=False)
    _plot_loss(axes[0, 0], result)
    if two_d:
        _plot_boundary(axes[0, 1], result)
    if digits:
        _plot_confusion(axes[0, 2], result)
        axes[0, 1].axis("off")
    fig.tight_layout()
    if digits:
        _plot_examples(fig, axes[0, 1], result)       # placed inside the panel's final position
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_loss(ax, result):
    """Log scale, with the last value written on the plot so it can be read to its last digit."""
    losses = np.asarray(result.losses)
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, color="#2b6cb0")
    ax.set_yscale("log")
    last = float(losses[-1])
    if last > 0:
        ax.set_ylim(min(losses.min(), last) / 1.6, losses.max() * 1.3)
        ax.axhline(last, color="#888", linestyle=":", linewidth=1)
        ax.annotate(f"last: {last:.4g}", xy=(epochs[-1], last), xytext=(-6, 6), textcoords="offset points",
                    ha="right", va="bottom", fontsize=9, color="#333")
    from matplotlib.ticker import LogLocator, LogFormatterSciNotation
    ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
    ax.yaxis.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(3, 1)))
    ax.tick_params(axis="y", which="minor", labelsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{result.config.loss.upper()} loss (log scale)")
    ax.set_title(f"{result.config.dataset}: training loss")
    ax.grid(True, which="both", alpha=0.3)


def _plot_boundary(ax, result):
    xx, yy, classes = decision_grid(result.model, result.config, result.X)
    n = N_CLASSES[result.config.dataset]
    cmap = _class_colours(n)
    ax.contourf(xx, yy, classes, levels=np.arange(n + 1) - 0.5, colors=cmap, alpha=0.3)
    X = result.X.numpy()
    for k in range(n):
        mine = result.labels == k
        ax.scatter(X[mine, 0], X[mine, 1], color=cmap[k], edgecolors="k", s=70 if len(X) < 10 else 20,
                   label=f"class {k}")
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9, title="true class", title_fontsize=9)
    ax.set_title(f"decision boundary (training accuracy {result.accuracy:.0%})")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")


def _class_colours(n):
    base = ["#dd6b20", "#2b6cb0", "#2f855a", "#805ad5", "#d53f8c", "#718096", "#b7791f", "#319795",
            "#e53e3e", "#4a5568"]
    return base[:n]


def _plot_examples(fig, ax, result):
    """The first 24 test digits as pictures, each with its predicted digit (red when wrong)."""
    ax.set_title(f"test digits: predicted (true); accuracy {result.test_accuracy:.1%}")
    box = ax.get_position()
    rows, cols = 4, 6
    for i in range(min(rows * cols, len(result.test_labels))):
        r, c = divmod(i, cols)
        w, h = box.width / cols, box.height / rows
        sub = fig.add_axes([box.x0 + c * w + w * 0.08, box.y1 - (r + 1) * h + h * 0.02, w * 0.84, h * 0.74])
        sub.imshow(result.X_test[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        pred, true = int(result.test_predictions[i]), int(result.test_labels[i])
        sub.set_title(f"{pred}" + ("" if pred == true else f" ({true})"), fontsize=9,
                      color="black" if pred == true else "#e53e3e", pad=2)
        sub.set_xticks([])
        sub.set_yticks([])


def _plot_confusion(ax, result):
    m = result.confusion
    ax.imshow(m, cmap="Blues")
    k = m.shape[0]
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title("confusion matrix (test set)")

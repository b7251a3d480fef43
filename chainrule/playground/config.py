"""What decides a playground run: data, network, hyper-parameters and seed, read from and written to a URL.

The page keeps the whole state in its address (``?data=circles&hidden=4,4&act=tanh&lr=0.03&seed=1``),
so a link reproduces a run: the same data, the same initial weights, the same batches, the same
numbers. :func:`from_query` reads such a query and says, naming the parameter, what is wrong with it.
"""
from dataclasses import asdict, dataclass, replace

__all__ = ["PlaygroundConfig", "ConfigError", "from_query", "OPTIONS", "DEFAULT"]

DATASETS = ("xor", "circles", "moons", "spirals", "blobs")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
LOSSES = ("mse", "bce")
OPTIMIZERS = ("sgd", "momentum", "adam")
INITS = ("default", "normal", "xavier", "kaiming")
MAX_LAYERS, MAX_NEURONS = 6, 8
MAX_SEED = 2 ** 31 - 1

# URL key -> field name (short keys keep links short)
KEYS = {"data": "dataset", "noise": "noise", "split": "test_fraction", "hidden": "hidden", "act": "activation",
        "loss": "loss", "opt": "optimizer", "lr": "lr", "batch": "batch_size", "l2": "l2", "init": "init",
        "seed": "seed"}


class ConfigError(ValueError):
    """A bad parameter: ``parameter`` is its URL key, the message says what was given and what is allowed."""

    def __init__(self, parameter, message):
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True)
class PlaygroundConfig:
    dataset: str = "xor"
    noise: float = 0.1               # standard deviation of the noise on the points (not for xor)
    test_fraction: float = 0.5       # share of the points held out as the test set (not for xor)
    hidden: tuple = (2,)             # neurons per hidden layer: the essay's 2-2-1 network
    activation: str = "sigmoid"
    loss: str = "mse"
    optimizer: str = "sgd"
    lr: float = 2.0                  # what `chainrule train xor` uses (see its --help for the essay's 0.1)
    batch_size: int = 0              # 0: every training point in one batch (plain gradient descent)
    l2: float = 0.0                  # weight decay λ: the optimizer adds λ·w to each weight's gradient
    init: str = "default"            # as `chainrule train --init`
    seed: int = 0

    def sizes(self):
        return [2, *self.hidden, 1]

    def to_query(self):
        """The URL query that reproduces this config (only what differs from the defaults, in a fixed order)."""
        parts = []
        for key, name in KEYS.items():
            value = getattr(self, name)
            if value == getattr(DEFAULT, name):
                continue
            text = ",".join(map(str, value)) if name == "hidden" else f"{value:g}" if isinstance(value, float) \
                else str(value)
            parts.append(f"{key}={text}")
        return "&".join(parts)

    def as_dict(self):
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


DEFAULT = PlaygroundConfig()


def _number(key, text, kind, low, high, low_open=False):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ConfigError(key, f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(key, f"expected a finite number, got {text!r}")
    if value < low or (low_open and value == low) or value > high:
        lower = f"more than {low:g}" if low_open else f"at least {low:g}"
        raise ConfigError(key, f"must be {lower} and at most {high:g}, got {text}")
    return value


def _choice(key, text, choices):
    if text not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, got {text!r}")
    return text


def _hidden(text):
    if text.strip() == "":
        return ()                                   # no hidden layer: logistic regression
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError("hidden", f"expected neurons per layer like 4,4 (or nothing), got {text!r}") from None
    if len(sizes) > MAX_LAYERS:
        raise ConfigError("hidden", f"at most {MAX_LAYERS} hidden layers, got {len(sizes)}")
    if any(not 1 <= s <= MAX_NEURONS for s in sizes):
        raise ConfigError("hidden", f"each layer needs 1 to {MAX_NEURONS} neurons, got {text!r}")
    return sizes


def from_query(query):
    """A :class:`PlaygroundConfig` from ``{URL key: text}``; unknown keys and bad values raise ConfigError."""
    if not isinstance(query, dict):
        raise ConfigError("query", "expected an object of URL parameters")
    unknown = sorted(set(query) - set(KEYS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown parameter; the parameters are {', '.join(KEYS)}")
    parse = {
        "data": lambda t: _choice("data", t, DATASETS),
        "noise": lambda t: _number("noise", t, float, 0.0, 0.5),
        "split": lambda t: _number("split", t, float, 0.1, 0.9),
        "hidden": _hidden,
        "act": lambda t: _choice("act", t, ACTIVATIONS),
        "loss": lambda t: _choice("loss", t, LOSSES),
        "opt": lambda t: _choice("opt", t, OPTIMIZERS),
        "lr": lambda t: _number("lr", t, float, 0.0, 100.0, low_open=True),
        "batch": lambda t: _number("batch", t, int, 0, 1000),
        "l2": lambda t: _number("l2", t, float, 0.0, 1.0),
        "init": lambda t: _choice("init", t, INITS),
        "seed": lambda t: _number("seed", t, int, 0, MAX_SEED),
    }
    values = {KEYS[key]: parse[key](str(text)) for key, text in query.items()}
    return replace(DEFAULT, **values)


OPTIONS = {
    "datasets": DATASETS, "activations": ACTIVATIONS, "losses": LOSSES, "optimizers": OPTIMIZERS, "inits": INITS,
    "max_layers": MAX_LAYERS, "max_neurons": MAX_NEURONS, "keys": KEYS, "defaults": DEFAULT.as_dict(),
}

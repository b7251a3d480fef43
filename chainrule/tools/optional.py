"""Optional dependencies: import them on demand, and say which extra to install when one is missing."""
import importlib


class MissingDependency(ImportError):
    """An optional package a feature needs is not installed; the message says what to install."""


EXTRAS = {"matplotlib": "plot", "tqdm": "progress", "sklearn": "datasets"}
PIP_NAMES = {"sklearn": "scikit-learn"}


def require(module, feature):
    """Import ``module`` or raise MissingDependency naming ``feature`` and the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        pip = f"pip install 'chainrule[{extra}]'" if extra else f"pip install {PIP_NAMES.get(top, top)}"
        raise MissingDependency(
            f"{feature} needs {PIP_NAMES.get(top, top)}: {pip}  (or pip install {PIP_NAMES.get(top, top)})"
        ) from None


def available(module):
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def pyplot(feature):
    """matplotlib.pyplot with the Agg backend (files only, no window), or MissingDependency."""
    matplotlib = require("matplotlib", feature)
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", feature)

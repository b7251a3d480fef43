"""Write ``chainrule/_pytorch_api.json``: the public names of PyTorch's modules, read from PyTorch itself.

chainrule uses the list to tell "PyTorch has this and chainrule does not yet" (a clear message naming the
PyTorch name) apart from a plain typo (Python's usual AttributeError). Run it with the oracle installed:

    .venv/bin/python scripts/pytorch_api_names.py

It imports PyTorch, so it is a developer's tool and never runs inside chainrule.
"""
import importlib
import json
import pathlib
import pkgutil

import torch

# The modules whose names programs reach for, and that chainrule mirrors (or will).
ROOTS = ["torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.nn.utils.rnn",
         "torch.nn.modules", "torch.nn.parameter", "torch.nn.parallel", "torch.optim", "torch.optim.lr_scheduler",
         "torch.utils", "torch.utils.data", "torch.utils.data.distributed", "torch.autograd", "torch.linalg",
         "torch.fft", "torch.special", "torch.distributed", "torch.distributions", "torch.cuda", "torch.cuda.amp",
         "torch.amp", "torch.backends", "torch.backends.cuda", "torch.backends.cudnn", "torch.backends.mps",
         "torch.onnx", "torch.serialization", "torch.testing", "torch.random", "torch.jit", "torch.hub",
         "torch.profiler", "torch.quantization", "torch.ao", "torch.sparse", "torch.multiprocessing",
         "torch.utils.checkpoint", "torch.utils.tensorboard", "torch.func", "torch.export", "torch.compiler",
         "torch.mps", "torch.overrides", "torch.types", "torch.nn.attention"]


def public_names(obj):
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def submodules():
    """Every importable module path under the packages programs import from (names only)."""
    found = set()
    for name in ("torch.nn", "torch.optim", "torch.utils.data", "torch.autograd", "torch.distributed",
                 "torch.cuda", "torch.amp", "torch.backends", "torch.onnx", "torch.distributions"):
        mod = importlib.import_module(name)
        found.add(name)
        for info in pkgutil.walk_packages(getattr(mod, "__path__", []), prefix=name + ".",
                                          onerror=lambda _name: None):
            if not any(part.startswith("_") for part in info.name.split(".")):
                found.add(info.name)
    return found


def main():
    attributes = {}
    modules = set(ROOTS)
    for name in ROOTS:
        try:
            mod = importlib.import_module(name)
        except Exception:   # a module that needs an optional package PyTorch did not bring
            continue
        attributes[name] = public_names(mod)
    modules |= submodules()
    attributes["torch.Tensor"] = public_names(torch.Tensor)
    attributes["torch.nn.Module"] = public_names(torch.nn.Module)
    out = {"pytorch_version": torch.__version__, "modules": sorted(modules), "attributes": attributes}
    path = pathlib.Path(__file__).resolve().parent.parent / "chainrule" / "_pytorch_api.json"
    path.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(out['modules'])} modules, "
          f"{sum(len(v) for v in attributes.values())} names")


if __name__ == "__main__":
    main()

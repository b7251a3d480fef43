"""What PyTorch has that chainrule may not: the names behind "chainrule does not implement ... yet".

``_pytorch_api.json`` lists the public names of PyTorch's modules (written by
``scripts/pytorch_api_names.py`` from PyTorch itself). When a program asks chainrule for a name it lacks,
the error says whether PyTorch has that name — then chainrule does not implement it yet — or whether it is
not a PyTorch name at all (a typo), in which case the error is Python's usual one. The file is read only
when a lookup has already failed, so it costs nothing on the normal path.
"""
import functools
import json
import pathlib


@functools.lru_cache(maxsize=None)
def _api():
    with open(pathlib.Path(__file__).with_name("_pytorch_api.json"), encoding="utf-8") as f:
        data = json.load(f)
    return set(data["modules"]), {k: frozenset(v) for k, v in data["attributes"].items()}


def torch_name(chainrule_name):
    """``chainrule.nn.functional`` -> ``torch.nn.functional`` (the name a PyTorch program uses)."""
    return "torch" + chainrule_name[len("chainrule"):] if chainrule_name.startswith("chainrule") else chainrule_name


def pytorch_has_module(torch_module):
    return torch_module in _api()[0]


def pytorch_has_attribute(torch_owner, name):
    """Does PyTorch's ``torch_owner`` (a module path, ``torch.Tensor`` or ``torch.nn.Module``) have ``name``?"""
    return name in _api()[1].get(torch_owner, ()) or pytorch_has_module(f"{torch_owner}.{name}")


def missing_attribute(owner, name, what=None):
    """The AttributeError for ``owner.name`` that chainrule lacks, naming PyTorch's name when PyTorch has it.

    owner: the chainrule module path (``chainrule.nn``) or ``chainrule.Tensor``; what: how Python would
    start the message (defaults to ``module 'chainrule.nn' has no attribute 'x'``).
    """
    torch_owner = torch_name(owner)
    what = what or f"module {owner!r} has no attribute {name!r}"
    if not name.startswith("__") and pytorch_has_attribute(torch_owner, name):
        return AttributeError(f"{what}: chainrule does not implement {torch_owner}.{name} yet", name=name)
    return AttributeError(what, name=name)


def module_getattr(module_name):
    """A module-level ``__getattr__`` for a chainrule module that mirrors a PyTorch one."""
    def __getattr__(name):
        raise missing_attribute(module_name, name)
    return __getattr__

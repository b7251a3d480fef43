"""The ``Optimizer`` base class: parameter groups, per-parameter state, state dicts.

Mirrors ``torch.optim.Optimizer`` so training scripts and checkpoints written for
PyTorch work unchanged.  A subclass only says how to update one parameter group
(``_step_group``); this class owns the bookkeeping around it:

* ``param_groups`` -- a list of dicts, each with ``"params"`` plus its own copy of
  every option (missing options are filled from ``defaults``), so different
  layers can have different learning rates;
* ``state`` -- a dict keyed by the parameter tensor itself, holding buffers such as
  Adam's moment estimates;
* ``state_dict()`` / ``load_state_dict()`` -- PyTorch's format, where parameters are
  replaced by integer indices (their position across all groups) so the dict can
  be saved and loaded into a fresh optimizer built over new tensors.
"""

import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

import chainrule
from chainrule.tensor import _make


class _RequiredParameter:
    """Marks an option that has no default and must be given per group (like SGD's lr once was)."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj):
    """``torch.typename``: the name shown in error messages for a wrong-typed argument."""
    if isinstance(obj, chainrule.Tensor):
        return "chainrule.Tensor"
    module = type(obj).__module__
    name = type(obj).__qualname__
    return name if module in (None, "builtins") else f"{module}.{name}"


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts with a ``"params"`` key and
            per-group options (or of ``(name, tensor)`` pairs).
        defaults: the default value of every option of this optimizer.
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        if isinstance(params, chainrule.Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                "Tensors or dicts, but got " + _typename(params)
            )
        self.state = defaultdict(dict)
        self.param_groups = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self):
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"

    # -- parameter groups -------------------------------------------------------------

    def add_param_group(self, param_group):
        """Add a group of parameters with its own options (e.g. when unfreezing layers)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, chainrule.Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)

        # Named parameters, as from module.named_parameters(), arrive as (name, tensor) pairs.
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(tensors):
            raise ValueError(
                "all optimizer params should be with/without names. Some param names are missing"
            )
        param_group["params"] = tensors
        if names:
            param_group["param_names"] = names

        for param in tensors:
            if not isinstance(param, chainrule.Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(param)
                )
            if not getattr(param, "is_leaf", True):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)

        # Identity, not equality: Tensor.__eq__ is elementwise.
        new_ids = [id(p) for p in tensors]
        if len(set(new_ids)) != len(new_ids):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)
        existing_ids = {id(p) for group in self.param_groups for p in group["params"]}
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {which} to the optimizer"
                )
        if existing_ids.intersection(new_ids):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)

    # -- the training-loop API --------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: drop it (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if getattr(p.grad, "grad_fn", None) is not None:
                        p.grad = p.grad.detach()
                    with chainrule.no_grad():
                        p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient; return ``closure()``'s loss, if given.

        The closure runs first, with autograd on, so it can recompute the loss and
        its gradients (needed by optimizers that evaluate the loss several times).
        The update itself runs under ``no_grad``: it rewrites parameters in place
        and must not be recorded in the graph.
        """
        loss = None
        if closure is not None:
            loss = closure()
        with chainrule.no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group):
        """Apply this optimizer's update rule to one parameter group (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    def _params_with_grad(self, group):
        """The parameters of ``group`` that received a gradient; the others are skipped."""
        params = [p for p in group["params"] if p.grad is not None]
        for p in params:
            if getattr(p.grad, "is_sparse", False):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        return params

    # -- checkpoints ------------------------------------------------------------------

    def state_dict(self):
        """The optimizer's state as ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are numbered in order across all groups; ``state`` is keyed by
        that number and each group's ``"params"`` is the list of its numbers.  The
        state tensors are the live buffers (as in PyTorch), not copies.
        """
        index_of = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            packed_groups.append(packed)
        packed_state = {
            (index_of[id(k)] if isinstance(k, chainrule.Tensor) else k): v
            for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict):
        """Load a dict made by ``state_dict()`` (the parameters' order must match).

        Buffers are copied and cast to their parameter's floating dtype, so the
        loaded optimizer never aliases the dict it was given; the ``step``
        counter keeps its own dtype.
        """
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size "
                "of optimizer's group"
            )
        param_of = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )

        state = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in param_of:
                param = param_of[key]
                state[param] = _cast_state(param, value)
            else:
                state[key] = value

        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
        self.state = state
        self.param_groups = saved_groups


def updatable(tensor):
    """``tensor``'s array, for an update in place (an optimizer's step); a clear error if it is read-only."""
    array = tensor._array
    if not array.flags.writeable:
        raise RuntimeError(f"the optimizer cannot update a read-only tensor of shape {list(array.shape)} in place "
                           f"(loaded with mmap, or an expanded view?); clone() it first")
    return array


def bump_versions(tensors):
    """Count an in-place change of each tensor (so that a graph that saved one refuses to use it)."""
    for t in tensors:
        t._vc[0] += 1


def lerp_(start, end, weight):
    """``start += weight·(end - start)`` on arrays, with PyTorch's two formulas (``lerp_``'s rounding)."""
    d = end - start
    if weight < 0.5:
        d *= weight
        start += d
    else:
        d *= 1 - weight
        np.subtract(end, d, out=start)


def scalar_like(value, param):
    """A 0-d tensor of ``param``'s dtype holding ``value`` (a 0-d array computed from a state tensor): used where
    PyTorch passes a Python float to an op on ``param``, which casts it to the tensor's dtype likewise."""
    return _make(value.astype(param._array.dtype))


def _cast_state(param, value, key=None):
    """Deep-copy one parameter's saved state, casting tensors to the parameter's dtype."""
    if isinstance(value, chainrule.Tensor):
        value = value.detach().clone()
        if key != "step" and param.is_floating_point() and value.dtype != param.dtype:
            value = value.to(param.dtype)
        return value
    if isinstance(value, dict):
        return {k: _cast_state(param, v, key=k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value

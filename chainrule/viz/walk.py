"""Walk the computation graph behind a tensor into boxes and arrows (no drawing here).

``build(loss, names=...)`` follows ``loss.grad_fn`` along each node's edges, the path
``loss.backward()`` takes, and returns the nodes and edges to draw:

- one **op** box per recorded op (its ``grad_fn``), labelled by :func:`labels.op_label`;
- one **leaf** per tensor that requires grad and was not computed (a parameter, or an input
  made to require grad), reached through its ``AccumulateGrad`` node;
- one **tensor** node for each named intermediate (``names={"z1": z1}``): it sits between the
  op that made it and the ops that use it, with its value and its gradient;
- one **output** node for the tensor drawn.

Arrows run in the forward direction (input -> op -> output); backward runs them in reverse.
"""
from dataclasses import dataclass, field

import numpy as np

from ..autograd.engine import AccumulateGrad
from ..tensor import Tensor
from .labels import OP_LABEL_STYLES, op_label

__all__ = ["GraphNode", "GraphModel", "build"]


@dataclass
class GraphNode:
    id: str                     # unique, DOT-safe: op_3, leaf_0, tensor_5, output
    kind: str                   # "op" | "leaf" | "tensor" | "output"
    title: str                  # the first line: an op's symbol or a tensor's name
    lines: list = field(default_factory=list)   # shape, value, grad


@dataclass
class GraphModel:
    nodes: list                 # GraphNode, in the order they were reached from the output
    edges: list                 # (source id, destination id), forward direction

    @property
    def op_nodes(self):
        return sum(n.kind == "op" for n in self.nodes)

    @property
    def leaf_nodes(self):
        return sum(n.kind == "leaf" for n in self.nodes)


def _values(array, max_elements):
    """A short rendering of a small array's values (None when it has too many to show)."""
    a = np.asarray(array)
    if a.size > max_elements:
        return None
    if a.ndim == 0:
        return f"{float(a):.4g}"
    return np.array2string(a.astype(np.float64), precision=4, separator=", ", suppress_small=True)


def _shape(array):
    return "(" + ", ".join(str(s) for s in np.shape(array)) + ")"


def _describe(array, grad, max_values):
    """The lines under a tensor's name: shape, value when small, gradient (values, or its norm)."""
    lines = [_shape(array)]
    values = _values(array, max_values)
    if values is not None:
        lines.append(f"value {values}")
    if grad is not None:
        g = _values(grad, max_values)
        lines.append(f"grad {g}" if g is not None else f"grad norm {np.linalg.norm(grad):.4g}")
    return lines


def _check_names(mapping, what):
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise TypeError(f"{what} must be a dict {{name: tensor}}, e.g. dict(model.named_parameters())")
    for name, t in mapping.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{name!r}] is a {type(t).__name__}, not a Tensor")
    return mapping


def _gradients(root, tensors):
    """∂root/∂t for each tensor, by ``autograd.grad`` (no ``.grad`` is touched), or None when impossible.

    Possible when ``root`` is a scalar whose graph has not been freed by a backward pass.
    """
    from .. import autograd
    if root.grad_fn is None or root.numel() != 1 or not tensors:
        return None
    try:
        grads = autograd.grad(root, tensors, retain_graph=True, allow_unused=True)
    except RuntimeError:            # the graph was freed by backward(): fall back on .grad
        return None
    return {id(t): (g._array if g is not None else np.zeros(t.shape)) for t, g in zip(tensors, grads)}


def build(tensor, params=None, names=None, show_grad=True, max_values=16, op_labels="learner"):
    """The :class:`GraphModel` of ``tensor``'s graph; see :func:`chainrule.viz.draw_graph`."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph expects a chainrule Tensor, got {type(tensor).__name__}")
    if op_labels not in OP_LABEL_STYLES:
        raise ValueError(f"op_labels must be one of {OP_LABEL_STYLES}, got {op_labels!r}")
    params = _check_names(params, "params")
    names = _check_names(names, "names")
    leaf_name = {}                  # id(leaf tensor) -> name
    made_by = {}                    # id(grad_fn) -> (name, tensor) for named intermediates
    for mapping in (params, names):
        for name, t in mapping.items():
            if t.grad_fn is not None:
                made_by[id(t.grad_fn)] = (str(name), t)
            else:
                leaf_name[id(t)] = str(name)

    # Reach every node first, so gradients can be asked for all of them in one autograd.grad call.
    reached, stack, seen = [], [tensor.grad_fn] if tensor.grad_fn is not None else [], set()
    while stack:                    # iterative: a graph hundreds of layers deep must not recurse
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        reached.append(node)
        stack.extend(edge[0] for edge in reversed(node.edges) if edge is not None)
    reached_ids = {id(n) for n in reached}
    leaves = [n.variable for n in reached if type(n) is AccumulateGrad and n.variable is not None]
    intermediates = [t for key, (_, t) in made_by.items() if key in reached_ids and t is not tensor]
    _require_reachable(names, tensor, reached_ids, {id(t) for t in leaves})

    grads = _gradients(tensor, leaves + intermediates) if show_grad else None

    def grad_of(t):
        if not show_grad:
            return None
        if grads is not None:
            return grads.get(id(t))
        return t.grad._array if t.grad is not None else None

    nodes, edges, ids = [], [], {}

    def node_id(prefix, obj):
        key = (prefix, id(obj))
        if key not in ids:
            ids[key] = f"{prefix}_{len(ids)}"
        return ids[key]

    if tensor.grad_fn is None:      # a leaf on its own: nothing was computed, so it is the whole graph
        nodes.append(GraphNode(node_id("leaf", tensor), "leaf", leaf_name.get(id(tensor), "leaf"),
                               _describe(tensor._array, grad_of(tensor), max_values)))
        return GraphModel(nodes, edges)
    out_name = made_by.get(id(tensor.grad_fn), ("output",))[0]
    nodes.append(GraphNode("output", "output", out_name, _describe(tensor._array, None, max_values)))
    edges.append((node_id("op", tensor.grad_fn), "output"))

    def tensor_node(source):
        """The node of a named intermediate, made once: its op feeds it, and it feeds its users."""
        name, t = made_by[id(source)]
        key = ("tensor", id(source))
        if key not in ids:
            nodes.append(GraphNode(node_id("tensor", source), "tensor", name,
                                   _describe(t._array, grad_of(t), max_values)))
            edges.append((node_id("op", source), ids[key]))
        return ids[key]

    for node in reached:
        if type(node) is AccumulateGrad:
            leaf = node.variable
            nodes.append(GraphNode(node_id("leaf", node), "leaf", leaf_name.get(id(leaf), "leaf"),
                                   _describe(leaf._array, grad_of(leaf), max_values) if leaf is not None else []))
            continue
        op = node_id("op", node)
        nodes.append(GraphNode(op, "op", op_label(node, op_labels)))
        for edge in node.edges:
            if edge is None:
                continue
            source = edge[0]
            if type(source) is AccumulateGrad:
                edges.append((node_id("leaf", source), op))
            elif id(source) in made_by and made_by[id(source)][1] is not tensor:
                edges.append((tensor_node(source), op))
            else:
                edges.append((node_id("op", source), op))
    return GraphModel(nodes, edges)


def _require_reachable(names, tensor, reached_ids, leaf_ids):
    """A name the learner gave must be drawn; say why it cannot be, rather than leave it out silently."""
    for name, t in names.items():
        if t is tensor or (t.grad_fn is not None and id(t.grad_fn) in reached_ids) or id(t) in leaf_ids:
            continue
        if not t.requires_grad:
            raise ValueError(f"names[{name!r}] does not require grad, so no graph records it: call "
                             f"{name}.requires_grad_() before the forward pass to draw it (and see its gradient)")
        raise ValueError(f"names[{name!r}] is not part of the graph that computed this tensor")

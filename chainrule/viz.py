"""Draw the computation graph behind a tensor, as Graphviz DOT (and SVG/PNG when ``dot`` is installed).

``draw_graph(loss)`` walks back from ``loss.grad_fn`` along each node's edges, the same path
``loss.backward()`` takes, and draws:

- one box per recorded op (its ``grad_fn``: ``MulBackward0``, ``SigmoidBackward0``, ...);
- one ellipse per leaf tensor that requires grad (a parameter or an input), reached through its
  ``AccumulateGrad`` node, labelled with its name (from ``params``, as torchviz's ``make_dot``),
  shape, value when small, and ``.grad`` once a backward pass has filled it;
- one ellipse for the tensor drawn (the output), with its value when small.

Arrows follow the forward direction (input -> op -> output); backward runs them in reverse.
The DOT text needs nothing; rendering it to SVG or PNG needs Graphviz's ``dot`` program.
"""
import shutil
import subprocess

import numpy as np

from .autograd.engine import AccumulateGrad
from .tensor import Tensor

__all__ = ["draw_graph", "Graph", "GraphvizNotFound"]

INSTALL_HINT = ("rendering needs Graphviz's `dot` program: install graphviz "
                "(apt-get install graphviz, brew install graphviz, or conda install graphviz); "
                "the DOT text itself is available without it")


class GraphvizNotFound(RuntimeError):
    """SVG/PNG was asked for but Graphviz's ``dot`` program is not on PATH."""


def _escape(text):
    """Text for a double-quoted DOT string; newlines become DOT's centred line breaks."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


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


class Graph:
    """A drawn computation graph: ``.source`` is the DOT text; ``.save(path)``; renders in Jupyter.

    ``op_nodes`` and ``leaf_nodes`` count what was drawn (one per grad_fn node, one per leaf).
    """

    def __init__(self, source, op_nodes, leaf_nodes):
        self.source = source
        self.op_nodes = op_nodes
        self.leaf_nodes = leaf_nodes

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<chainrule.viz.Graph: {self.op_nodes} ops, {self.leaf_nodes} leaves>"

    @staticmethod
    def dot_available():
        return shutil.which("dot") is not None

    def pipe(self, format="svg"):
        """The graph rendered by Graphviz as bytes (``format``: svg, png, pdf, ...)."""
        exe = shutil.which("dot")
        if exe is None:
            raise GraphvizNotFound(INSTALL_HINT)
        done = subprocess.run([exe, f"-T{format}"], input=self.source.encode(), capture_output=True,
                              timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"dot -T{format} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def save(self, path, format=None):
        """Write the graph to ``path``: DOT text for .dot/.gv, else rendered (format from the suffix)."""
        path = str(path)
        if format is None:
            suffix = path.rsplit(".", 1)[-1].lower() if "." in path else "dot"
            format = "dot" if suffix in ("dot", "gv") else suffix
        if format == "dot":
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.source)
        else:
            data = self.pipe(format)
            with open(path, "wb") as f:
                f.write(data)
        return path

    # Jupyter: SVG when Graphviz is installed, else the DOT text.
    def _repr_svg_(self):
        if not self.dot_available():
            return None
        return self.pipe("svg").decode("utf-8")

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": self.source}
        if self.dot_available():
            bundle["image/svg+xml"] = self.pipe("svg").decode("utf-8")
        return bundle


def draw_graph(tensor, params=None, show_grad=True, max_values=16):
    """The computation graph that produced ``tensor``, as a :class:`Graph`.

    params: optional ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``) to label leaves.
    show_grad: add each leaf's ``.grad`` to its label when a backward pass has set it.
    max_values: arrays with at most this many elements show their values.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph expects a chainrule Tensor, got {type(tensor).__name__}")
    names = {}
    if params is not None:
        if not isinstance(params, dict):
            raise TypeError("params must be a dict {name: tensor}, e.g. dict(model.named_parameters())")
        for name, p in params.items():
            if not isinstance(p, Tensor):
                raise TypeError(f"params[{name!r}] is a {type(p).__name__}, not a Tensor")
            names[id(p)] = str(name)

    lines = ["digraph chainrule {",
             '    graph [rankdir=BT, fontname="Helvetica"];',
             '    node [fontname="Helvetica", fontsize=11];']
    ids = {}

    def node_id(obj):
        if id(obj) not in ids:
            ids[id(obj)] = len(ids)
        return ids[id(obj)]

    def leaf_label(t):
        parts = [names.get(id(t), "leaf"), _shape(t._array)]
        values = _values(t._array, max_values)
        if values is not None:
            parts.append(f"value {values}")
        if show_grad and t.grad is not None:
            g = _values(t.grad._array, max_values)
            parts.append(f"grad {g}" if g is not None else f"grad norm {np.linalg.norm(t.grad._array):.4g}")
        return "\n".join(parts)

    def leaf_line(nid, t):
        return (f'    leaf_{nid} [label="{_escape(leaf_label(t))}", shape=ellipse, style=filled, '
                f'fillcolor="lightblue"];')

    op_count = leaf_count = 0
    out_label = [names.get(id(tensor), "output"), _shape(tensor._array)]
    out_values = _values(tensor._array, max_values)
    if out_values is not None:
        out_label.append(f"value {out_values}")
    root = tensor.grad_fn
    if root is None:
        # A leaf on its own: nothing was computed, so the graph is just that tensor.
        lines.append(leaf_line(node_id(tensor), tensor))
        lines.append("}")
        return Graph("\n".join(lines) + "\n", 0, 1)

    lines.append(f'    output [label="{_escape(chr(10).join(out_label))}", shape=ellipse, style=filled, '
                 f'fillcolor="darkolivegreen1"];')
    lines.append(f"    op_{node_id(root)} -> output;")
    # Iterative walk: deep graphs (hundreds of layers) must not hit Python's recursion limit.
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is AccumulateGrad:
            lines.append(leaf_line(node_id(node), node.variable))
            leaf_count += 1
            continue
        op_count += 1
        lines.append(f'    op_{node_id(node)} [label="{_escape(node.name())}", shape=box, style=filled, '
                     f'fillcolor="lightgrey"];')
        for edge in node.edges:
            if edge is None:
                continue
            nxt = edge[0]
            src = f"leaf_{node_id(nxt)}" if type(nxt) is AccumulateGrad else f"op_{node_id(nxt)}"
            lines.append(f"    {src} -> op_{node_id(node)};")
            if id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append(nxt)
    lines.append("}")
    return Graph("\n".join(lines) + "\n", op_count, leaf_count)

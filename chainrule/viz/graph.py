"""``draw_graph``: the computation graph behind a tensor, for a learner to read (see :mod:`.walk`)."""
from . import dot
from .drawing import Drawing
from .svg import graph_svg
from .walk import build

__all__ = ["Graph", "draw_graph"]

RENDERERS = ("auto", "python", "graphviz")


class Graph(Drawing):
    """A drawn computation graph.

    ``.source``: the DOT text; ``.svg()``: SVG by Graphviz when installed, else by chainrule's own
    layered layout (``renderer="python"`` forces it); ``.save("g.svg" | "g.dot" | "g.png")`` (PNG needs
    Graphviz). ``op_nodes``/``leaf_nodes``/``tensor_nodes`` count what was drawn.
    """

    def __init__(self, model, title=None):
        self.model = model
        self.title = title
        self.source = dot.dot_source(model)

    @property
    def op_nodes(self):
        return self.model.op_nodes

    @property
    def leaf_nodes(self):
        return self.model.leaf_nodes

    @property
    def tensor_nodes(self):
        return sum(n.kind == "tensor" for n in self.model.nodes)

    def __str__(self):
        return self.source

    def __repr__(self):
        return (f"<chainrule.viz.Graph: {self.op_nodes} ops, {self.leaf_nodes} leaves, "
                f"{self.tensor_nodes} named intermediates>")

    @staticmethod
    def dot_available():
        return dot.dot_available()

    def svg(self, renderer="auto"):
        if renderer not in RENDERERS:
            raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
        if renderer == "graphviz" or (renderer == "auto" and dot.dot_available()):
            return dot.render(self.source, "svg").decode("utf-8")
        return graph_svg(self.model, self.title)

    def pipe(self, format="svg"):
        """The graph rendered by Graphviz as bytes (``format``: svg, png, pdf, ...)."""
        return dot.render(self.source, format)

    def _render(self, format):
        if format in ("dot", "gv"):
            return self.source
        if format == "svg":
            return self.svg()
        return dot.render(self.source, format)


def draw_graph(tensor, params=None, names=None, show_grad=True, max_values=16, op_labels="learner"):
    """The computation graph that produced ``tensor``, as a :class:`Graph`.

    params: ``{name: tensor}`` naming leaves, e.g. ``dict(model.named_parameters())`` (as torchviz's
        ``make_dot``); names that are not in the graph are ignored.
    names: ``{name: tensor}`` for any tensor to show: leaves, inputs (which must require grad to be
        recorded at all) and intermediates (``{"z1": z1, "a1": a1}``), each drawn with its value and
        gradient; a name that cannot be drawn is an error that says why.
    show_grad: show gradients: ∂tensor/∂(each leaf and named tensor) by ``autograd.grad`` when
        ``tensor`` is a scalar whose graph is still there (no ``.grad`` is changed); otherwise
        ``.grad`` as ``backward()`` left it (for intermediates: those that called ``retain_grad()``).
    max_values: arrays with at most this many elements show their values (others: gradient norms).
    op_labels: ``"learner"`` (``@``, ``+``, ``σ``, ``(·)²``, ``mean``) or ``"pytorch"`` (``MmBackward0``...).
    """
    return Graph(build(tensor, params=params, names=names, show_grad=show_grad, max_values=max_values,
                       op_labels=op_labels))

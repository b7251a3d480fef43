"""Pictures of backpropagation: computation graphs and networks, as SVG (no Graphviz needed) or DOT.

- :func:`draw_graph` (``loss``, ``names={"z1": z1, ...}``): the ops and tensors that computed a value,
  with each tensor's value and gradient, op boxes labelled ``@``, ``+``, ``σ``, ``(·)²``, ``mean``;
- :func:`draw_network` (a model): the network as the essay draws it, neurons and weighted edges.

Both are SVG pictures that Jupyter shows inline and ``.save("x.svg")`` writes. The computation
graph is laid out by chainrule itself (:mod:`.layout`), or by Graphviz when it is installed.
"""
from .dot import INSTALL_HINT, GraphvizNotFound
from .drawing import Drawing
from .graph import Graph, draw_graph
from .network import NetworkDrawing, draw_network

__all__ = ["draw_graph", "draw_network", "Graph", "NetworkDrawing", "Drawing", "GraphvizNotFound",
           "INSTALL_HINT"]

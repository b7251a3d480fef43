"""``chainrule playground``: a page in the browser where a network learns while you watch.

chainrule trains on the Python side (:mod:`.session`); the page (``static/``) draws the data, the
network with each neuron's output as a small picture of the input plane and its weights as edges,
the decision boundary, the loss curves and the gradient norms per layer, and steps through one
backward pass with the numbers of :func:`chainrule.explain.trace`. It is served by Python's own
``http.server`` on 127.0.0.1 (:mod:`.server`) and loads nothing from anywhere else.

A tool on top of the library: nothing in chainrule imports it.
"""
from .server import make_server, serve

__all__ = ["serve", "make_server"]

"""Graphviz: a computation graph as DOT text, and rendering it with the ``dot`` program when installed."""
import shutil
import subprocess

__all__ = ["dot_source", "dot_available", "render", "GraphvizNotFound", "INSTALL_HINT"]

INSTALL_HINT = ("rendering PNG needs Graphviz's `dot` program: install graphviz "
                "(apt-get install graphviz, brew install graphviz, or conda install graphviz); "
                "SVG and the DOT text work without it")

# kind -> DOT node attributes
_ATTRIBUTES = {
    "op": 'shape=box, style="filled,rounded", fillcolor="#e8e8ec"',
    "leaf": 'shape=ellipse, style=filled, fillcolor="lightblue"',
    "tensor": 'shape=ellipse, style=filled, fillcolor="#fff2c2"',
    "output": 'shape=ellipse, style=filled, fillcolor="darkolivegreen1"',
}


class GraphvizNotFound(RuntimeError):
    """PNG (or Graphviz's own SVG) was asked for but Graphviz's ``dot`` program is not on PATH."""


def _escape(text):
    """Text for a double-quoted DOT string; newlines become DOT's centred line breaks."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def dot_source(model):
    """The DOT text of a :class:`~chainrule.viz.walk.GraphModel` (inputs at the top, as the SVG)."""
    lines = ["digraph chainrule {",
             '    graph [rankdir=TB, fontname="Helvetica"];',
             '    node [fontname="Helvetica", fontsize=11];']
    for node in model.nodes:
        label = "\n".join([node.title, *node.lines])
        lines.append(f'    {node.id} [label="{_escape(label)}", {_ATTRIBUTES[node.kind]}];')
    for s, d in model.edges:
        lines.append(f"    {s} -> {d};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_available():
    return shutil.which("dot") is not None


def render(source, format="svg"):
    """DOT text rendered by Graphviz as bytes (``format``: svg, png, pdf, ...)."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(INSTALL_HINT)
    done = subprocess.run([exe, f"-T{format}"], input=source.encode(), capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{format} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout

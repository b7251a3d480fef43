"""SVG drawing in plain Python: text helpers, and a computation graph drawn with :mod:`.layout`.

No Graphviz, no fonts to measure with: text widths are estimated from character counts (a
monospace font for numbers, so the estimate is close), which is all a box around a label needs.
"""
from xml.sax.saxutils import escape

from .layout import layered_layout

__all__ = ["text_width", "svg_document", "graph_svg", "STYLE"]

FONT = "Helvetica, Arial, sans-serif"
MONO = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"

# kind -> (fill, stroke, corner radius)
STYLE = {
    "op": ("#e8e8ec", "#6b6b7b", 6),
    "leaf": ("#cfe6fb", "#3b7bbf", 18),
    "tensor": ("#fff2c2", "#b8912a", 18),
    "output": ("#d8f5c4", "#4f8f2a", 18),
}


def text_width(text, size, mono=False):
    """A close estimate of ``text``'s width in pixels at font ``size`` (wide symbols count more)."""
    if mono:
        return len(text) * size * 0.61
    wide = sum(c in "MWmw@Σ∂" for c in text)
    narrow = sum(c in "iljt.,:;|!'()[]ᵀ·" for c in text)
    return (len(text) - wide - narrow) * size * 0.56 + wide * size * 0.85 + narrow * size * 0.3


def svg_document(width, height, body, title=None):
    """A standalone SVG (also fine inline in HTML and Jupyter)."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">')
    parts = [head]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                 'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
                 '</marker></defs>')
    parts.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>')
    parts.extend(body)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _node_size(node):
    title_size, line_size = (15, 11) if node.kind == "op" else (13, 11)
    widths = [text_width(node.title, title_size)] + [text_width(line, line_size, mono=True)
                                                      for line in _wrapped(node.lines)]
    width = max(widths) + (20 if node.kind == "op" else 30)
    height = 14 + title_size + len(_wrapped(node.lines)) * (line_size + 3)
    return max(width, 34 if node.kind == "op" else 50), height


def _wrapped(lines):
    """Array values print over several lines; each becomes a line of the box."""
    out = []
    for line in lines:
        out.extend(line.split("\n"))
    return out


def _path(points):
    """A smooth path through ``points``: straight for two, Catmull-Rom-like cubic curves beyond."""
    (x0, y0) = points[0]
    d = [f"M{x0:.1f},{y0:.1f}"]
    if len(points) == 2:
        (x1, y1) = points[1]
        mid = (y0 + y1) / 2
        d.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        return " ".join(d)
    for (ax, ay), (bx, by) in zip(points[:-1], points[1:]):
        mid = (ay + by) / 2
        d.append(f"C{ax:.1f},{mid:.1f} {bx:.1f},{mid:.1f} {bx:.1f},{by:.1f}")
    return " ".join(d)


def graph_svg(model, title=None):
    """A :class:`~chainrule.viz.graph.GraphModel` drawn as SVG: layers top to bottom, inputs first."""
    sizes = {n.id: _node_size(n) for n in model.nodes}
    layout = layered_layout(sizes, model.edges)
    body = []
    for (s, d) in dict.fromkeys(model.edges):
        body.append(f'<path d="{_path(layout.routes[(s, d)])}" fill="none" stroke="#555" stroke-width="1.2" '
                    f'marker-end="url(#arrow)"><title>{escape(s)} → {escape(d)}</title></path>')
    for node in model.nodes:
        cx, cy = layout.positions[node.id]
        w, h = sizes[node.id]
        fill, stroke, radius = STYLE[node.kind]
        body.append(f'<g class="node {node.kind}" id="{node.id}">')
        body.append(f'<rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" '
                    f'rx="{min(radius, h / 2):.1f}" fill="{fill}" stroke="{stroke}" stroke-width="1.3"/>')
        title_size = 15 if node.kind == "op" else 13
        y = cy - h / 2 + 7 + title_size * 0.85
        weight = "normal" if node.kind == "op" else "bold"
        body.append(f'<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle" font-size="{title_size}" '
                    f'font-weight="{weight}">{escape(node.title)}</text>')
        for line in _wrapped(node.lines):
            y += 14
            body.append(f'<text x="{cx:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11" '
                        f'font-family="{MONO}" xml:space="preserve">{escape(line)}</text>')
        body.append("</g>")
    return svg_document(layout.width, layout.height, body, title)

"""The network as the essay draws it: neurons in columns, one weighted edge per weight.

``draw_network(model, x=...)`` draws each Linear layer's weights as edges (blue for positive,
orange for negative, wider for larger ``|w|``, the value written on the edge when the network is
small), each neuron as a circle with its bias, and, when an input ``x`` is given, each neuron's
output for it (the forward pass: ``z = W·a_prev + b``, ``a = σ(z)``).
"""
from xml.sax.saxutils import escape

import numpy as np

from .drawing import Drawing
from .svg import MONO, svg_document, text_width

__all__ = ["NetworkDrawing", "draw_network", "POSITIVE", "NEGATIVE"]

POSITIVE, NEGATIVE = "#2b6cb0", "#dd6b20"
_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class NetworkDrawing(Drawing):
    """The drawn network: ``.svg()``, ``.save("net.svg")``, inline in Jupyter."""

    def __init__(self, svg, sizes):
        self._svg = svg
        self.sizes = sizes

    def svg(self):
        return self._svg

    def __repr__(self):
        return f"<chainrule.viz.NetworkDrawing: layers {'-'.join(map(str, self.sizes))}>"


def _forward(layers, x):
    """Each layer's output for one input row, in NumPy (what the circles show)."""
    from ..explain import ACTIVATIONS
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    outs = [a]
    for W, b, act in layers:
        a = ACTIVATIONS[act][0](W @ a + b)
        outs.append(a)
    return outs


def draw_network(model, x=None, title=None, column_gap=200, row_gap=92, radius=24):
    """``model`` (an ``nn.Sequential`` of Linear + Sigmoid/Tanh/ReLU, or ``explain.Dense`` layers) as SVG.

    x: optional input (one sample, e.g. ``[0, 1]``): each neuron then shows its output for it.
    """
    from ..explain import dense_layers
    layers = [(np.asarray(w.detach().numpy(), dtype=np.float64),
               np.asarray(b.detach().numpy(), dtype=np.float64) if b is not None else np.zeros(w.shape[0]),
               act) for (_, w, b, act, _) in dense_layers(model)]
    sizes = [layers[0][0].shape[1]] + [W.shape[0] for W, _, _ in layers]
    if max(sizes) > 64:
        raise ValueError(f"draw_network draws every neuron; layers of sizes {sizes} are too many to read "
                         f"(at most 64 per layer)")
    values = None
    if x is not None:
        x = np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=np.float64).reshape(-1)
        if x.size != sizes[0]:
            raise ValueError(f"x has {x.size} values but the network has {sizes[0]} inputs")
        values = _forward(layers, x)
    top, left = 64, 70
    height = top + max(sizes) * row_gap + 56
    width = left * 2 + (len(sizes) - 1) * column_gap

    def centre(k, j):
        offset = (max(sizes) - sizes[k]) * row_gap / 2
        return left + k * column_gap, top + offset + j * row_gap + row_gap / 2

    body = []
    w_max = max(float(np.max(np.abs(W))) for W, _, _ in layers) or 1.0
    labelled = max(sizes) <= 5
    for k, (W, _, _) in enumerate(layers, start=1):
        for j in range(W.shape[0]):
            for i in range(W.shape[1]):
                (x0, y0), (x1, y1) = centre(k - 1, i), centre(k, j)
                w = float(W[j, i])
                colour = POSITIVE if w >= 0 else NEGATIVE
                body.append(f'<line x1="{x0 + radius:.1f}" y1="{y0:.1f}" x2="{x1 - radius:.1f}" y2="{y1:.1f}" '
                            f'stroke="{colour}" stroke-width="{0.8 + 5 * abs(w) / w_max:.2f}" '
                            f'stroke-opacity="0.85"><title>W{str(k).translate(_SUB)}[{j},{i}] = {w:.4f}'
                            f'</title></line>')
                if labelled:
                    t = 0.22 + 0.5 * j / W.shape[0]      # staggered, so labels of crossing edges part
                    lx, ly = x0 + radius + t * (x1 - x0 - 2 * radius), y0 + t * (y1 - y0)
                    text = f"{w:+.2f}"
                    tw = text_width(text, 10.5, mono=True)
                    body.append(f'<rect x="{lx - tw / 2 - 2:.1f}" y="{ly - 8:.1f}" width="{tw + 4:.1f}" '
                                f'height="14" rx="3" fill="white" fill-opacity="0.9"/>')
                    body.append(f'<text x="{lx:.1f}" y="{ly + 3.5:.1f}" text-anchor="middle" font-size="10.5" '
                                f'font-family="{MONO}" fill="{colour}">{text}</text>')
    names = ["input x"] + [f"layer {k} ({act})" if k < len(layers) else f"output ({act})"
                           for k, (_, _, act) in enumerate(layers, start=1)]
    for k, n in enumerate(sizes):
        cx = centre(k, 0)[0]
        body.append(f'<text x="{cx:.1f}" y="30" text-anchor="middle" font-size="13" font-weight="bold">'
                    f'{escape(names[k])}</text>')
        for j in range(n):
            _, cy = centre(k, j)
            fill = "#f2f2f2" if k == 0 else "#fafafa"
            body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{fill}" stroke="#333" '
                        f'stroke-width="1.5"/>')
            sub = str(j + 1).translate(_SUB)
            label = f"x{sub}" if k == 0 else ("ŷ" if k == len(sizes) - 1 and n == 1 else f"a{sub}")
            if values is not None:
                body.append(f'<text x="{cx:.1f}" y="{cy - 3:.1f}" text-anchor="middle" font-size="11">'
                            f'{escape(label)}</text>')
                body.append(f'<text x="{cx:.1f}" y="{cy + 11:.1f}" text-anchor="middle" font-size="10.5" '
                            f'font-family="{MONO}">{values[k][j]:.3f}</text>')
            else:
                body.append(f'<text x="{cx:.1f}" y="{cy + 5:.1f}" text-anchor="middle" font-size="14">'
                            f'{escape(label)}</text>')
            if k > 0:
                b = float(layers[k - 1][1][j])
                body.append(f'<text x="{cx:.1f}" y="{cy + radius + 14:.1f}" text-anchor="middle" font-size="10.5" '
                            f'font-family="{MONO}" fill="#555">b = {b:+.3f}</text>')
    legend_y = height - 16
    body.append(f'<text x="{left - 40}" y="{legend_y}" font-size="11.5" fill="#444">edges: '
                f'<tspan fill="{POSITIVE}" font-weight="bold">blue = positive weight</tspan>, '
                f'<tspan fill="{NEGATIVE}" font-weight="bold">orange = negative</tspan>, width ∝ |w|'
                + ("; circles: each neuron's output for x = " + escape("[" + ", ".join(f"{v:g}" for v in values[0]) + "]")
                   if values is not None else "") + "</text>")
    width = max(width, left - 40 + text_width("edges: blue = positive weight, orange = negative, width ∝ |w|"
                                              "; circles: each neuron's output for x = [0, 1]", 11.5) + 20)
    return NetworkDrawing(svg_document(width, height, body, title), sizes)

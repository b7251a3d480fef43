"""Checks on the SVG that chainrule.viz draws without Graphviz: parsed as XML, boxes and arrows measured."""
import re
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"


def boxes(svg):
    """{node id: (x, y, width, height, kind, [text lines])} from the drawn SVG."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(SVG_NS + "g"):
        cls = g.get("class", "").split()
        if not cls or cls[0] != "node":
            continue
        rect = g.find(SVG_NS + "rect")
        texts = [t.text or "" for t in g.findall(SVG_NS + "text")]
        out[g.get("id")] = (float(rect.get("x")), float(rect.get("y")), float(rect.get("width")),
                            float(rect.get("height")), cls[1], texts)
    return out


def arrows(svg):
    """[(start point, end point, title)] of every arrow (a path with an arrowhead)."""
    root = ET.fromstring(svg)
    out = []
    for path in root.iter(SVG_NS + "path"):
        if path.get("marker-end") is None:
            continue
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.get("d"))]
        title = path.find(SVG_NS + "title")
        out.append(((numbers[0], numbers[1]), (numbers[-2], numbers[-1]), title.text if title is not None else ""))
    return out


def assert_svg_draws(svg, graph):
    """Every node is drawn once, no two boxes overlap, and every arrow runs down from its source to its user."""
    drawn = boxes(svg)
    assert set(drawn) == {n.id for n in graph.model.nodes}
    for node in graph.model.nodes:
        x, y, w, h, kind, texts = drawn[node.id]
        assert kind == node.kind and texts[0] == node.title
        assert texts[1:] == [line for text in node.lines for line in text.split("\n")]
    items = list(drawn.items())
    for i, (a, (x1, y1, w1, h1, *_)) in enumerate(items):
        for b, (x2, y2, w2, h2, *_) in items[i + 1:]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, f"boxes {a} and {b} overlap"
    edges = set(graph.model.edges)
    drawn_arrows = arrows(svg)
    assert len(drawn_arrows) == len(edges)
    for (sx, sy), (ex, ey), title in drawn_arrows:
        src, dst = title.split(" → ")
        assert (src, dst) in edges
        bx, by, bw, bh, *_ = drawn[src]
        cx, cy, cw, ch, *_ = drawn[dst]
        assert abs(sy - (by + bh)) < 0.2 and bx <= sx <= bx + bw       # leaves the source's bottom edge
        assert abs(ey - cy) < 0.2 and cx <= ex <= cx + cw             # reaches the user's top edge
        assert ey > sy

"""chainrule.viz.draw_graph and the safe --expr evaluator, checked against PyTorch's graphs."""
import re
import shutil

import numpy as np
import pytest
import torch

import chainrule
from chainrule.autograd.engine import AccumulateGrad
from chainrule.tools.expr import ExpressionError, evaluate
from chainrule.viz import Graph, GraphvizNotFound, draw_graph
from svgcheck import assert_svg_draws

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse_dot(source):
    """{node id: (label, attributes)} and [(src, dst)] from draw_graph's DOT text; fails on anything else."""
    lines = source.strip().splitlines()
    assert lines[0] == "digraph chainrule {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if line.strip().startswith(("graph [", "node [")):
            continue
        m = NODE.match(line)
        if m:
            assert m.group(1) not in nodes, f"node declared twice: {line}"
            nodes[m.group(1)] = (m.group(2).replace("\\n", "\n"), m.group(3))
            continue
        m = EDGE.match(line)
        assert m, f"unexpected DOT line: {line!r}"
        edges.append((m.group(1), m.group(2)))
    for src, dst in edges:
        assert src in nodes and dst in nodes, f"edge {src} -> {dst} to an undeclared node"
    return nodes, edges


def walk_ops(tensor):
    """The grad_fn nodes behind ``tensor`` (not AccumulateGrad), walked independently of viz."""
    seen, stack, ops = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is not AccumulateGrad:
            ops.append(node)
        stack.extend(fn for fn, _ in node.next_functions)
    return ops


def torch_op_names(tensor):
    seen, stack, names = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node.name() != "torch::autograd::AccumulateGrad":
            names.append(type(node).__name__)
        stack.extend(fn for fn, _ in node.next_functions)
    return sorted(names)


def test_one_node_per_op_and_leaf_matches_pytorch_graph():
    a = chainrule.tensor(2.0, requires_grad=True)
    b = chainrule.tensor(-3.0, requires_grad=True)
    c = chainrule.tensor(10.0, requires_grad=True)
    out = (a * b + c).sigmoid()
    out.backward()
    graph = draw_graph(out, params={"a": a, "b": b, "c": c}, op_labels="pytorch")
    nodes, edges = parse_dot(graph.source)
    ops = {k: v for k, v in nodes.items() if k.startswith("op_")}
    leaves = {k: v for k, v in nodes.items() if k.startswith("leaf_")}
    assert len(ops) == len(walk_ops(out)) == graph.op_nodes == 3
    assert len(leaves) == graph.leaf_nodes == 3

    ta, tb, tc = (torch.tensor(v, requires_grad=True) for v in (2.0, -3.0, 10.0))
    tout = (ta * tb + tc).sigmoid()
    assert sorted(label for label, _ in ops.values()) == torch_op_names(tout)

    tout.backward()
    labels = {label.split("\n")[0]: label for label, _ in leaves.values()}
    assert set(labels) == {"a", "b", "c"}
    for name, t in (("a", ta), ("b", tb), ("c", tc)):
        assert f"grad {t.grad.item():.4g}" in labels[name]
    # Arrows run input -> op -> output: every leaf feeds an op, the root op feeds the output node.
    assert all(dst.startswith("op_") for src, dst in edges if src.startswith("leaf_"))
    assert sum(dst == "output" for _, dst in edges) == 1


def test_shapes_names_and_no_grad_values():
    W = chainrule.randn(3, 2, requires_grad=True)
    x = chainrule.randn(4, 2)
    loss = (x @ W.T).relu().sum()
    graph = draw_graph(loss, params={"W": W}, show_grad=False)
    nodes, _ = parse_dot(graph.source)
    (leaf_label, _), = [v for k, v in nodes.items() if k.startswith("leaf_")]
    assert leaf_label.startswith("W\n(3, 2)")
    assert "grad" not in leaf_label            # no backward yet, and show_grad=False
    loss.backward()
    assert "grad" not in draw_graph(loss, params={"W": W}, show_grad=False).source
    assert "grad [[" in draw_graph(loss, params={"W": W}).source
    assert len([k for k in nodes if k.startswith("op_")]) == len(walk_ops(loss))


def test_big_arrays_show_grad_norm_not_values():
    W = chainrule.randn(10, 10, requires_grad=True)
    loss = (W * 2).sum()
    loss.backward()
    label = [v for k, v in parse_dot(draw_graph(loss).source)[0].items() if k.startswith("leaf_")][0][0]
    assert "value" not in label and "grad norm 20" in label


def test_deep_graph_needs_no_recursion():
    x = chainrule.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    graph = draw_graph(y)
    assert graph.op_nodes == 3000 and graph.leaf_nodes == 1


def test_leaf_alone_and_bad_input():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = parse_dot(draw_graph(x, params={"x": x}).source)
    assert len(nodes) == 1 and not edges
    with pytest.raises(TypeError, match="chainrule Tensor"):
        draw_graph(np.ones(3))
    with pytest.raises(TypeError, match="dict"):
        draw_graph(x, params=[x])


def test_save_dot_and_rendering_without_graphviz(tmp_path, monkeypatch):
    a = chainrule.tensor(1.5, requires_grad=True)
    graph = draw_graph(a.exp() * a)
    path = graph.save(tmp_path / "g.dot")
    assert open(path).read() == graph.source
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not Graph.dot_available()
    with pytest.raises(GraphvizNotFound, match="install graphviz"):
        graph.save(tmp_path / "g.png")
    # SVG needs no Graphviz: chainrule lays the graph out itself, and Jupyter shows it inline.
    graph.save(tmp_path / "g.svg")
    svg = (tmp_path / "g.svg").read_text()
    assert svg == graph.svg() == graph._repr_svg_()
    assert_svg_draws(svg, graph)
    bundle = graph._repr_mimebundle_()
    assert bundle["image/svg+xml"] == svg and "1 leaves" in bundle["text/plain"]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_render_svg_and_png_with_graphviz(tmp_path):
    a = chainrule.tensor(1.5, requires_grad=True)
    graph = draw_graph((a * a).tanh(), op_labels="pytorch")
    svg = graph._repr_svg_()
    assert "<svg" in svg and "TanhBackward0" in svg and "Generated by graphviz" in svg
    assert "image/svg+xml" in graph._repr_mimebundle_()
    assert "Generated by graphviz" not in graph.svg(renderer="python")
    png = graph.save(tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ----- the --expr evaluator ----------------------------------------------------------------------------------
def test_expression_matches_pytorch():
    out, variables = evaluate("(a*b + c).sigmoid() + tanh(a) * 2 - b ** 2 / c")
    assert set(variables) == {"a", "b", "c"}
    a, b, c = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, -3.0, 10.0))
    expected = (a * b + c).sigmoid() + torch.tanh(a) * 2 - b ** 2 / c
    assert out.item() == pytest.approx(expected.item(), rel=1e-12)
    out.backward()
    expected.backward()
    for name, t in (("a", a), ("b", b), ("c", c)):
        assert variables[name].grad.item() == pytest.approx(t.grad.item(), rel=1e-12)


def test_expression_with_tensor_values_and_keywords():
    out, variables = evaluate("torch.tanh(x @ w).sum(dim=0)", {"x": [[1.0, 2.0], [3.0, 4.0]], "w": [[0.5], [-0.1]]})
    expected = np.tanh(np.array([[1.0, 2.0], [3.0, 4.0]]) @ np.array([[0.5], [-0.1]])).sum(axis=0)
    np.testing.assert_allclose(out.detach().numpy(), expected)
    assert variables["x"].shape == (2, 2)


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "not an allowed function"),
    ("a.__class__", "Attribute is not allowed"),
    ("open('f')", "not an allowed function"),
    ("a[0]", "Subscript is not allowed"),
    ("(lambda: 1)()", "only named functions"),
    ("chainrule.os.system('x')", "Attribute is not allowed"),
    ("a.exp(b='x')", "only numbers"),
    ("2 * 3", "uses no variables"),
    ("a +", "cannot parse"),
    ("_secret + 1", "starting with '_'"),
    ("torch + a", "only be used to call"),
    ("9 ** 999 + a", "too large"),
    ("", "empty"),
])
def test_expression_refuses_everything_else(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        evaluate(text)


def test_expression_values_for_unknown_names_are_an_error():
    with pytest.raises(ExpressionError, match="not in the expression: z"):
        evaluate("a * 2", {"z": 1.0})

"""Graphs for learners: intermediates with values and gradients (checked against PyTorch), readable op
labels, the Graphviz-free SVG layout, and the network drawn as neurons and weighted edges."""
import ast
import random
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import chainrule
from chainrule.explain import essay_network
from chainrule.viz import draw_graph, draw_network
from chainrule.viz.labels import LEARNER_LABELS
from chainrule.viz.layout import layered_layout
from svgcheck import SVG_NS, assert_svg_draws, boxes
from test_viz import parse_dot, torch_op_names


def essay_forward(seed=0):
    """The essay's forward pass on XOR in chainrule, every step named, and the same in PyTorch."""
    layers = essay_network(seed=seed)
    X, y = chainrule.datasets.xor()
    x = X.double().requires_grad_(True)
    y = y.double()
    z1 = x @ layers[0].weight.T + layers[0].bias
    a1 = z1.sigmoid()
    z2 = a1 @ layers[1].weight.T + layers[1].bias
    y_hat = z2.sigmoid()
    loss = ((y_hat - y) ** 2).mean()
    names = {"x": x, "W1": layers[0].weight, "b1": layers[0].bias, "z1": z1, "a1": a1,
             "W2": layers[1].weight, "b2": layers[1].bias, "z2": z2, "y_hat": y_hat}

    t = {k: torch.tensor(v.detach().numpy(), requires_grad=True) for k, v in
         (("x", x), ("W1", layers[0].weight), ("b1", layers[0].bias), ("W2", layers[1].weight),
          ("b2", layers[1].bias))}
    t["z1"] = t["x"] @ t["W1"].T + t["b1"]
    t["a1"] = t["z1"].sigmoid()
    t["z2"] = t["a1"] @ t["W2"].T + t["b2"]
    t["y_hat"] = t["z2"].sigmoid()
    t_loss = ((t["y_hat"] - torch.tensor(y.numpy())) ** 2).mean()
    for k in ("z1", "a1", "z2", "y_hat"):
        t[k].retain_grad()
    t_loss.backward()
    return loss, names, t, t_loss


def label_parts(label):
    """'z1\n(4, 2)\nvalue [[...]]\ngrad [[...]]' -> (name, shape, value array, grad array or None)."""
    name, shape, rest = label.split("\n", 2)
    value, _, grad = rest.partition("\ngrad ")
    assert value.startswith("value ")

    def array(text):
        return np.array(ast.literal_eval(re.sub(r"(?<=\d)\.(?=[,\]\s])", ".0", text.replace("\n", " "))))
    return name, shape, array(value[len("value "):]), array(grad) if grad else None


def test_intermediates_show_pytorchs_values_and_gradients():
    loss, names, t, t_loss = essay_forward()
    graph = draw_graph(loss, names=names)
    nodes, edges = parse_dot(graph.source)
    assert graph.tensor_nodes == 4 and graph.leaf_nodes == 5
    drawn = {}
    for node_id, (label, _) in nodes.items():
        if node_id.startswith(("tensor_", "leaf_")):
            name, shape, value, grad = label_parts(label)
            drawn[name] = (node_id, shape, value, grad)
    assert set(drawn) == set(names)
    for name, (_, shape, value, grad) in drawn.items():
        assert shape == "(" + ", ".join(map(str, t[name].shape)) + ")"
        np.testing.assert_allclose(value, t[name].detach().numpy(), atol=6e-5, err_msg=name)
        np.testing.assert_allclose(grad, t[name].grad.numpy(), atol=6e-5, err_msg=name)
    # No .grad was touched to get those gradients: they came from autograd.grad.
    assert all(p.grad is None for p in (names["W1"], names["b1"], names["W2"], names["b2"]))
    # Each intermediate sits between the op that made it and the op that uses it: σ -> a1 -> @.
    labels = {k: v[0] for k, v in nodes.items()}
    a1 = drawn["a1"][0]
    (maker,) = [s for s, d in edges if d == a1]
    users = [d for s, d in edges if s == a1]
    assert labels[maker] == "σ" and [labels[u] for u in users] == ["@"]
    z1 = drawn["z1"][0]
    assert [labels[s] for s, d in edges if d == z1] == ["+"]
    # The output node carries the loss.
    assert labels["output"].startswith("output\n()\nvalue ")
    assert float(labels["output"].split("value ")[1]) == pytest.approx(t_loss.item(), abs=5e-5)


def test_after_backward_gradients_come_from_grad_and_retain_grad():
    loss, names, t, _ = essay_forward()
    names["a1"].retain_grad()
    loss.backward()                                     # frees the graph: autograd.grad is impossible now
    nodes, _ = parse_dot(draw_graph(loss, names=names).source)
    by_name = {label_parts(label)[0]: label_parts(label) for k, (label, _) in nodes.items()
               if k.startswith(("tensor_", "leaf_"))}
    np.testing.assert_allclose(by_name["a1"][3], t["a1"].grad.numpy(), atol=6e-5)
    np.testing.assert_allclose(by_name["W1"][3], t["W1"].grad.numpy(), atol=6e-5)
    assert by_name["z1"][3] is None                    # no retain_grad(): its gradient is gone, none is shown


def test_names_that_cannot_be_drawn_are_errors_that_say_why():
    W = chainrule.randn(2, 2, requires_grad=True)
    x = chainrule.randn(3, 2)                          # an input that does not require grad
    loss = (x @ W).sum()
    with pytest.raises(ValueError, match=r"names\['x'\] does not require grad.*requires_grad_\(\)"):
        draw_graph(loss, names={"x": x, "W": W})
    other = (W * 2).sum()
    with pytest.raises(ValueError, match=r"names\['other'\] is not part of the graph"):
        draw_graph(loss, names={"other": other})
    with pytest.raises(ValueError, match="op_labels must be one of"):
        draw_graph(loss, op_labels="fancy")
    # params= (torchviz's make_dot convention) ignores names it does not find.
    assert draw_graph(loss, params={"W": W, "unused": chainrule.zeros(1, requires_grad=True)}).leaf_nodes == 1


def test_learner_labels_name_the_same_ops_as_pytorch():
    loss, names, t, t_loss = essay_forward()
    learner = parse_dot(draw_graph(loss, names=names).source)[0]
    ops = sorted(label for k, (label, _) in learner.items() if k.startswith("op_"))
    expected = sorted(LEARNER_LABELS[re.sub(r"Backward\d*$", "", n)] if not n.startswith("Pow") else "(·)²"
                      for n in torch_op_names(t_loss))
    assert ops == expected
    assert set(ops) == {"@", "(·)ᵀ", "+", "σ", "−", "(·)²", "mean"}
    pytorch = parse_dot(draw_graph(loss, names=names, op_labels="pytorch").source)[0]
    assert sorted(label for k, (label, _) in pytorch.items() if k.startswith("op_")) == torch_op_names(t_loss)


@pytest.mark.parametrize("make, label", [
    (lambda a, b: a ** 2, "(·)²"), (lambda a, b: a ** 3.0, "(·)³"), (lambda a, b: a ** 0.5, "(·)^0.5"),
    (lambda a, b: a ** -1, "(·)⁻¹"), (lambda a, b: a ** b, "xʸ"), (lambda a, b: a.sum(), "Σ"),
    (lambda a, b: a.exp(), "exp"), (lambda a, b: a.tanh(), "tanh"), (lambda a, b: a.relu(), "ReLU"),
    (lambda a, b: a / b, "÷"), (lambda a, b: a * b, "×"), (lambda a, b: -a, "−(·)"),
    (lambda a, b: a.clamp(0, 1), "clamp"), (lambda a, b: a.abs(), "|·|"),
])
def test_op_symbols(make, label):
    a = chainrule.tensor([1.5, 2.0], requires_grad=True)
    b = chainrule.tensor([0.5, 3.0], requires_grad=True)
    nodes, _ = parse_dot(draw_graph(make(a, b)).source)
    assert label in [v[0] for k, v in nodes.items() if k.startswith("op_")]


def test_svg_without_graphviz_draws_every_node_once_and_arrows_downwards():
    loss, names, *_ = essay_forward()
    graph = draw_graph(loss, names=names)
    svg = graph.svg(renderer="python")
    assert_svg_draws(svg, graph)
    drawn = boxes(svg)
    # The forward pass reads top to bottom: x above z1 above a1 above z2 above y_hat above the loss.
    tops = {texts[0]: y for (x, y, w, h, kind, texts) in drawn.values()}
    order = [tops[n] for n in ("x", "z1", "a1", "z2", "y_hat", "output")]
    assert order == sorted(order)


def test_svg_of_a_deep_graph_needs_no_recursion():
    x = chainrule.tensor(0.5, requires_grad=True)
    y = x
    for _ in range(1500):
        y = y * 1.0001
    svg = draw_graph(y).svg(renderer="python")
    assert svg.count('class="node op"') == 1500


def test_layered_layout_on_random_dags():
    rng = random.Random(0)
    for trial in range(30):
        n = rng.randint(2, 25)
        sizes = {f"n{i}": (rng.randint(20, 120), rng.randint(16, 60)) for i in range(n)}
        edges = [(f"n{i}", f"n{j}") for j in range(n) for i in range(j) if rng.random() < 0.15]
        layout = layered_layout(sizes, edges)
        for s, d in edges:                                # every arrow points down
            assert layout.positions[s][1] < layout.positions[d][1]
            route = layout.routes[(s, d)]
            assert route[0][1] < route[-1][1]
        names = list(sizes)
        for i, a in enumerate(names):                     # no two boxes overlap
            for b in names[i + 1:]:
                (ax, ay), (bx, by) = layout.positions[a], layout.positions[b]
                (aw, ah), (bw, bh) = sizes[a], sizes[b]
                assert abs(ax - bx) >= (aw + bw) / 2 - 1e-6 or abs(ay - by) >= (ah + bh) / 2 - 1e-6
                assert 0 <= ax - aw / 2 and ax + aw / 2 <= layout.width
    with pytest.raises(ValueError, match="cycle"):
        layered_layout({"a": (1, 1), "b": (1, 1)}, [("a", "b"), ("b", "a")])


def test_network_drawing_has_one_edge_per_weight_coloured_by_sign():
    layers = essay_network(seed=0)
    x = [0.0, 1.0]
    drawing = draw_network(layers, x=x)
    root = ET.fromstring(drawing.svg())
    lines = root.findall(f".//{SVG_NS}line")
    assert len(lines) == 2 * 2 + 2 * 1
    weights = [float(w) for layer in layers for w in layer.weight.detach().numpy().ravel()]
    shown = [float(line.find(f"{SVG_NS}title").text.split("= ")[1]) for line in lines]
    assert shown == pytest.approx(weights, abs=5e-5)
    for line, w in zip(lines, weights):
        assert line.get("stroke") == ("#2b6cb0" if w >= 0 else "#dd6b20")
    widths = [float(line.get("stroke-width")) for line in lines]
    assert widths[int(np.argmax(np.abs(weights)))] == max(widths)
    # Each neuron shows its output for x: PyTorch's forward pass.
    a = torch.tensor(x, dtype=torch.float64)
    expected = []
    for layer in layers:
        a = torch.sigmoid(torch.tensor(layer.weight.detach().numpy()) @ a + torch.tensor(layer.bias.detach().numpy()))
        expected.extend(a.tolist())
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    values = [float(t) for t in texts if t and re.fullmatch(r"-?\d\.\d{3}", t)]
    assert values[2:] == pytest.approx(expected, abs=5e-4)          # after the two inputs 0.000, 1.000
    assert drawing._repr_mimebundle_()["image/svg+xml"] == drawing.svg()


def test_network_of_an_nn_sequential_and_bad_input():
    model = chainrule.nn.Sequential(chainrule.nn.Linear(3, 4), chainrule.nn.Tanh(), chainrule.nn.Linear(4, 2))
    drawing = draw_network(model)
    assert drawing.sizes == [3, 4, 2]
    assert len(ET.fromstring(drawing.svg()).findall(f".//{SVG_NS}line")) == 3 * 4 + 4 * 2
    with pytest.raises(ValueError, match="x has 2 values but the network has 3 inputs"):
        draw_network(model, x=[1.0, 2.0])
    with pytest.raises(TypeError, match="nn.Sequential of Linear"):
        draw_network(chainrule.nn.Linear(2, 2))

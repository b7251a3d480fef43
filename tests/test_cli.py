"""The ``chainrule`` command end to end: ``python -m chainrule ...`` in a subprocess, output and files checked."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, code=None, env=None, check=True, timeout=120):
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "chainrule", *args]
    full_env = dict(os.environ, PYTHONIOENCODING="utf-8", **(env or {}))
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", cwd=ROOT, env=full_env,
                          timeout=timeout)
    if check:
        assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) > 5000, f"{path} is only {len(data)} bytes"


@pytest.mark.parametrize("command", [[], ["train"], ["explain"], ["graph"], ["gradflow"], ["playground"]])
def test_help(command):
    out = run(*command, "--help").stdout
    assert out.startswith("usage: chainrule")
    for option in {"train": ["--hidden", "--activation", "--loss", "--optimizer", "--lr", "--epochs", "--batch-size",
                             "--seed", "--plot", "--save"],
                   "explain": ["--sample", "--seed", "--activation", "--lr"],
                   "graph": ["--expr", "--format", "--output", "--no-grad-values"],
                   "gradflow": ["--depth", "--activation", "--width", "--seed", "--plot", "--compare"],
                   "playground": ["--port", "--host", "--open", "127.0.0.1"],
                   }.get(command[0] if command else "", ["train", "explain", "graph", "gradflow", "playground"]):
        assert option in out


def test_train_xor_defaults_learn_xor_plot_and_checkpoint(tmp_path):
    png, ckpt = tmp_path / "xor.png", tmp_path / "xor.ckpt"
    out = run("train", "xor", "--plot", str(png), "--save", str(ckpt)).stdout
    assert "Initial weights and biases:" in out and "W1 (2x2):" in out and "b2 (1):" in out
    assert "MSE loss, plain gradient descent (SGD), lr 2, 5000 epochs, full batch" in out
    epochs = [int(e) for e in re.findall(r"^Epoch (\d+): Loss = [\d.]+$", out, re.M)]
    assert epochs[0] == 0 and epochs[-1] == 4999 and len(epochs) >= 5
    losses = [float(v) for v in re.findall(r"^Epoch \d+: Loss = ([\d.]+)$", out, re.M)]
    assert losses[-1] < losses[0] / 10
    rows = re.findall(r"^Input: \[(\d) (\d)\] -> Predicted: ([\d.]+), Actual: (\d)$", out, re.M)
    assert len(rows) == 4
    for a, b, predicted, actual in rows:
        assert int(actual) == (int(a) ^ int(b))
        assert round(float(predicted)) == int(actual), rows
    assert "Training accuracy: 100.0% (4/4)" in out
    assert_png(png)

    ckpt_data = chainrule.load(str(ckpt))
    assert ckpt_data["config"]["dataset"] == "xor" and ckpt_data["config"]["hidden"] == [2]
    assert sorted(ckpt_data["state_dict"]) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    from chainrule.tools.train import load_checkpoint, predict
    model, config = load_checkpoint(str(ckpt))
    X, y = chainrule.datasets.xor()
    classes, scores = predict(model, config, X)
    np.testing.assert_array_equal(classes, y.numpy()[:, 0])
    printed = np.array([float(p) for *_, p, _ in rows])
    np.testing.assert_allclose(scores[:, 0], printed, atol=0.006)       # printed with 2 decimals


def test_train_moons_with_options_reports_accuracy_and_boundary(tmp_path):
    png = tmp_path / "moons.png"
    out = run("train", "moons", "--hidden", "8,8", "--activation", "relu", "--optimizer", "momentum",
              "--lr", "0.1", "--epochs", "40", "--batch-size", "16", "--seed", "1", "--plot", str(png),
              "--no-progress").stdout
    assert "hidden 8,8, relu, BCE loss, SGD with momentum 0.9, lr 0.1, 40 epochs, batches of 16" in out
    accuracy = float(re.search(r"Training accuracy: ([\d.]+)% \((\d+)/200\)", out).group(1))
    assert accuracy > 85
    assert "Input:" not in out
    assert_png(png)


def test_train_digits_prints_confusion_matrix():
    out = run("train", "digits", "--epochs", "2", "--no-progress").stdout
    test_acc = re.search(r"Test accuracy: ([\d.]+)% \((\d+)/(\d+)\)", out)
    assert float(test_acc.group(1)) > 80
    matrix_start = out.index("Confusion matrix")
    rows = out[matrix_start:].splitlines()[2:12]
    matrix = np.array([[int(v) for v in row.split()[1:]] for row in rows])
    assert matrix.shape == (10, 10)
    assert matrix.sum() == int(test_acc.group(3)) and np.trace(matrix) == int(test_acc.group(2))


def test_explain_all_checks_pass_and_the_loss_goes_down():
    for args in ([], ["--sample", "all", "--activation", "tanh", "--lr", "0.2"], ["--sample", "0", "--loss", "bce"]):
        out = run("explain", "xor", *args).stdout
        assert "✗" not in out
        assert out.count("✓") == 13, out                    # 12 quantities + the loss going down
        before, after = map(float, re.search(r"loss before: ([\d.]+)\s+after: ([\d.]+)", out).groups())
        assert after < before
        steps = [out.index(s) for s in ("── layer 2 (output", "∂L/∂a₂", "σ'(z₂)", "∂L/∂z₂ = ∂L/∂a₂ · σ'(z₂)",
                                        "∂L/∂W₂ = ∂L/∂z₂ · a₁ᵀ", "∂L/∂a₁ = W₂ᵀ · ∂L/∂z₂", "── layer 1 (hidden",
                                        "UPDATE  w ← w − η·∂L/∂w")]
        assert steps == sorted(steps)


def test_explain_exit_status_reports_a_disagreement():
    # ReLU with zero biases: input [0 0] puts z₁ exactly on ReLU's kink, where finite differences cannot agree.
    done = run("explain", "xor", "--sample", "0", "--activation", "relu", check=False)
    assert done.returncode == 1 and "✗" in done.stdout and "ReLU's kink" in done.stdout


def _dot_nodes(source):
    body = [line.strip() for line in source.splitlines() if line.strip() and not line.startswith("//")]
    assert body[0] == "digraph chainrule {" and body[-1] == "}"
    nodes = [re.match(r"(\w+) \[label=", line).group(1) for line in body if re.match(r"\w+ \[label=", line)]
    edges = [tuple(re.match(r"(\w+) -> (\w+);$", line).groups()) for line in body if "->" in line]
    assert len(set(nodes)) == len(nodes)
    assert all(s in nodes and d in nodes for s, d in edges)
    return nodes, edges


def test_graph_default_is_the_essays_loss_with_every_intermediate():
    out = run("graph").stdout
    nodes, edges = _dot_nodes(out)
    # The same loss built here: count its grad_fn nodes by walking next_functions.
    from chainrule.explain import essay_network
    layers = essay_network(seed=0)
    X, y = chainrule.datasets.xor()
    X, y = X.double().requires_grad_(True), y.double()
    a1 = (X @ layers[0].weight.T + layers[0].bias).sigmoid()
    loss = (((a1 @ layers[1].weight.T + layers[1].bias).sigmoid() - y) ** 2).mean()
    seen, stack, n_ops = set(), [loss.grad_fn], 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        n_ops += node.name() != "torch::autograd::AccumulateGrad"
        stack.extend(fn for fn, _ in node.next_functions)
    assert sum(n.startswith("op_") for n in nodes) == n_ops
    assert sum(n.startswith("leaf_") for n in nodes) == 5                  # x, W₁, b₁, W₂, b₂
    assert sum(n.startswith("tensor_") for n in nodes) == 4                # z₁, a₁, z₂, ŷ
    for name in ("x", "W₁", "b₁", "W₂", "b₂", "z₁", "a₁", "z₂", "ŷ"):
        assert f'label="{name}\\n' in out
    assert 'label="L\\n()\\nvalue' in out
    for symbol in ("@", "σ", "(·)²", "mean"):
        assert f'label="{symbol}"' in out
    assert "grad [[" in out and f"// {n_ops} ops, 5 leaf tensors, 4 intermediates" in out
    assert "MmBackward0" in run("graph", "--op-labels", "pytorch").stdout


def test_graph_network_as_neurons_and_weighted_edges(tmp_path):
    out = run("graph", "--network", "--sample", "2", "-o", str(tmp_path / "net.svg")).stdout
    assert "Wrote" in out and "input [1, 0]" in out
    svg = (tmp_path / "net.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<line ") == 6 and "blue = positive weight" in svg
    done = run("graph", "--network", "--format", "png", "-o", str(tmp_path / "n.png"), check=False)
    assert done.returncode == 1 and ("SVG only" in done.stderr or "install graphviz" in done.stderr)


def test_graph_expression_and_no_grad_values(tmp_path):
    path = tmp_path / "g.dot"
    out = run("graph", "--expr", "(a*b + c).sigmoid()", "--set", "a=1.5", "--no-grad-values", "-o", str(path)).stdout
    assert "3 ops, 3 leaf tensors" in out
    source = path.read_text()
    nodes, _ = _dot_nodes(source)
    assert sum(n.startswith("op_") for n in nodes) == 3
    assert "grad" not in source and 'label="a\\n()\\nvalue 1.5"' in source


def test_graph_refuses_unsafe_expressions():
    done = run("graph", "--expr", "__import__('os').system('echo hacked')", check=False)
    assert done.returncode == 1 and "not an allowed function" in done.stderr and "hacked" not in done.stdout


def test_graph_svg_without_and_with_graphviz(tmp_path):
    # Without Graphviz (an empty PATH): SVG is drawn by chainrule itself; PNG says what to install.
    no_dot = {"PATH": str(tmp_path)}
    out = run("graph", "--format", "svg", "-o", str(tmp_path / "g.svg"), env=no_dot).stdout
    assert "Wrote" in out
    svg = (tmp_path / "g.svg").read_text()
    assert svg.startswith("<svg") and "Generated by graphviz" not in svg and ">z₁</text>" in svg
    done = run("graph", "--format", "png", "-o", str(tmp_path / "g.png"), env=no_dot, check=False)
    assert done.returncode == 1 and "install graphviz" in done.stderr
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    run("graph", "--format", "png", "-o", str(tmp_path / "g.png"))
    assert_png(tmp_path / "g.png")


def test_graph_bad_outputs_and_empty_expression_fail_in_one_line(tmp_path):
    for args, message in ((["graph", "--expr", ""], "--expr: the expression is empty"),
                          (["graph", "-o", str(tmp_path / "missing" / "g.dot")], "does not exist"),
                          (["graph", "-o", str(tmp_path)], "is a directory")):
        done = run(*args, check=False)
        assert done.returncode == 1 and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_gradflow_sigmoid_vanishes_relu_does_not(tmp_path):
    png = tmp_path / "gf.png"
    out = run("gradflow", "--depth", "20", "--activation", "sigmoid", "--compare", "--plot", str(png)).stdout
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    assert "sigmoid" in header and "relu" in header
    first = re.search(r"^1\s+([\d.e+-]+)\s+([\d.e+-]+)\s+\(input side\)$", out, re.M)
    sigmoid_first, relu_first = float(first.group(1)), float(first.group(2))
    assert sigmoid_first < relu_first / 1000
    rows = re.findall(r"^(\d+)\s+([\d.e+-]+)\s+([\d.e+-]+)", out, re.M)
    assert [int(r[0]) for r in rows] == list(range(1, 21))
    assert_png(png)


def test_missing_matplotlib_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from chainrule.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    for args in (["train", "xor", "--epochs", "5", "--plot", str(tmp_path / "x.png")],
                 ["gradflow", "--depth", "3", "--plot", str(tmp_path / "g.png")]):
        done = run(*args, code=code, check=False)
        assert done.returncode == 1
        assert "--plot needs matplotlib: pip install 'chainrule[plot]'" in done.stderr
    assert not os.path.exists(tmp_path / "x.png")


def test_missing_tqdm_falls_back_to_plain_prints():
    code = "import sys; sys.modules['tqdm'] = None; from chainrule.cli import main; sys.exit(main(sys.argv[1:]))"
    done = run("train", "xor", "--epochs", "50", code=code)
    assert "pip install 'chainrule[progress]'" in done.stdout
    assert "Epoch 0: Loss" in done.stdout and "Epoch 49: Loss" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "xor", "--hidden", "2,0"], "layer sizes must be positive"),
    (["train", "xor", "--lr", "-1"], "must be a positive number"),
    (["train", "cifar"], "invalid choice"),
    (["explain", "xor", "--sample", "7"], "XOR has samples 0-3"),
    (["graph", "--set", "a"], "expected NAME=VALUE"),
    (["gradflow", "--depth", "1"], "--depth must be at least 2"),
])
def test_bad_options_are_clear_errors(args, message):
    done = run(*args, check=False)
    assert done.returncode in (1, 2) and message in done.stderr


# ----- outputs checked before training, one-line errors, sizes named (issue 12 §4) --------------------------
def one_line_error(done, message):
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Epoch" not in done.stdout and "Training on" not in done.stdout      # failed before training


def test_outputs_are_checked_before_training(tmp_path):
    missing = tmp_path / "no" / "such"
    # 10⁶ epochs would take many minutes: these must fail at once.
    for args, message in ((["--save", str(missing / "m.ckpt")], f"--save {missing / 'm.ckpt'}: directory"),
                          (["--plot", str(missing / "p.png")], "does not exist"),
                          (["--save", str(tmp_path)], "is a directory"),
                          (["--plot", str(tmp_path / "p.gif")], "cannot write a .gif picture")):
        one_line_error(run("train", "xor", "--epochs", "1000000", *args, check=False, timeout=60), message)


def test_plot_into_a_folder_or_without_suffix_writes_what_it_says(tmp_path):
    out = run("train", "xor", "--epochs", "20", "--no-progress", "--plot", str(tmp_path)).stdout
    assert f"Wrote {tmp_path / 'xor.png'}" in out
    assert_png(tmp_path / "xor.png")
    out = run("train", "xor", "--epochs", "20", "--no-progress", "--plot", str(tmp_path / "curve")).stdout
    assert f"Wrote {tmp_path / 'curve.png'}" in out
    assert_png(tmp_path / "curve.png")
    out = run("gradflow", "--depth", "3", "--plot", str(tmp_path)).stdout
    assert f"Wrote {tmp_path / 'gradflow.png'}" in out
    assert_png(tmp_path / "gradflow.png")


def test_huge_sizes_are_named_not_a_memory_error():
    one_line_error(run("train", "xor", "--hidden", "1000000,1000000", check=False),
                   "--hidden 1000000,1000000 (1e+12 parameters) needs about")
    done = run("gradflow", "--width", "10000000", check=False)
    assert done.returncode == 1 and "--depth 20 --width 10000000 (2e+15 parameters) needs about" in done.stderr


def test_a_misspelt_option_shows_the_commands_usage_and_the_right_name():
    done = run("train", "xor", "--hiden", "4", check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: chainrule train ")
    assert "unrecognized arguments: --hiden 4 (--hiden: did you mean --hidden?)" in done.stderr


# ----- what a learner tripped on (issue 13 §3) --------------------------------------------------------------
def test_train_help_gives_both_learning_rates_and_why():
    out = " ".join(run("train", "--help").stdout.split())
    assert "lr 2.0 where the essay's code uses 0.1" in out
    assert "50% or 75% accuracy" in out and "the essay's code uses 0.1, too small to learn XOR in 5000 epochs" in out


def test_a_stuck_xor_run_ends_with_a_hint():
    out = run("train", "xor", "--lr", "0.1", "--epochs", "300", "--no-progress").stdout
    accuracy = re.search(r"Training accuracy: ([\d.]+)%", out).group(1)
    assert float(accuracy) < 100
    assert f"Hint: stuck at {float(accuracy):.0f}%" in out and "local minimum" in out
    assert "another --seed" in out and "--hidden 4" in out and "larger --lr (this run: 0.1)" in out
    assert "Hint" not in run("train", "xor", "--no-progress").stdout


def test_explain_prints_the_weights_before_the_forward_pass_and_they_are_trains():
    for init in ("normal", "default"):
        explain = run("explain", "xor", "--seed", "5", "--init", init).stdout
        assert explain.index("W₁ = ") < explain.index("z₁ = ") < explain.index("BACKWARD PASS")
        assert f"`chainrule train xor --init {init} --seed 5` starts from" in explain
        rows = re.search(r"W₁ = \[\[(.*)\]\n\s+\[(.*)\]\]", explain).groups()
        w1_explain = np.array([[float(v) for v in row.split()] for row in rows])
        train = run("train", "xor", "--seed", "5", "--init", init, "--epochs", "1", "--no-progress").stdout
        rows = re.search(r"W1 \(2x2\):\n\[\[(.*)\]\n \[(.*)\]\]", train).groups()
        w1_train = np.array([[float(v) for v in row.split()] for row in rows])
        np.testing.assert_allclose(w1_explain, w1_train, atol=5e-5)

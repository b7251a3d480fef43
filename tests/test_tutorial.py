"""docs/tutorial.md runs: every ```python block, in order, in one namespace, printing what its ```output
block says; docs/tutorial.ipynb holds the same cells and runs in a Jupyter kernel with its graphs inline."""
import contextlib
import importlib.util
import io
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
NOTEBOOK = os.path.join(ROOT, "docs", "tutorial.ipynb")
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\n```output\n(.*?)^```$)?", re.M | re.S)


def python_blocks(text):
    """[(line number, code, expected output or None)] for each fenced ```python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def matches(expected, printed):
    """``printed`` is ``expected``, where ``...`` in ``expected`` stands for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("..."))
    return re.fullmatch(pattern, printed.strip(), re.S) is not None


def test_tutorial_follows_the_essays_path():
    text = open(TUTORIAL, encoding="utf-8").read()
    headings = re.findall(r"^## \d+\. (.*)$", text, re.M)
    order = ["neuron", "chain rule", "forward pass", "backward pass", "slips", "update", "XOR", "digits"]
    positions = [next(i for i, h in enumerate(headings) if word.lower() in h.lower()) for word in order]
    assert positions == sorted(positions), headings


def test_every_python_block_runs_in_order_and_prints_what_the_tutorial_shows():
    text = open(TUTORIAL, encoding="utf-8").read()
    blocks = python_blocks(text)
    assert len(blocks) >= 10 and sum(expected is not None for *_, expected in blocks) >= 7
    assert text.count("```output") == sum(expected is not None for *_, expected in blocks)  # none stray
    namespace = {"__name__": "tutorial"}
    for line, code, expected in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{TUTORIAL}:{line}", "exec"), namespace)
        if expected is not None:
            assert matches(expected, out.getvalue()), f"block at line {line} printed:\n{out.getvalue()}"
    # The blocks' own asserts check the numbers; spot-check what the last ones printed too.
    assert namespace["accuracy"] > 0.85
    assert "relu" in out.getvalue() and "(input side)" in out.getvalue()


def test_the_output_matcher():
    assert matches("<SigmoidBackward0 object at 0x...>", "<SigmoidBackward0 object at 0x7f01>\n")
    assert not matches("-1.4 0.1978", "-1.399999976158142 0.19781611859798431")
    assert not matches("a\nb", "a\nb\nc")


def notebook_script():
    spec = importlib.util.spec_from_file_location("tutorial_notebook", os.path.join(ROOT, "scripts",
                                                                                    "tutorial_notebook.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_notebook_has_the_tutorials_cells():
    nbformat = pytest.importorskip("nbformat")
    script = notebook_script()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    expected = script.cells(open(TUTORIAL, encoding="utf-8").read())
    assert [(c.cell_type, c.source) for c in nb.cells] == expected, \
        "docs/tutorial.ipynb is out of date: run python scripts/tutorial_notebook.py"
    # Stored executed, so the graphs show when the notebook is only viewed.
    stored = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert sum("image/svg+xml" in o.get("data", {}) for o in stored) == 3


def test_the_notebook_runs_in_a_kernel_with_the_graphs_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    script = notebook_script()
    nb = script.execute(nbformat.read(NOTEBOOK, as_version=4), str(tmp_path))
    outputs = [(c.source, o) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for _, o in outputs if o.output_type == "error"]
    svgs = [(src, o["data"]["image/svg+xml"]) for src, o in outputs if "image/svg+xml" in o.get("data", {})]
    assert [src.splitlines()[-1] for src, _ in svgs] == ["graph", "graph", "draw_network(model, x=X[1])"]
    assert all("<svg" in svg for _, svg in svgs)
    assert all(name in svgs[1][1] for name in ("x", "z1", "a1", "z2", "y_hat", "W1", "b2"))
    first = next(o for _, o in outputs if o.output_type == "stream")
    assert first["text"].startswith("z = -1.4000, a_out = 0.1978\n")

"""docs/tutorial.md runs: every ```python block, in order, in one namespace."""
import contextlib
import io
import os
import re

TUTORIAL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "tutorial.md")


def python_blocks(text):
    """[(line number, code)] for each fenced ```python block."""
    blocks = []
    for m in re.finditer(r"^```python\n(.*?)^```$", text, re.M | re.S):
        blocks.append((text[:m.start()].count("\n") + 2, m.group(1)))
    return blocks


def test_tutorial_follows_the_essays_path():
    text = open(TUTORIAL, encoding="utf-8").read()
    headings = re.findall(r"^## \d+\. (.*)$", text, re.M)
    order = ["neuron", "chain rule", "forward pass", "backward pass", "slips", "update", "XOR", "digits"]
    positions = [next(i for i, h in enumerate(headings) if word.lower() in h.lower()) for word in order]
    assert positions == sorted(positions), headings


def test_every_python_block_runs_in_order():
    text = open(TUTORIAL, encoding="utf-8").read()
    blocks = python_blocks(text)
    assert len(blocks) >= 10
    namespace = {"__name__": "tutorial"}
    for line, code in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{TUTORIAL}:{line}", "exec"), namespace)
    # The blocks' own asserts check the numbers; spot-check what the last ones printed too.
    assert namespace["accuracy"] > 0.85
    assert "relu" in out.getvalue() and "(input side)" in out.getvalue()

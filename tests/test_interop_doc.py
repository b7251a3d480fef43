"""docs/interop.md runs: every ```python block, in order, in one namespace, in a temporary folder, printing what
its ```output block says."""
import contextlib
import io
import os

from test_tutorial import matches, python_blocks

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "interop.md")


def test_every_python_block_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(open(DOC, encoding="utf-8").read())
    assert len(blocks) >= 4
    assert any(expected is not None for *_, expected in blocks)
    namespace = {"__name__": "interop"}
    for line, code, expected in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
        if expected is not None:
            assert matches(expected, out.getvalue()), f"block at line {line} printed:\n{out.getvalue()}"
    assert sorted(os.listdir(tmp_path)) == ["from_chainrule.pt", "model.onnx", "weights.pt", "whole_model.pt"]

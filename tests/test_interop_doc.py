"""docs/interop.md runs: every ```python block, in order, in one namespace, in a temporary folder."""
import contextlib
import io
import os

from test_tutorial import python_blocks

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "interop.md")


def test_every_python_block_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(open(DOC, encoding="utf-8").read())
    assert len(blocks) >= 4
    namespace = {"__name__": "interop"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for line, code in blocks:
            exec(compile(code, f"{DOC}:{line}", "exec"), namespace)
    assert "GLOBAL chainrule.nn.modules.container.Sequential was not an allowed global" in out.getvalue()
    assert sorted(os.listdir(tmp_path)) == ["from_chainrule.pt", "model.onnx", "weights.pt", "whole_model.pt"]

"""docs/tutorial.md -> docs/tutorial.ipynb: the same text and code as a Jupyter notebook, executed.

    python scripts/tutorial_notebook.py           # rewrite docs/tutorial.ipynb (runs every cell)

Markdown text becomes markdown cells and each ```python block a code cell; the ```output blocks
(what a block prints, checked by tests/test_tutorial.py) are left out, since the notebook shows
its own outputs. The notebook is stored executed, so the graphs show when it is only viewed;
tests/test_tutorial.py checks that its cells are the markdown's and runs it again with nbclient.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKDOWN = os.path.join(ROOT, "docs", "tutorial.md")
NOTEBOOK = os.path.join(ROOT, "docs", "tutorial.ipynb")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```\n?", re.M | re.S)


def cells(text):
    """[(kind, source)] with kind "markdown" or "code", in the order of the markdown file."""
    out, at = [], 0
    for m in FENCE.finditer(text):
        prose = text[at:m.start()].strip()
        if prose:
            out.append(("markdown", prose))
        if m.group(1) == "python":
            out.append(("code", m.group(2).rstrip("\n")))
        elif m.group(1) != "output":
            out.append(("markdown", m.group(0).strip()))
        at = m.end()
    rest = text[at:].strip()
    if rest:
        out.append(("markdown", rest))
    return out


def build(text):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                for kind, src in cells(text)]
    return nb


def execute(nb, cwd):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    return nb


def main():
    import nbformat
    with open(MARKDOWN, encoding="utf-8") as f:
        nb = build(f.read())
    execute(nb, os.path.dirname(NOTEBOOK))
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"                          # stable ids: a rebuild changes only what changed
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                output.get("metadata", {}).clear()
    with open(NOTEBOOK, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    print(f"wrote {os.path.relpath(NOTEBOOK, ROOT)}: {len(nb.cells)} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())

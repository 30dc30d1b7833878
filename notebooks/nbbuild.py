"""What every notebook build script shares: its cells, (kind, source) pairs, made into a notebook without outputs.

A build script ends with ``main(CELLS, NOTEBOOK)``; ``python notebooks/build_NAME.py`` rewrites the .ipynb.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def main(cells, notebook: Path) -> None:
    nbformat.write(build(cells), notebook)
    print(f"wrote {notebook}")

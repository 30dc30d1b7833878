"""notebooks/lst_superresolution.ipynb matches its builder script (tests/test_notebooks.py executes it)."""
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
NB = REPO / "notebooks" / "lst_superresolution.ipynb"


def test_notebook_is_built_by_its_script_without_outputs():
    import nbformat

    sys.path.insert(0, str(REPO / "notebooks"))
    try:
        import build_lst_superresolution as builder
    finally:
        sys.path.pop(0)
    stored = nbformat.read(NB, as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in builder.build().cells]
    assert all(not c.get("outputs") for c in stored.cells if c.cell_type == "code")

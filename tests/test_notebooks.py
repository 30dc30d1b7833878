"""Every notebook in notebooks/ runs top to bottom (EOXR_QUICK=1: reduced sizes) without error, records its key
figures (``figures.json``) within the bounds of ``figures.NOTEBOOKS``, and is what its build script writes."""
import importlib.util
import json
from pathlib import Path

import pytest
from figures import NOTEBOOKS as BOUNDS

HERE = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(HERE.glob("*.ipynb"))
BUILDERS = sorted(HERE.glob("build_*.py"))


@pytest.mark.parametrize("script", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_notebook_is_its_build_script_output(script):
    # the notebook is edited through its build script: a change made in the .ipynb alone is lost on the next build
    nbformat = pytest.importorskip("nbformat")
    spec = importlib.util.spec_from_file_location(script.stem, script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = [(c.cell_type, c.source) for c in mod.build().cells]
    stored = nbformat.read(mod.NOTEBOOK, as_version=4).cells
    committed = [(c.cell_type, c.source) for c in stored]
    assert built == committed, f"run `python notebooks/{script.name}` and commit {mod.NOTEBOOK.name}"
    assert all(not c.get("outputs") for c in stored if c.cell_type == "code")  # committed without outputs


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("EOXR_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(tmp_path / "sample"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    figures = tmp_path / "figures.json"
    assert figures.is_file(), f"{path.name} records no key figures: end it with a cell that writes figures.json"
    BOUNDS[path.stem](json.loads(figures.read_text()))


def test_every_notebook_has_bounds_on_its_figures():
    assert {p.stem for p in NOTEBOOKS} == set(BOUNDS)

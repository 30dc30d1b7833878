"""Every notebook in notebooks/ runs top to bottom without error, quick (EOXR_QUICK=1: reduced sizes) in ``make test``
and at full size (marker ``full``: ``make test-full``), records its key figures (``figures.json``) within the bounds of
``figures.NOTEBOOKS``, starts from a search or a cube, finds real data through EOXR_REAL_DATA only, and is what its
build script writes."""
import importlib.util
import json
from pathlib import Path

import pytest
from figures import NOTEBOOKS as BOUNDS

HERE = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(HERE.glob("*.ipynb"))
BUILDERS = sorted(HERE.glob("build_*.py"))


@pytest.mark.parametrize("script", BUILDERS, ids=[p.stem for p in BUILDERS])
def test_notebook_is_its_build_script_output(script, monkeypatch):
    # the notebook is edited through its build script: a change made in the .ipynb alone is lost on the next build
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.syspath_prepend(str(HERE))  # the scripts import notebooks/nbbuild.py, as when run there
    spec = importlib.util.spec_from_file_location(script.stem, script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = [(c.cell_type, c.source) for c in mod.build().cells]
    stored = nbformat.read(mod.NOTEBOOK, as_version=4).cells
    committed = [(c.cell_type, c.source) for c in stored]
    assert built == committed, f"run `python notebooks/{script.name}` and commit {mod.NOTEBOOK.name}"
    assert all(not c.get("outputs") for c in stored if c.cell_type == "code")  # committed without outputs


def _execute(path: Path, tmp_path: Path, monkeypatch, sample_dir: Path, quick: bool) -> dict:
    """Run the notebook in a fresh kernel (reduced sizes with ``quick``); return the figures it recorded."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if quick:
        monkeypatch.setenv("EOXR_QUICK", "1")
    else:
        monkeypatch.delenv("EOXR_QUICK", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=3000, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    figures = tmp_path / "figures.json"
    assert figures.is_file(), f"{path.name} records no key figures: end it with a cell that writes figures.json"
    return json.loads(figures.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch, sample_dir):
    BOUNDS[path.stem](_execute(path, tmp_path, monkeypatch, sample_dir, quick=True))


@pytest.mark.full
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_at_full_size(path, tmp_path, monkeypatch, sample_dir, real_data):
    # as a user runs it: no reduced sizes, the real data sections on (the real data setting names the folder)
    BOUNDS[path.stem](_execute(path, tmp_path, monkeypatch, sample_dir, quick=False))


def _code(path: Path) -> str:
    nbformat = pytest.importorskip("nbformat")
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


#: what each notebook shows of the API its workflow uses
SHOWN = {"urban_radiative_budget": ("City.from_rasters(", ".urban.invert(", ".urban.fit_psf("),
         "lst_superresolution": ("eoxr.ml.patches(", ".lst.superres(", ".lst.scaling("),
         "rain_retrieval": ("eoxr.io.open_product(", ".rain.retrieve(", "transfer.label_curve("),
         "no2_emissions": (".no2.emissions(", ".no2.sources(", "open_l3(", "emission_scores(")}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_starts_as_a_user_does(path):
    code = _code(path)
    found = [code.find(call) for call in ("eoxr.catalog.search(", "eoxr.cube.open(") if call in code]
    assert found, f"{path.name} finds no data by a search or a cube"
    assert "synth." not in code[:min(found)], f"{path.name} makes synthetic data before it searches"
    for shown in SHOWN[path.stem]:
        assert shown in code, f"{path.name} does not show {shown}"
    # real data through the one setting, never a path relative to the checkout or the package
    assert "__file__" not in code and "parents[" not in code and "shared" not in code
    if "REAL_DATA" in code:
        assert "eoxr.sample.real_data_dir()" in code


def test_every_notebook_is_checked_for_what_it_shows():
    assert {p.stem for p in NOTEBOOKS} == set(SHOWN)


def test_every_notebook_has_bounds_on_its_figures():
    assert {p.stem for p in NOTEBOOKS} == set(BOUNDS)

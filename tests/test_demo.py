import json
import subprocess
import sys

import pandas as pd
import pytest
from figures import DEMO as BOUNDS, check_spine

from eoxr import _DOMAINS, cube, demo


def test_spine_demo_outputs(tmp_path, monkeypatch, capsys, sample_dir):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    out = demo.run(tmp_path / "out", only=["spine"])
    ds = cube.open(out["spine.cube"])
    assert ds.rio.crs.to_epsg() == 32631 and dict(ds.sizes) == {"time": 3, "y": 500, "x": 500}
    stats = pd.read_csv(out["spine.statistics"], dtype={"units": str})
    red = stats[stats.variable == "red"].sort_values("time")
    assert red.valid_fraction.tolist()[0] == 1.0 and red.valid_fraction.tolist()[1] < 0.97  # the cloud
    assert (stats[stats.variable == "ndvi"]["max"] <= 1).all()
    assert set(stats.units[stats.variable.isin(["red", "ndvi"])]) == {"1"}
    for key in ("spine.rgb", "spine.ndvi"):
        assert out[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "s2_sample.zarr" in printed and "outputs:" in printed
    figures = json.loads(out["metrics"].read_text())
    assert set(figures) == {"spine"} and figures["spine"] == json.loads(out["spine.metrics"].read_text())
    check_spine(figures["spine"])


def test_every_demo_step_has_bounds_on_its_figures():
    assert set(BOUNDS) == {"spine", *_DOMAINS}


@pytest.mark.slow
def test_cli_demo_runs_every_workflow(tmp_path, sample_dir):
    env = {"EOXR_SAMPLE_DIR": str(sample_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "eoxr.cli", "demo", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for step in ("== spine", "== urban", "== lst", "== rain", "== no2", "outputs:"):
        assert step in proc.stdout
    figures = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(figures) == set(BOUNDS)
    for step, check in BOUNDS.items():
        check(figures[step])

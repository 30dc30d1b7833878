"""CI runs the README's test command and fails, rather than skips, the tests whose real data went missing."""
import os
import subprocess
from pathlib import Path

import pytest
from realdata import real_data_folder

REPO = Path(__file__).resolve().parents[1]


def test_missing_real_data_skips_for_users_and_fails_where_required(tmp_path, monkeypatch):
    assert real_data_folder(tmp_path) == tmp_path
    absent = tmp_path / "absent"
    monkeypatch.delenv("EOXR_REQUIRE_REAL_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="absent"):
        real_data_folder(absent)
    monkeypatch.setenv("EOXR_REQUIRE_REAL_DATA", "0")
    with pytest.raises(pytest.skip.Exception):
        real_data_folder(absent)
    monkeypatch.setenv("EOXR_REQUIRE_REAL_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="point EOXR_REAL_DATA at .* EOXR_REQUIRE_REAL_DATA=0"):
        real_data_folder(absent)


def test_ci_requires_real_data_and_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert 'EOXR_REQUIRE_REAL_DATA="${EOXR_REQUIRE_REAL_DATA:-1}"' in ci
    assert ci.rstrip().splitlines()[-1] == "make test"
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "EOXR_REQUIRE_REAL_DATA" in readme


def test_ci_reads_the_real_data_where_the_tests_default_the_setting():
    """.ci/run and tests/conftest.py name the same folder through EOXR_REAL_DATA (unset: beside the checkout)."""
    exports = [ln for ln in (REPO / ".ci" / "run").read_text().splitlines() if ln.startswith("export ")]
    env = {k: v for k, v in os.environ.items() if k not in ("EOXR_REAL_DATA", "EOXR_REQUIRE_REAL_DATA")}
    out = subprocess.run(["bash", "-c", "\n".join([*exports, 'echo "$EOXR_REAL_DATA"'])], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out).resolve() == (REPO.parent / "shared" / "data" / "real").resolve()
    env["EOXR_REAL_DATA"] = "/elsewhere/real"
    out = subprocess.run(["bash", "-c", "\n".join([*exports, 'echo "$EOXR_REAL_DATA"'])], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "/elsewhere/real"

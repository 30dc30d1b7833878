"""CI runs the README's test command and fails, rather than skips, the tests whose real data went missing."""
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
    with pytest.raises(pytest.fail.Exception, match="EOXR_REQUIRE_REAL_DATA=0"):
        real_data_folder(absent)


def test_ci_requires_real_data_and_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert 'EOXR_REQUIRE_REAL_DATA="${EOXR_REQUIRE_REAL_DATA:-1}"' in ci
    assert ci.rstrip().splitlines()[-1] == "make test"
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "EOXR_REQUIRE_REAL_DATA" in readme

import subprocess
import sys

import pytest

from eoxr import cli
from eoxr.errors import ParameterError


def test_parse_query():
    assert cli.parse_query(["eo:cloud_cover<20", "platform=sentinel-2a", "gsd>=10"]) == {
        "eo:cloud_cover": {"lt": 20.0}, "platform": {"eq": "sentinel-2a"}, "gsd": {"gte": 10.0}}
    with pytest.raises(ParameterError, match="PROPERTY<op>VALUE"):
        cli.parse_query(["cloud cover is low"])


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "eoxr.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("sample", "ingest", "demo", "bench", "train", "info"):
        assert cmd in out


def test_unknown_benchmark_names_the_available_ones(capsys):
    assert cli.main(["bench", "no-such-benchmark", "--quick"]) == 2
    assert "eoxr bench: no benchmark 'no-such-benchmark'; available: " in capsys.readouterr().err


def test_unknown_train_domain(capsys):
    assert cli.main(["train", "nonexistent"]) == 2
    assert "no trainable workflow 'nonexistent'" in capsys.readouterr().err


def test_an_eoxr_error_ends_the_command_with_its_message_and_status_2():
    out = subprocess.run([sys.executable, "-m", "eoxr.cli", "ingest", "sample", "--out", "x.zarr", "--query", "oops"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "eoxr ingest: cannot parse query 'oops'" in out.stderr
    assert "Traceback" not in out.stderr

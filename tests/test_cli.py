import subprocess
import sys

import pytest

from eoxr import cli


def test_parse_query():
    assert cli.parse_query(["eo:cloud_cover<20", "platform=sentinel-2a", "gsd>=10"]) == {
        "eo:cloud_cover": {"lt": 20.0}, "platform": {"eq": "sentinel-2a"}, "gsd": {"gte": 10.0}}
    with pytest.raises(SystemExit, match="PROPERTY<op>VALUE"):
        cli.parse_query(["cloud cover is low"])


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "eoxr.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for cmd in ("sample", "ingest", "demo", "bench", "train", "info"):
        assert cmd in out


def test_unknown_benchmark_names_the_available_ones(capsys):
    with pytest.raises(SystemExit, match="available"):
        cli.main(["bench", "no-such-benchmark", "--quick"])


def test_unknown_train_domain():
    with pytest.raises(SystemExit, match="no trainable workflow"):
        cli.main(["train", "nonexistent"])

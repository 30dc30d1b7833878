"""The ``eoxr`` command: --version, --help for every subcommand, user errors as one line and exit status 2."""
import subprocess
import sys

import pytest

from eoxr import __version__, cli
from eoxr.errors import CatalogError

COMMANDS = ("sample", "ingest", "demo", "bench", "train", "info")


def _eoxr(*args, **kw):
    return subprocess.run([sys.executable, "-m", "eoxr.cli", *args], capture_output=True, text=True, **kw)


def test_query_strings_are_read_by_pystac_clients_parser(monkeypatch, sample_dir):
    from pystac_client.item_search import ItemSearch

    from eoxr import catalog
    from eoxr.catalog.filters import normalise

    exprs = ["eo:cloud_cover<20", "platform=sentinel-2a", "gsd>=10", "constellation<>landsat"]
    expected = ItemSearch(url="search", method="POST", query=exprs).get_parameters()["query"]
    assert normalise(None, None, None, exprs, None, None)["query"] == expected
    assert expected["constellation"] == {"neq": "landsat"}
    for bad in ("cloudy", "platform!=x", "eo:cloud_cover < 20"):  # pystac-client drops or misreads these
        with pytest.raises(CatalogError, match="PROPERTY<op>VALUE"):
            normalise(None, None, None, [bad], None, None)
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    found = catalog.search("sample", collections=["eoxr-s2-sample"], query=["eo:cloud_cover<10"])
    assert len(found) == 2  # the sample's cloudy date (20 %) left out; "10" compared as a number


def test_version_and_help_lists_every_command():
    assert _eoxr("--version").stdout.strip() == f"eoxr {__version__}"
    out = _eoxr("--help").stdout
    for cmd in COMMANDS:
        assert cmd in out


@pytest.mark.parametrize("command", [[c] for c in COMMANDS] + [["train", "lst"]], ids=" ".join)
def test_help_of_every_subcommand_exits_0(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: eoxr {' '.join(command)}")


def _user_error(capsys, *args) -> str:
    assert cli.main(list(args)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"eoxr {args[0]}: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_user_errors_print_one_line_naming_the_fix_and_exit_2(tmp_path, monkeypatch, capsys, sample_dir):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    assert "available: io" in _user_error(capsys, "bench", "no-such-benchmark", "--smoke")
    assert "pass one of: lst" in _user_error(capsys, "train", "nonexistent")
    line = _user_error(capsys, "ingest", "sample", "--collections", "no-such-collection", "--out", str(tmp_path / "c.zarr"))
    assert "no-such-collection" in line
    assert "PROPERTY<op>VALUE" in _user_error(capsys, "ingest", "sample", "--query", "cloudy", "--out",
                                              str(tmp_path / "c.zarr"))


def test_ingest_refuses_an_existing_cube_and_overwrites_it_when_asked(tmp_path, monkeypatch, capsys, sample_dir):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    out = tmp_path / "s2.zarr"
    args = ["ingest", "sample", "--collections", "eoxr-s2-sample", "--bands", "red", "--resolution", "100",
            "--chunk", "64", "--cluster", "none", "--out", str(out)]
    assert cli.main(args) == 0
    capsys.readouterr()
    written = (out / "zarr.json").stat().st_mtime_ns
    assert "--overwrite" in _user_error(capsys, *args)
    assert (out / "zarr.json").stat().st_mtime_ns == written  # refused before anything was touched
    assert cli.main([*args, "--overwrite"]) == 0
    assert (out / "zarr.json").stat().st_mtime_ns != written
    from eoxr import cube

    assert cube.open(out).sizes["time"] == 3
    with pytest.raises(SystemExit) as exit_:  # argparse: one or the other
        cli.main([*args, "--overwrite", "--append"])
    assert exit_.value.code == 2


def test_a_user_error_from_the_shell_is_one_line_without_traceback(tmp_path):
    proc = _eoxr("bench", "no-such-benchmark", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "available" in proc.stderr

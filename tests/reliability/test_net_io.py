"""eoxr.io.load against assets that are truncated, or served by servers that fail, drop connections or never
answer: reads retry, end in bounded time with a ReadError naming the item and href, and with
on_error="nodata" the read_ok flags record what was really read."""
from __future__ import annotations

import time
from pathlib import Path

import dask
import numpy as np
import pytest
from servers import FAST, SIZE, TILE, FileServer, cog_item, silent_server, write_cog

from eoxr.errors import ReadError
from eoxr.io import load

ENGINES = ["stackstac", "odc"]


@pytest.fixture
def scenes(tmp_path):
    """Two COGs in tmp_path and their values."""
    rng = np.random.default_rng(7)
    values = [rng.integers(1, 10_000, (SIZE, SIZE)) for _ in range(2)]
    paths = [write_cog(tmp_path / f"red{i}.tif", v) for i, v in enumerate(values)]
    return paths, values


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("engine", ENGINES)
def test_truncated_cog_is_flagged_by_what_was_read(scenes, engine):
    paths, values = scenes
    truncate(paths[1], 0.6)  # header and the first tiles intact, the last ones cut
    items = [cog_item(i, str(p)) for i, p in enumerate(paths)]
    ds = load(items, bands=["red"], engine=engine, on_error="nodata", chunks={"y": TILE, "x": TILE}).compute()
    assert ds["read_ok"].sel(band="red").values.tolist() == [True, False]
    np.testing.assert_array_equal(ds["red"].values[0], values[0])
    red = ds["red"].values[1]
    assert np.isnan(red[TILE:, TILE:]).all()  # the cut tile: NaN
    np.testing.assert_array_equal(red[:TILE, :TILE], values[1][:TILE, :TILE])  # read before the cut: kept
    with pytest.raises(ReadError, match="scene-1"):
        load(items, bands=["red"], engine=engine, chunks={"y": TILE, "x": TILE}).compute()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fault", ["503", "drop"])
def test_cog_over_a_flaky_server_reads_the_same_values(scenes, tmp_path, engine, fault):
    paths, values = scenes
    with FileServer(tmp_path, fault=fault, fail=1, every=3) as server:
        items = [cog_item(i, server.href(p)) for i, p in enumerate(paths)]
        with dask.config.set(scheduler="synchronous"):  # one request at a time: the fault pattern holds
            ds = load(items, bands=["red"], engine=engine, chunks={"y": TILE, "x": TILE},
                      gdal_env={"GDAL_HTTP_RETRY_DELAY": 0.01, "GDAL_HTTP_MAX_RETRY": 3}).compute()
    np.testing.assert_array_equal(ds["red"].values, np.stack(values))
    assert sum(entry[3] == fault for entry in server.log) >= 2  # requests failed and were retried


@pytest.mark.parametrize("engine", ENGINES)
def test_server_failing_every_request_ends_in_a_read_error(scenes, tmp_path, engine):
    paths, _ = scenes
    with FileServer(tmp_path, fault="503", fail=1, every=1) as server:
        href = server.href(paths[0])
        start = time.monotonic()
        with pytest.raises(ReadError) as err:
            load([cog_item(0, href)], bands=["red"], engine=engine, gdal_env=FAST).compute()
        took = time.monotonic() - start
        flagged = load([cog_item(0, href), cog_item(1, str(paths[1]))], bands=["red"], engine=engine, gdal_env=FAST,
                       on_error="nodata").compute()
    assert took < 20, took
    message = str(err.value)
    assert "scene-0" in message and href in message and "503" in message
    assert flagged["read_ok"].sel(band="red").values.tolist() == [False, True]


@pytest.mark.parametrize("engine", ENGINES)
def test_silent_asset_server_ends_in_bounded_time(engine):
    with silent_server() as url:
        href = f"{url}/red.tif"
        start = time.monotonic()
        with pytest.raises(ReadError) as err:
            load([cog_item(0, href)], bands=["red"], engine=engine, gdal_env=FAST).compute()
        took = time.monotonic() - start
    assert took < 10 * FAST["GDAL_HTTP_TIMEOUT"] * (FAST["GDAL_HTTP_MAX_RETRY"] + 1), took
    message = str(err.value)
    assert href in message and "timed out" in message and "GDAL_HTTP_TIMEOUT" in message

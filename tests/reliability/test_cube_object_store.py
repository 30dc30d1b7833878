"""Cubes on an S3-compatible object store (moto, on loopback): write, append, region writes, reopen, verify,
writers killed midway, writers racing; the lock taken with conditional PUTs (If-None-Match)."""
from __future__ import annotations

import warnings

import fsspec
import numpy as np
import pytest
import xarray as xr
from writers import wait_for
from cubeproc import steps
from test_cube_kills import assert_same_cube

from eoxr import cube
from eoxr.cube.journal import _begin
from eoxr.cube.paths import _location
from eoxr.errors import CubeError


def plain_open(url: str, options: dict) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(url, storage_options=options)


def test_write_append_region_reopen_verify(s3_bucket):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    cube.write(steps("2023-06-01", 3), url, storage_options=options, chunks={"time": 2})
    cube.write(steps("2023-06-04", 2), url, mode="a", append_dim="time", storage_options=options)
    expected = steps("2023-06-01", 5)
    assert_same_cube(cube.open(url, storage_options=options), expected)
    assert_same_cube(plain_open(url, options), expected)
    assert cube.open(url, storage_options=options).rio.crs.to_epsg() == 32631

    patch = steps("2023-06-02", 1)
    patch["lst"] = patch["lst"] + 100
    cube.write(patch, url, region="auto", storage_options=options)
    np.testing.assert_array_equal(cube.open(url, storage_options=options)["lst"].values[1],
                                  patch["lst"].values[0].astype("float32"))
    assert cube.verify(url, storage_options=options).ok

    mapper = fsspec.get_mapper(url, **options)  # a mapper works wherever a URL does
    assert_same_cube(cube.open(mapper).isel(time=[0, 2, 3, 4]), expected.isel(time=[0, 2, 3, 4]))
    with pytest.raises(CubeError, match="a cube already exists"):
        cube.write(steps("2023-06-01", 1), mapper)


def test_replace_is_all_or_nothing_for_readers(s3_bucket):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    cube.write(steps("2023-06-01", 3), url, storage_options=options)
    new = steps("2023-07-01", 2)
    cube.write(new, url, mode="w", storage_options=options)
    assert_same_cube(cube.open(url, storage_options=options), new)
    fs = fsspec.filesystem("s3", **options)
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls(bucket)) == [".lst.zarr.eoxr", "lst.zarr"]
    assert not fs.exists(f"{bucket}/.lst.zarr.eoxr/journal.json")


def test_killed_append_on_s3_is_invisible_and_a_rerun_completes_it(s3_bucket, tmp_path, start_writer):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    base = steps("2023-06-01", 3)
    cube.write(base, url, storage_options=options)
    task = dict(action="append", path=url, storage_options=options, start="2023-06-04", steps=8)
    writer = start_writer(**task, hold_at=4, signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    assert_same_cube(cube.open(url, storage_options=options), base)
    assert_same_cube(plain_open(url, options), base)
    assert "interrupted append" in str(cube.verify(url, storage_options=options))
    assert start_writer(**task).result() == {"ok": True}
    assert_same_cube(cube.open(url, storage_options=options), steps("2023-06-01", 11))
    assert cube.verify(url, storage_options=options).ok


def test_killed_write_on_s3_leaves_the_old_cube_and_is_cleaned(s3_bucket, tmp_path, start_writer):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    old = steps("2023-06-01", 3)
    cube.write(old, url, storage_options=options)
    writer = start_writer(action="write", mode="w", path=url, storage_options=options, start="2023-07-01",
                          steps=6, hold_at=3, signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    fs = fsspec.filesystem("s3", **options)
    fs.invalidate_cache()
    assert fs.glob(f"{bucket}/.lst.zarr.writing-*")  # the killed writer's staging copy
    assert_same_cube(cube.open(url, storage_options=options), old)

    cube.write(steps("2023-06-04", 1), url, mode="a", append_dim="time", storage_options=options)
    fs.invalidate_cache()
    assert not fs.glob(f"{bucket}/.lst.zarr.writing-*")
    assert_same_cube(cube.open(url, storage_options=options), steps("2023-06-01", 4))


def test_a_replacement_killed_during_its_copy_is_finished_by_the_next_writer(s3_bucket):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    cube.write(steps("2023-06-01", 3), url, storage_options=options)
    location = _location(url, options)
    staging = location.staging()
    cube.write(steps("2023-07-01", 2), f"s3://{staging}", storage_options=options)  # complete, as staged
    _begin(location, "write", staging=staging)
    location.delete(f"{location.root}/zarr.json")  # the state of a writer killed as its copy began
    with pytest.raises(CubeError, match="is being replaced"):
        cube.open(url, storage_options=options)
    assert "interrupted write" in str(cube.verify(url, storage_options=options))
    cube.write(steps("2023-07-03", 1), url, mode="a", append_dim="time", storage_options=options)
    assert_same_cube(cube.open(url, storage_options=options), steps("2023-07-01", 3))
    assert cube.verify(url, storage_options=options).ok
    assert not location.fs.glob(f"{bucket}/.lst.zarr.writing-*")


def test_two_creators_on_s3(s3_bucket, tmp_path, start_writer):
    bucket, options = s3_bucket
    url = f"{bucket}/lst.zarr"
    go = tmp_path / "go"
    tasks = [dict(action="write", mode="w-", path=url, storage_options=options, start=start, steps=2, go=str(go))
             for start in ("2023-06-01", "2023-07-01")]
    writers = [start_writer(**task) for task in tasks]
    go.touch()
    outcomes = [w.result() for w in writers]
    (winner,) = [t for t, o in zip(tasks, outcomes) if o.get("ok")]
    (loser,) = [o for o in outcomes if not o.get("ok")]
    assert "a cube already exists" in loser["message"]
    assert_same_cube(cube.open(url, storage_options=options), steps(winner["start"], 2))
    assert cube.verify(url, storage_options=options).ok


def test_memory_store_round_trip():
    url = "memory://eoxr-tests/lst.zarr"
    cube.write(steps("2023-06-01", 2), url, mode="w")
    cube.write(steps("2023-06-03", 1), url, mode="a", append_dim="time")
    assert_same_cube(cube.open(url), steps("2023-06-01", 3))
    assert cube.verify(url).ok

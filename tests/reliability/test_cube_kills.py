"""Writers killed with SIGKILL midway: readers see only what was committed, verify() tells, and running the
same write again completes it."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from writers import wait_for
from cubeproc import steps

from eoxr import cube
from eoxr.errors import CubeError


def assert_same_cube(opened: xr.Dataset, expected: xr.Dataset) -> None:
    np.testing.assert_array_equal(opened.time.values, expected.time.values)
    np.testing.assert_array_equal(opened["lst"].values, expected["lst"].values.astype("float32"))


def stored_chunks(path: Path, var: str = "lst") -> set[str]:
    root = path / var / "c"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def plain_open(path) -> xr.Dataset:
    """``xr.open_zarr`` with its defaults, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return xr.open_zarr(path)


def test_killed_append_shows_no_unwritten_step_and_a_rerun_completes_it(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    base = steps("2023-06-01", 3)
    cube.write(base, path, chunks={"time": 2})  # the last chunk straddles the old end
    before = stored_chunks(path)
    task = dict(action="append", path=str(path), start="2023-06-04", steps=20, hold_at=10,
                signal=str(tmp_path / "holding"))
    writer = start_writer(**task)
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    # Killed midway: the arrays had grown on disk and some new steps were stored, the rest never were.
    assert json.loads((path / "lst" / "zarr.json").read_text())["shape"][0] == 23
    assert stored_chunks(path) - before and len(stored_chunks(path)) < 12

    for opened in (cube.open(path), plain_open(path)):
        assert_same_cube(opened, base)  # only the committed steps, every one of them written
    report = cube.verify(path)
    assert not report.ok and "interrupted append" in report.problems[0]
    with pytest.raises(CubeError, match="a cube already exists"):
        cube.write(base, path)  # refused, after the writer, holding the lock, undid the killed append
    assert json.loads((path / "lst" / "zarr.json").read_text())["shape"][0] == 3
    assert stored_chunks(path) == before and cube.verify(path).ok

    rerun = start_writer(**{k: v for k, v in task.items() if k not in ("hold_at", "signal")})
    assert rerun.result() == {"ok": True}
    assert cube.verify(path).ok
    once = tmp_path / "once.zarr"
    cube.write(xr.concat([base, steps("2023-06-04", 20)], "time"), once, chunks={"time": 2})
    assert_same_cube(cube.open(path), cube.open(once))
    assert_same_cube(plain_open(path), plain_open(once))
    assert stored_chunks(path) == stored_chunks(once)

    again = start_writer(**{k: v for k, v in task.items() if k not in ("hold_at", "signal")})
    assert again.result() == {"ok": True}  # everything already there: nothing to do
    assert_same_cube(cube.open(path), cube.open(once))


def test_killed_replace_leaves_the_old_cube_and_its_staging_is_cleaned(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    old = steps("2023-06-01", 3)
    cube.write(old, path)
    writer = start_writer(action="write", mode="w", path=str(path), start="2023-07-01", steps=6, hold_at=3,
                          signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    (staging,) = tmp_path.glob(".c.zarr.writing-*")  # what the killed writer left
    assert (staging / "lst" / "c").exists()
    assert_same_cube(cube.open(path), old)
    assert cube.verify(path).ok

    new = steps("2023-08-01", 2)
    cube.write(new, path, mode="w")  # the next writer holds the lock: no one else can be writing a staging copy
    assert not list(tmp_path.glob(".c.zarr.writing-*"))
    assert_same_cube(cube.open(path), new)


def test_killed_writer_lock_is_taken_over_at_once(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    cube.write(steps("2023-06-01", 2), path)
    writer = start_writer(action="append", path=str(path), start="2023-06-03", steps=2, hold_at=0,
                          signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    # Its ticket names a dead pid of this host: no lease to wait for (lock_timeout=0 would refuse a live one).
    cube.write(steps("2023-06-03", 2), path, mode="a", append_dim="time", lock_timeout=0)
    assert_same_cube(cube.open(path), steps("2023-06-01", 4))

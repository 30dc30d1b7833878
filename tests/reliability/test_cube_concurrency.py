"""Two processes writing one cube at the same time: serialised by the writer lock, or one refused with a
CubeError that names the other; never a broken cube."""
from __future__ import annotations

import os
import socket

import pytest
import xarray as xr
from writers import wait_for
from cubeproc import steps
from test_cube_kills import assert_same_cube

from eoxr import cube


def test_an_append_waits_for_the_one_in_progress(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    cube.write(steps("2023-06-01", 2), path)
    first = start_writer(action="append", path=str(path), start="2023-06-03", steps=3, hold_at=1,
                         signal=str(tmp_path / "holding"), release=str(tmp_path / "release"))
    wait_for(tmp_path / "holding", first)  # first holds the lock, midway through its append
    second = start_writer(action="append", path=str(path), start="2023-06-06", steps=2, lock_timeout=60,
                          ready=str(tmp_path / "ready"), go=str(tmp_path / "release"))
    wait_for(tmp_path / "ready", second)
    (tmp_path / "release").touch()  # both go on at once: second waits for the lock until first commits
    assert first.result() == {"ok": True}
    assert second.result() == {"ok": True}
    assert_same_cube(cube.open(path), steps("2023-06-01", 7))
    assert cube.verify(path).ok


def test_a_writer_that_cannot_wait_is_told_who_holds_the_cube(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    cube.write(steps("2023-06-01", 2), path)
    first = start_writer(action="append", path=str(path), start="2023-06-03", steps=2, hold_at=0,
                         signal=str(tmp_path / "holding"), release=str(tmp_path / "release"))
    wait_for(tmp_path / "holding", first)
    second = start_writer(action="append", path=str(path), start="2023-06-05", steps=1, lock_timeout=0.5)
    refused = second.result()
    assert refused["error"] == "CubeLockedError"
    assert f"process {first.pid} on host {socket.gethostname()}" in refused["message"]
    assert "since 20" in refused["message"] and "Wait for that write" in refused["message"]
    (tmp_path / "release").touch()
    assert first.result() == {"ok": True}
    assert_same_cube(cube.open(path), steps("2023-06-01", 4))


@pytest.mark.parametrize("later_first", [False, True])
def test_appends_started_together_leave_a_valid_cube(tmp_path, start_writer, later_first):
    """Whichever takes the lock first, the other appends after it or is refused for its earlier times."""
    path = tmp_path / "c.zarr"
    cube.write(steps("2023-06-01", 2), path)
    go = tmp_path / "go"
    early = dict(action="append", path=str(path), start="2023-06-03", steps=2, go=str(go))
    late = dict(action="append", path=str(path), start="2023-06-05", steps=2, go=str(go))
    writers = [start_writer(**task) for task in ((late, early) if later_first else (early, late))]
    go.touch()
    outcomes = [w.result() for w in writers]
    done = [w.task for w, o in zip(writers, outcomes) if o.get("ok")]
    refused = [o for o in outcomes if not o.get("ok")]
    assert all(o["error"] == "CubeError" and "already reaches" in o["message"] for o in refused)
    assert late in done  # the later times always fit
    expected = xr.concat([steps("2023-06-01", 2), *[steps(t["start"], t["steps"]) for t in
                                                      sorted(done, key=lambda t: t["start"])]], "time")
    assert_same_cube(cube.open(path), expected)
    assert cube.verify(path).ok


def test_two_creators_one_cube(tmp_path, start_writer):
    path = tmp_path / "c.zarr"
    go = tmp_path / "go"
    tasks = [dict(action="write", mode="w-", path=str(path), start=start, steps=3, go=str(go))
             for start in ("2023-06-01", "2023-07-01")]
    writers = [start_writer(**task) for task in tasks]
    go.touch()
    outcomes = [w.result() for w in writers]
    assert sorted(map(str, outcomes)).count(str({"ok": True})) == 1, outcomes
    (winner,) = [t for t, o in zip(tasks, outcomes) if o.get("ok")]
    (loser,) = [o for o in outcomes if not o.get("ok")]
    assert loser["error"] == "CubeError" and "a cube already exists" in loser["message"]
    assert_same_cube(cube.open(path), steps(winner["start"], 3))  # the first cube was not replaced
    assert cube.verify(path).ok
    assert sorted(os.listdir(tmp_path)) == [".c.zarr.eoxr", "c.zarr", "go"]

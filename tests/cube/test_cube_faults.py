"""eoxr.cube under faults, unit level: casts that would lose values, damaged and missing chunks, inputs that
are not cubes, the straddling chunks of a failed append, stale locks, and every reader seeing one Dataset."""
from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import time
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from test_cube import assert_same_values, chunk_files, raising_blocks, scene

import eoxr.errors
from eoxr import cube
from eoxr.cli import build_parser
from eoxr.cube.lock import _WriterLock
from eoxr.cube.paths import _location
from eoxr.errors import CubeCorruptError, CubeError, CubeLockedError


def eoxr_verify(*argv: str) -> int:
    """``eoxr verify ...`` in this process (its parser and command, without main's process tuning)."""
    args = build_parser().parse_args(["verify", *argv])
    return args.func(args)


def counts(seed: int, start: str, n_time: int = 2) -> xr.Dataset:
    """A uint16 variable (digital numbers) beside a float one."""
    ds = scene(seed, start=start, n_time=n_time)
    dn = (ds["lst"] * 10).astype("uint16").assign_attrs(units="1", long_name="digital number")
    return ds.assign(dn=dn)


# ------------------------------------------------------------------------------------------------ casts
@pytest.mark.parametrize("bad, shown", [(-3.43, "-3.43"), (178.8, "178.8"), (np.nan, "NaN")])
def test_append_refuses_values_the_integer_variable_cannot_hold(tmp_path, bad, shown):
    path = tmp_path / "c.zarr"
    cube.write(counts(1, "2023-06-01"), path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    later = counts(2, "2023-06-03")
    later["dn"] = later["dn"].astype("float64").assign_attrs(later["dn"].attrs)
    later["dn"][1, 3, 4] = bad
    with pytest.raises(CubeError, match=rf"(?s)variable 'dn'.*{shown}.*uint16.*mode='w'"):
        cube.write(later, path, mode="a", append_dim="time")
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before

    later["dn"][1, 3, 4] = 17.0  # an integer held as float is stored exactly
    cube.write(later, path, mode="a", append_dim="time")
    assert cube.open(path)["dn"].values[3, 3, 4] == 17


def test_region_write_refuses_a_lossy_cast_too(tmp_path):
    path = tmp_path / "c.zarr"
    cube.write(counts(1, "2023-06-01"), path)
    patch = counts(3, "2023-06-01").isel(time=[0])
    patch["dn"] = (patch["dn"] - 70000.0).assign_attrs(patch["dn"].attrs)
    with pytest.raises(CubeError, match="variable 'dn'"):
        cube.write(patch, path, region="auto")


# ------------------------------------------------------------------------------------ damaged, missing
def test_a_damaged_chunk_is_named_when_read_and_by_verify(tmp_path, capsys):
    path = tmp_path / "c.zarr"
    cube.write(scene(4), path, chunks={"y": 12, "x": 10})
    assert cube.verify(path).ok and eoxr_verify(str(path)) == 0
    (path / "lst" / "c" / "1" / "0" / "1").write_bytes(b"not a blosc frame")
    opened = cube.open(path)  # lazy: opening reads no chunk
    with pytest.raises(CubeCorruptError, match=rf"chunk lst/c/1/0/1 of variable 'lst' in the cube {path}"):
        opened["lst"].values
    np.testing.assert_array_equal(opened["lst"].isel(time=0).values,
                                  scene(4)["lst"].isel(time=0).values.astype("float32"))  # the rest reads
    report = cube.verify(path)
    assert not report.ok and "lst/c/1/0/1 (RuntimeError" in str(report)
    assert eoxr_verify(str(path)) == 1 and "lst/c/1/0/1" in capsys.readouterr().err
    with pytest.raises(CubeCorruptError, match="cannot be decoded"):
        report.raise_if_broken()


def test_verify_finds_missing_chunks_and_variables(tmp_path):
    path = tmp_path / "c.zarr"
    cube.write(scene(5), path, chunks={"y": 12, "x": 10})
    (path / "lst" / "c" / "2" / "1" / "0").unlink()
    assert np.isnan(cube.open(path)["lst"].values[2, 12:, :10]).all()  # what a reader alone cannot tell
    assert "'lst': 1 of 12 chunks missing (lst/c/2/1/0)" in str(cube.verify(path, decode=False))
    shutil.rmtree(path / "reflectance")
    problems = cube.verify(path).problems
    assert any("variable 'reflectance' is gone" in p for p in problems)


def test_verify_reports_an_unfilled_template(tmp_path):
    path = tmp_path / "c.zarr"
    cube.write(scene(6, n_time=2), path, compute=False)
    assert "chunks missing" in str(cube.verify(path, decode=False))
    cube.write(scene(6, n_time=2), path, region="auto")
    assert cube.verify(path).ok


# --------------------------------------------------------------------------------------- not a cube
def test_zarr_v2_store_and_netcdf_file_are_named(tmp_path):
    scene(7).drop_vars("spatial_ref").to_zarr(tmp_path / "v2.zarr", zarr_format=2, consolidated=False)
    with pytest.raises(CubeError, match=r"is a Zarr v2 store.*eoxr\.cube\.write\(xr\.open_zarr"):
        cube.open(tmp_path / "v2.zarr")
    scene(7).drop_vars("spatial_ref").to_netcdf(tmp_path / "s.nc", engine="h5netcdf")
    with pytest.raises(CubeError, match=r"is a netCDF file.*xr\.open_dataset"):
        cube.open(tmp_path / "s.nc")


def test_zero_chunk_size_is_refused_up_front(tmp_path):
    with pytest.raises(CubeError, match=r"chunk sizes must be positive integers.*\{'x': 0\}"):
        cube.write(scene(8), tmp_path / "c.zarr", chunks={"x": 0})
    assert not (tmp_path / "c.zarr").exists()


def test_every_raise_in_eoxr_cube_is_a_cube_error():
    """Each exception class eoxr.cube raises by name is CubeError or a subclass of it."""
    folder = Path(cube.__file__).parent
    raised = set()
    for module in folder.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                raised.add(node.exc.func.id)
    assert raised and all(issubclass(getattr(eoxr.errors, name), CubeError) for name in raised), raised


# ---------------------------------------------------------------------------------- failed append
def test_failed_append_restores_the_straddling_chunks(tmp_path):
    """The last block fails once the chunk straddling the old end was rewritten with new steps (threads
    scheduler: the failing task waits for that write): the rollback must put that chunk's old bytes back,
    not only shrink the arrays."""
    path = tmp_path / "c.zarr"
    old = scene(14, n_time=3)
    cube.write(old, path, chunks={"time": 2})  # stored chunk 1 holds step 2 and room for step 3
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    straddling = path / "reflectance" / "c" / "1" / "0" / "0" / "0"
    rewritten = []

    def record():
        deadline = time.monotonic() + 20
        while straddling.read_bytes() == before[straddling] and time.monotonic() < deadline:
            time.sleep(0.01)
        rewritten.append(straddling.read_bytes() != before[straddling])

    new = scene(15, start="2023-06-04", n_time=4)  # the cube's steps 3..6; its own 0..3
    bad = raising_blocks(new, "reflectance", bad_time=3, on_call=record)  # the last one fails
    # The 4 failing tasks (one per y/x block of the last step) each wait for that write: threads to spare.
    with dask.config.set(scheduler="threads", num_workers=8), \
            pytest.raises(CubeError, match="rolled back to its previous 3"):
        cube.write(bad, path, mode="a", append_dim="time")
    assert rewritten and all(rewritten)  # the failure struck after the straddling chunk held new values
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    assert chunk_files(path, "lst") == {f"{t}/0/0" for t in (0, 1)}
    cube.write(new, path, mode="a", append_dim="time")
    assert_same_values(cube.open(path), xr.concat([old, new], dim="time"))


# -------------------------------------------------------------------------------------------- lock
def ticket(path: Path, **record) -> None:
    folder = path.parent / f".{path.name}.eoxr" / "lock"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    held = {"state": "held", "host": "node-17", "pid": 4242, "since": "2026-01-01T00:00:00+00:00",
            "renewed": now, "lease_s": 60.0, "token": "t"}
    (folder / "000000000007.json").write_text(json.dumps({**held, **record}))


def test_a_live_lock_elsewhere_refuses_and_names_its_holder(tmp_path):
    path = tmp_path / "c.zarr"
    ticket(path)
    with pytest.raises(CubeLockedError, match=r"process 4242 on host node-17 \(since 2026-01-01T00:00:00"):
        cube.write(scene(9), path, lock_timeout=0.2)
    assert not path.exists()


def test_a_lock_whose_lease_lapsed_or_whose_pid_died_is_taken_over(tmp_path):
    path = tmp_path / "c.zarr"
    ticket(path, renewed=time.time() - 61)  # a holder on another host stopped renewing
    cube.write(scene(9), path, lock_timeout=0)
    ticket(path, host=socket.gethostname(), pid=2**22 + 12345)  # no such process here
    cube.write(scene(10, start="2023-06-04"), path, mode="a", append_dim="time", lock_timeout=0)
    assert cube.open(path).sizes["time"] == 6


def test_a_holder_renews_its_lease_and_knows_when_it_lost_it(tmp_path):
    location = _location(tmp_path / "c.zarr")
    with _WriterLock(location, lease_s=0.3) as lock:
        first = json.loads(location.read(lock._path(lock.ticket)))["renewed"]
        deadline = time.monotonic() + 5
        while json.loads(location.read(lock._path(lock.ticket)))["renewed"] == first:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
        location.create(lock._path(lock.ticket + 1), b'{"state": "held"}')  # broken by another writer
        with pytest.raises(CubeLockedError, match="lost the lock"):
            lock.confirm()


# ---------------------------------------------------------------------------------------- readers
@pytest.mark.parametrize("packed", [False, True])
def test_every_reader_returns_the_same_dataset(tmp_path, packed):
    from eoxr.catalog import open_cube, register_cube

    ds = scene(11)
    if packed:  # a variable loaded from 16-bit integers with a scale, as eoxr.io.load makes them
        codes = np.rint(ds["lst"] * 100).astype("uint16")
        ds["lst"] = (codes.astype("float32") / np.float32(100)).assign_attrs(
            units="K", long_name="land surface temperature", source_dtype="uint16",
            applied_scale_offset=[0.01, 0.0])
    path = tmp_path / "c.zarr"
    cube.write(ds, path, pack=packed)
    catalog = register_cube("c", path, catalog_path=tmp_path / "cubes.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours, plain, entry = cube.open(path), xr.open_zarr(path), open_cube("c", catalog_path=catalog)
    assert json.loads((path / "lst" / "zarr.json").read_text())["data_type"] == ("uint16" if packed else "float32")
    for other in (plain, entry):
        xr.testing.assert_identical(ours, other)
        assert {n: v.dtype for n, v in ours.variables.items()} == {n: v.dtype for n, v in other.variables.items()}
    assert ours.rio.crs == plain.rio.crs == entry.rio.crs and ours.rio.crs.to_epsg() == 32631
    assert os.fspath(path) in str(cube.verify(path))

"""Cube items under faults: writers killed before their commit leave the catalog as it was, writers of several
cubes publishing at once lose no item, a catalog lock whose holder died is taken over; catalogs on S3 (moto)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from writers import wait_for
from cubeproc import steps
from test_cube_kills import assert_same_cube

from eoxr import catalog, cube, io
from eoxr.attrs import stamp
from eoxr.errors import CatalogLockedError


def end_of(item) -> pd.Timestamp:
    return pd.Timestamp(item.properties["end_datetime"])


def test_writers_killed_before_their_commit_leave_the_catalog_as_it_was(tmp_path, start_writer):
    cat = tmp_path / "stac" / "catalog.json"
    new = start_writer(action="write", mode="w-", path=str(tmp_path / "new.zarr"), start="2023-06-01", steps=6,
                       hold_at=3, signal=str(tmp_path / "holding-new"), catalog=str(cat))
    wait_for(tmp_path / "holding-new", new)
    new.kill()
    assert not (tmp_path / "stac").exists()  # no item, not even a catalog

    path = tmp_path / "c.zarr"
    cube.write(steps("2023-06-01", 3), path, chunks={"time": 2}, catalog=cat)
    item_file = tmp_path / "stac" / "eoxr-cubes" / "c" / "c.json"
    before = {p: p.read_bytes() for p in (tmp_path / "stac").rglob("*.json") if ".eoxr" not in str(p)}
    task = dict(action="append", path=str(path), start="2023-06-04", steps=20, catalog=str(cat))
    writer = start_writer(**task, hold_at=10, signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", writer)
    writer.kill()
    after = {p: p.read_bytes() for p in (tmp_path / "stac").rglob("*.json") if ".eoxr" not in str(p)}
    assert after == before  # the item, its collection and the root: byte for byte
    (item,) = catalog.search(cat)
    assert end_of(item) == pd.Timestamp("2023-06-03T10:00", tz="UTC")
    assert_same_cube(cube.open(item), steps("2023-06-01", 3))

    assert start_writer(**task).result() == {"ok": True}  # run again: the cube, then its item, complete
    (item,) = catalog.search(cat, datetime="2023-06-23")
    assert end_of(item) == pd.Timestamp("2023-06-23T10:00", tz="UTC")
    assert_same_cube(cube.open(item), steps("2023-06-01", 23))
    assert json.loads(item_file.read_text())["properties"]["created"] == item.properties["created"]


def test_writers_of_several_cubes_publishing_at_once_lose_no_item(tmp_path, start_writer):
    cat = tmp_path / "catalog.json"
    go = tmp_path / "go"
    names = [f"cube{i}" for i in range(4)]
    writers = [start_writer(action="write", mode="w-", path=str(tmp_path / f"{name}.zarr"), start="2023-06-01",
                            steps=2, catalog=str(cat), go=str(go)) for name in names]
    go.touch()
    assert [w.result() for w in writers] == [{"ok": True}] * len(names)
    assert sorted(i.id for i in catalog.search(cat, collections=["eoxr-cubes"])) == names


def test_a_catalog_lock_whose_holder_died_is_taken_over_and_a_live_one_named(tmp_path, start_writer):
    cat = tmp_path / "catalog.json"
    holder = start_writer(action="hold_catalog_lock", path=str(cat), signal=str(tmp_path / "holding"))
    wait_for(tmp_path / "holding", holder)
    with pytest.raises(CatalogLockedError, match=f"the catalog {cat} is being written by process {holder.pid}"):
        cube.write(steps("2023-06-01", 2), tmp_path / "a.zarr", catalog=cat, lock_timeout=0.5)
    assert cube.verify(tmp_path / "a.zarr").ok  # the cube is there; the error says how to add its item
    holder.kill()
    catalog.register_item(tmp_path / "a.zarr", cat, lock_timeout=0)
    cube.write(steps("2023-06-01", 2), tmp_path / "b.zarr", catalog=cat, lock_timeout=0)
    assert sorted(i.id for i in catalog.search(cat)) == ["a", "b"]


def test_a_catalog_on_s3(s3_bucket, tmp_path):
    bucket, options = s3_bucket
    url, cat = f"{bucket}/cubes/lst.zarr", f"{bucket}/stac/catalog.json"
    scene = {"type": "Feature", "id": "scene", "collection": "scenes",
             "properties": {"datetime": "2023-06-01T10:00:00Z"}, "links": [{"rel": "self", "href": "s3://x/s.json"}]}
    first = stamp(steps("2023-06-01", 3), "lst.superres[bicubic]", made_from=[scene], factor=4)
    cube.write(first, url, storage_options=options, catalog=cat)
    cube.write(steps("2023-06-04", 2), url, mode="a", append_dim="time", storage_options=options, catalog=cat)
    (item,) = catalog.search(cat, collections=["eoxr-lst"], storage_options=options)
    assert item.assets["zarr"].href == url and item.get_self_href() == f"{bucket}/stac/eoxr-lst/lst/lst.json"
    assert end_of(item) == pd.Timestamp("2023-06-05T10:00", tz="UTC")
    expected = steps("2023-06-01", 5)
    assert_same_cube(cube.open(item, storage_options=options), expected)
    assert_same_cube(io.load([item], storage_options=options), expected)
    assert [r.id for r in catalog.provenance(item, storage_options=options).raw_inputs()] == ["scene"]
    catalog.validate(item)

    derived = cube.open(item, storage_options=options)
    derived = stamp(derived.isel(time=[0]), "lst.degrade", made_from=[derived], factor=2)
    cube.write(derived, f"{bucket}/cubes/coarse.zarr", storage_options=options, catalog=cat)
    (coarse,) = catalog.search(cat, collections=["eoxr-lst"], ids=["coarse"], storage_options=options)
    prov = catalog.provenance(coarse, storage_options=options)
    assert [i.id for i in prov.inputs] == ["lst"] and [r.id for r in prov.raw_inputs()] == ["scene"]
    np.testing.assert_array_equal(cube.open(coarse, storage_options=options)["lst"].values,
                                  expected["lst"].values[:1].astype("float32"))

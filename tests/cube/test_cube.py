"""eoxr.cube: Zarr v3 round trip with CRS and CF attributes, appends, region writes, no half-written cube."""
from __future__ import annotations

import asyncio
import json
import threading
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

from eoxr import cube
from eoxr.errors import CubeError, GridError

CRS = "EPSG:32631"


def scene(seed: int, start: str = "2023-06-01", n_time: int = 3, ny: int = 24, nx: int = 20,
          x0: float = 500_000.0, crs: str = CRS, chunks: dict | None = None) -> xr.Dataset:
    """A dask-backed (time, y, x) + (time, band, y, x) dataset on a 30 m UTM grid; values from ``seed``."""
    rng = np.random.default_rng(seed)
    time = pd.date_range(start, periods=n_time, freq="D") + pd.Timedelta(hours=10, seconds=0.25)
    y = 4_800_000.0 - 30.0 * (np.arange(ny) + 0.5)
    x = x0 + 30.0 * (np.arange(nx) + 0.5)
    chunks = chunks or {"time": 1, "y": 12, "x": 10}
    lst = da.from_array(280 + 30 * rng.random((n_time, ny, nx)), chunks=(chunks["time"], chunks["y"], chunks["x"]))
    refl = da.from_array(rng.random((n_time, 2, ny, nx)).astype("float32"),
                         chunks=(chunks["time"], 2, chunks["y"], chunks["x"]))
    ds = xr.Dataset(
        {
            "lst": (("time", "y", "x"), lst, {"units": "K", "long_name": "land surface temperature"}),
            "reflectance": (("time", "band", "y", "x"), refl, {"units": "1", "long_name": "surface reflectance"}),
        },
        coords={"time": time, "band": ["red", "nir"], "y": y, "x": x},
        attrs={"title": "synthetic scene", "history": "made by the test"},
    )
    return ds.rio.write_crs(crs)


def assert_same_values(opened: xr.Dataset, ds: xr.Dataset) -> None:
    for name in ds.data_vars:
        expected = ds[name].astype("float32").values
        np.testing.assert_array_equal(opened[name].values, expected)
    np.testing.assert_array_equal(opened.time.values, ds.time.values)
    np.testing.assert_array_equal(opened.x.values, ds.x.values)
    np.testing.assert_array_equal(opened.y.values, ds.y.values)


def raising_blocks(ds: xr.Dataset, var: str, bad_time: int, on_call=None) -> xr.Dataset:
    """``ds`` whose ``var`` raises when the block holding time index ``bad_time`` is computed."""
    def maybe_fail(block, block_info=None):
        start = block_info[0]["array-location"][0][0]
        if start <= bad_time < block_info[0]["array-location"][0][1]:
            if on_call is not None:
                on_call()
            raise RuntimeError("injected failure in the middle of the write")
        return block

    out = ds.copy()
    out[var] = ds[var].copy(data=ds[var].data.map_blocks(maybe_fail, dtype=ds[var].dtype))
    return out


def listing(folder: Path) -> list[str]:
    """Names in ``folder``, less the cubes' side folders (``.<name>.eoxr``: writer lock, journal)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".eoxr"))


def chunk_files(path: Path, var: str) -> set[str]:
    root = path / var / "c"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


# ----------------------------------------------------------------------------------------------- policy
def test_chunk_policy_aims_at_8_to_32_mib_chunks():
    big = xr.Dataset({
        "lst": (("time", "y", "x"), da.zeros((5, 10980, 10980), chunks=(1, 1098, 1098))),  # float64 -> stored f32
        "reflectance": (("time", "band", "y", "x"), da.zeros((5, 4, 10980, 10980), dtype="float32")),
    })
    policy = cube.chunk_policy(big)
    assert policy["time"] == 1 and policy["band"] == 4
    assert policy["y"] == policy["x"] and policy["y"] % 256 == 0 and 512 <= policy["y"] <= 2048
    mib = 4 * 4 * policy["y"] * policy["x"] / 2**20  # the 4-band variable decides
    assert 8 <= mib <= 32
    single = cube.chunk_policy(big[["lst"]])
    assert single["y"] == 2048 and 4 * single["y"] ** 2 / 2**20 == 16
    small = cube.chunk_policy(scene(0))
    assert small == {"time": 1, "band": 2, "y": 24, "x": 20}


# ------------------------------------------------------------------------------------------- round trip
def test_round_trip_keeps_values_attrs_units_and_crs(tmp_path):
    ds = scene(1)
    path = tmp_path / "c.zarr"
    assert cube.write(ds, path) == path
    assert ds["lst"].encoding == {"grid_mapping": "spatial_ref"} and "grid_mapping" not in ds["lst"].attrs  # input kept
    opened = cube.open(path)
    assert_same_values(opened, ds)
    assert opened.rio.crs.to_epsg() == 32631
    for name in ds.data_vars:
        assert opened[name].attrs["units"] == ds[name].attrs["units"]
        assert opened[name].attrs["long_name"] == ds[name].attrs["long_name"]
        assert opened[name].rio.crs.to_epsg() == 32631
        assert opened[name].encoding["dtype"] == np.float32
        (codec,) = opened[name].encoding["compressors"]  # default: Blosc LZ4 with bit shuffle
        assert type(codec).__name__ == "BloscCodec" and codec.cname.value == "lz4"
        assert codec.shuffle.value == "bitshuffle"
    assert opened.attrs["title"] == "synthetic scene"
    assert opened.attrs["history"].startswith("made by the test\n")
    written = "eoxr.cube.write(chunks={'time': 1, 'band': 2, 'y': 24, 'x': 20}, compression='lz4')"
    assert written in opened.attrs["history"]
    assert list(opened.band.values) == ["red", "nir"]
    # chunk policy on disk: one date per chunk, whole bands, tiles clamped to the small grid
    assert opened.reflectance.encoding["chunks"] == (1, 2, 24, 20)
    assert json.loads((path / "zarr.json").read_text())["zarr_format"] == 3
    meta = json.loads((path / "lst" / "zarr.json").read_text())
    assert meta["attributes"]["grid_mapping"] == "spatial_ref"
    assert "crs_wkt" in json.loads((path / "spatial_ref" / "zarr.json").read_text())["attributes"]

    # plain xarray, without eoxr, gets the CRS back as well
    plain = xr.open_zarr(path, consolidated=False)
    assert "spatial_ref" in plain.coords and plain.rio.crs.to_epsg() == 32631
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no consolidated metadata, by design
        assert xr.open_zarr(path)["lst"].rio.crs.to_epsg() == 32631


def test_a_cube_written_by_another_tool_opens_with_its_crs(tmp_path):
    # xarray alone, with the grid mapping a data variable named by each variable's grid_mapping (no coordinates
    # attribute naming it): rioxarray finds no CRS in a plain xr.open_zarr of it
    ds = scene(2)
    foreign = ds.reset_coords("spatial_ref").rename({"spatial_ref": "crs"})
    for name in ("lst", "reflectance"):
        foreign[name].encoding.pop("grid_mapping", None)
        foreign[name].attrs["grid_mapping"] = "crs"
    path = tmp_path / "foreign.zarr"
    foreign.to_zarr(path, zarr_format=3, consolidated=True)
    assert xr.open_zarr(path).rio.crs is None
    opened = cube.open(path)
    assert "crs" in opened.coords and opened.rio.crs.to_epsg() == 32631 and opened["lst"].rio.crs.to_epsg() == 32631
    xr.testing.assert_identical(opened, xr.open_zarr(path, decode_coords="all"))  # xarray's CF decoding
    np.testing.assert_array_equal(opened["lst"].values, ds["lst"].values)


def test_open_is_lazy(tmp_path, no_compute):
    path = tmp_path / "c.zarr"
    with dask.config.set(scheduler="synchronous"):
        cube.write(scene(2), path)
    opened = cube.open(path)
    assert opened.rio.crs.to_epsg() == 32631
    assert isinstance(opened["lst"].data, da.Array) and isinstance(opened.reflectance.data, da.Array)
    anomaly = opened["lst"] - opened["lst"].mean("time")
    assert isinstance(anomaly.data, da.Array)
    with pytest.raises(Exception, match="stayed lazy"):
        anomaly.compute()


def test_open_missing_or_not_a_cube_names_path_and_fix(tmp_path):
    with pytest.raises(CubeError, match=r"no datacube at .*nothere\.zarr.*eoxr\.cube\.write"):
        cube.open(tmp_path / "nothere.zarr")
    (tmp_path / "folder").mkdir()
    with pytest.raises(CubeError, match=r"not a Zarr v3 datacube.*eoxr\.cube\.ingest"):
        cube.open(tmp_path / "folder")


def test_create_refuses_existing_cube_and_w_replaces_it(tmp_path):
    path = tmp_path / "c.zarr"
    cube.write(scene(3), path)
    with pytest.raises(CubeError, match="mode='w' to replace"):
        cube.write(scene(4), path)
    new = scene(4, n_time=2)
    cube.write(new, path, mode="w")
    assert_same_values(cube.open(path), new)
    assert listing(tmp_path) == ["c.zarr"]  # no temp folder left

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("not a cube")
    with pytest.raises(CubeError, match="not a Zarr datacube.*refusing to replace"):
        cube.write(new, tmp_path / "notes", mode="w")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "not a cube"


def test_named_dataarray_becomes_a_variable(tmp_path):
    ds = scene(21)
    cube.write(ds["lst"], tmp_path / "lst.zarr")
    opened = cube.open(tmp_path / "lst.zarr")
    assert list(opened.data_vars) == ["lst"] and opened["lst"].rio.crs.to_epsg() == 32631
    with pytest.raises(CubeError, match="needs a name"):
        cube.write(ds["lst"].rename(None), tmp_path / "unnamed.zarr")


def test_replace_a_cube_with_a_result_computed_from_it(tmp_path):
    """mode='w' reads the old cube while the new one is written beside it."""
    path = tmp_path / "c.zarr"
    cube.write(scene(20), path)
    old = cube.open(path)
    anomaly = (old - old.mean("time")).assign_attrs(old.attrs)
    for name in anomaly.data_vars:
        anomaly[name].attrs = old[name].attrs
    expected = anomaly.compute()
    cube.write(anomaly, path, mode="w")
    np.testing.assert_allclose(cube.open(path)["lst"].values, expected["lst"].values, rtol=1e-6)


# ---------------------------------------------------------------------------------------------- append
@pytest.mark.parametrize("time_chunk", [1, 2])
def test_append_along_time(tmp_path, time_chunk):
    path = tmp_path / "c.zarr"
    first, second = scene(5, n_time=3), scene(6, start="2023-06-04", n_time=3)
    cube.write(first, path, chunks={"time": time_chunk})
    second.attrs = {"history": "made by the test\nsecond batch", "platform": "sentinel-2b"}
    cube.write(second, path, mode="a", append_dim="time")
    opened = cube.open(path)
    assert_same_values(opened, xr.concat([first, second], dim="time"))
    assert opened.attrs["title"] == "synthetic scene" and opened.attrs["platform"] == "sentinel-2b"
    history = opened.attrs["history"].splitlines()
    assert history[0] == "made by the test" and history.count("made by the test") == 1
    assert "eoxr.cube.write(chunks=" in history[1] and history[2] == "second batch"
    assert history[3].endswith("eoxr.cube.write(mode='a', append_dim='time', steps=3)")
    assert opened["lst"].encoding["chunks"][0] == time_chunk
    assert opened.rio.crs.to_epsg() == 32631
    assert opened["lst"].attrs["units"] == "K"


def test_add_a_variable_on_the_same_grid(tmp_path):
    path = tmp_path / "c.zarr"
    ds = scene(24)
    cube.write(ds, path)
    ndvi = ds["reflectance"].isel(band=1) - ds["reflectance"].isel(band=0)  # scalar band coords conflict: dropped
    ndvi = ndvi.assign_attrs(units="1", long_name="normalized difference vegetation index").rename("ndvi")
    cube.write(ndvi.to_dataset(), path, mode="a")
    opened = cube.open(path)
    np.testing.assert_allclose(opened["ndvi"].values, ndvi.values, rtol=1e-6)
    assert opened["ndvi"].attrs["units"] == "1" and opened["ndvi"].rio.crs.to_epsg() == 32631
    assert opened.attrs["title"] == "synthetic scene"
    with pytest.raises(CubeError, match=r"\['ndvi'\] are already in the cube"):
        cube.write(ndvi.to_dataset(), path, mode="a")
    with pytest.raises(CubeError, match="compute=True"):
        cube.write(scene(25, start="2023-06-04"), path, mode="a", append_dim="time", compute=False)


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda s: scene(8, start="2023-06-02T12:00", n_time=2), CubeError, "already reaches"),  # between times
        (lambda s: scene(8, start="2023-06-03", n_time=2), CubeError, "already holds them with other values"),
        (lambda s: scene(8, start="2023-06-04", n_time=2).isel(time=[1, 0]), CubeError, "not increasing"),
        (lambda s: scene(8, start="2023-06-04", n_time=2).isel(time=[0, 0]), CubeError, "repeat"),
        (lambda s: scene(8, start="2023-06-04").drop_vars("reflectance"), CubeError, r"missing \['reflectance'\]"),
        (lambda s: scene(8, start="2023-06-04", x0=500_030.0), GridError, "coordinate 'x' differs"),
        (lambda s: scene(8, start="2023-06-04", nx=22), GridError, "'x' has 22 items"),
        (lambda s: scene(8, start="2023-06-04", crs="EPSG:32632"), GridError, "reproject"),
    ],
    ids=["interleaved-time", "same-time-other-values", "decreasing", "repeated", "missing-variable", "shifted-grid", "other-size", "other-crs"],
)
def test_append_checks_leave_the_cube_untouched(tmp_path, change, error, message):
    path = tmp_path / "c.zarr"
    first = scene(7)
    cube.write(first, path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with pytest.raises(error, match=message):
        cube.write(change(first), path, mode="a", append_dim="time")
    after = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    assert after == before


# ---------------------------------------------------------------------------------------------- region
def test_region_writes_fill_a_template(tmp_path):
    path = tmp_path / "c.zarr"
    full = scene(9, n_time=4)
    delayed = cube.write(full, path, compute=False)  # metadata and coordinates only
    assert hasattr(delayed, "compute")
    empty = cube.open(path)
    assert np.isnan(empty["lst"].values).all() and empty.rio.crs.to_epsg() == 32631

    cube.write(full.isel(time=slice(0, 2)), path, region={"time": slice(0, 2)})
    cube.write(full.isel(time=slice(2, 4), y=slice(12, 24)), path, region="auto")
    opened = cube.open(path)
    np.testing.assert_array_equal(opened["lst"].values[:2], full["lst"].values[:2].astype("float32"))
    np.testing.assert_array_equal(opened["lst"].values[2:, 12:], full["lst"].values[2:, 12:].astype("float32"))
    assert np.isnan(opened["lst"].values[2:, :12]).all()
    cube.write(full.isel(time=slice(2, 4), y=slice(0, 12)).assign_attrs(title="other"), path, region="auto")
    opened = cube.open(path)
    assert_same_values(opened, full)
    assert opened.attrs["title"] == "synthetic scene" and opened["lst"].attrs["units"] == "K"  # attrs untouched

    with pytest.raises(CubeError, match="not in the cube"):
        cube.write(scene(9, start="2024-01-01", n_time=1), path, region="auto")
    with pytest.raises(CubeError, match="covers 2 items but the data have 1"):
        cube.write(full.isel(time=slice(0, 1)), path, region={"time": slice(0, 2)})


def test_region_write_of_unaligned_rows_is_chunk_safe(tmp_path):
    """Rows 5..17 span three stored 8-row chunks partly; every value lands and nothing else changes."""
    path = tmp_path / "c.zarr"
    full = scene(10, n_time=2)
    cube.write(full, path, chunks={"y": 8, "x": 8})
    patch = scene(11, n_time=2).isel(y=slice(5, 17))
    cube.write(patch, path, region={"y": slice(5, 17)})
    expected = full["lst"].values.astype("float32").copy()
    expected[:, 5:17] = patch["lst"].values.astype("float32")
    np.testing.assert_array_equal(cube.open(path)["lst"].values, expected)


# ------------------------------------------------------------------------------------- nothing half-written
def test_failed_replace_leaves_the_previous_cube(tmp_path):
    path = tmp_path / "c.zarr"
    old = scene(12)
    cube.write(old, path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    bad = raising_blocks(scene(13, n_time=4), "lst", bad_time=2)
    with dask.config.set(scheduler="synchronous"), pytest.raises(CubeError, match="previous cube there is unchanged"):
        cube.write(bad, path, mode="w")
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    assert_same_values(cube.open(path), old)
    assert listing(tmp_path) == ["c.zarr"]

    with pytest.raises(CubeError, match="nothing was created"):
        cube.write(bad, tmp_path / "new.zarr")
    assert listing(tmp_path) == ["c.zarr"]


def racing_failure(ds: xr.Dataset, monkeypatch) -> xr.Dataset:
    """``ds`` whose second computed ``lst`` block raises once another ``lst`` chunk has begun to be stored
    (each store slowed to 0.4 s): with the threads scheduler, that chunk reaches the disk after the error."""
    from zarr.storage import LocalStore

    storing, lock, calls = threading.Event(), threading.Lock(), []
    original_set = LocalStore.set

    async def slow_set(self, key, value):
        if key.startswith("lst/c/"):
            storing.set()
            await asyncio.sleep(0.4)
        return await original_set(self, key, value)

    monkeypatch.setattr(LocalStore, "set", slow_set)

    def second_fails(block):
        with lock:
            calls.append(1)
            if len(calls) != 2:
                return block
        storing.wait(5)
        raise RuntimeError("injected failure while another chunk is being written")

    out = ds.copy()
    meta = np.array((), dtype=ds["lst"].dtype)  # no trial call while building the graph
    out["lst"] = ds["lst"].copy(data=ds["lst"].data.map_blocks(second_fails, meta=meta))
    return out


@pytest.mark.parametrize("mode", ["w", "a"])
def test_failure_waits_for_chunks_still_being_written(tmp_path, mode, monkeypatch):
    path = tmp_path / "c.zarr"
    old = scene(22, n_time=2)
    cube.write(old, path)
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    new = scene(23, start="2023-06-03" if mode == "a" else "2023-06-01", n_time=3)
    bad = racing_failure(new, monkeypatch)
    with dask.config.set(scheduler="threads", num_workers=4), pytest.raises(CubeError, match="injected"):
        cube.write(bad, path, mode=mode, append_dim="time" if mode == "a" else None)
    time.sleep(1.0)  # a chunk write left running would land by now
    monkeypatch.undo()
    assert listing(tmp_path) == ["c.zarr"]
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    assert_same_values(cube.open(path), old)


def test_failed_append_is_rolled_back(tmp_path):
    path = tmp_path / "c.zarr"
    old = scene(14, n_time=3)
    cube.write(old, path, chunks={"time": 2})  # the last stored chunk straddles the old end
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    seen_lengths = []

    def record_length():
        seen_lengths.append(xr.open_zarr(path, consolidated=False).sizes["time"])

    new = scene(15, start="2023-06-04", n_time=4)
    bad = raising_blocks(new, "reflectance", bad_time=3, on_call=record_length)
    with dask.config.set(scheduler="synchronous"), pytest.raises(CubeError, match="rolled back to its previous 3"):
        cube.write(bad, path, mode="a", append_dim="time")
    assert seen_lengths == [7]  # the failure struck after the cube had grown
    opened = cube.open(path)
    assert_same_values(opened, old)
    assert chunk_files(path, "lst") == {f"{t}/0/0" for t in (0, 1)}
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before

    cube.write(new, path, mode="a", append_dim="time")  # the cube still takes a good append
    assert_same_values(cube.open(path), xr.concat([old, new], dim="time"))


def test_progress_bar_with_local_scheduler(tmp_path, capsys):
    with dask.config.set(scheduler="threads"):
        cube.write(scene(16), tmp_path / "c.zarr", progress=True)
    assert "100%" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------- ingest
def _items(tmp_path: Path, seed: int, days: list[str]) -> tuple[list[dict], np.ndarray]:
    """STAC items with two uint16 COG bands each on a 64 x 48 UTM grid; returns items and the raw values."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    transform = from_origin(600_000.0, 4_700_000.0, 20.0, 20.0)
    values = rng.integers(1, 10_000, size=(len(days), 2, 48, 64), dtype="uint16")
    items = []
    for t, day in enumerate(days):
        assets = {}
        for b, band in enumerate(["red", "nir"]):
            href = tmp_path / f"{seed}_{day}_{band}.tif"
            with rasterio.open(href, "w", driver="GTiff", width=64, height=48, count=1, dtype="uint16",
                               crs="EPSG:32631", transform=transform, nodata=0, tiled=True,
                               blockxsize=16, blockysize=16) as dst:
                dst.write(values[t, b], 1)
            assets[band] = {
                "href": str(href), "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"], "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 1e-4}],
                "eo:bands": [{"name": band, "common_name": band}],
            }
        items.append({
            "type": "Feature", "stac_version": "1.0.0", "id": f"scene-{seed}-{day}",
            "bbox": [3.0, 42.4, 3.1, 42.5],
            "geometry": {"type": "Polygon", "coordinates": [[[3.0, 42.4], [3.1, 42.4], [3.1, 42.5],
                                                             [3.0, 42.5], [3.0, 42.4]]]},
            "properties": {"datetime": f"{day}T10:30:00Z", "proj:epsg": 32631,
                           "proj:transform": list(transform)[:6], "proj:shape": [48, 64]},
            "assets": assets, "links": [],
        })
    return items, values


def test_ingest_loads_then_writes_and_appends(tmp_path):
    pytest.importorskip("eoxr.io.stac")
    from eoxr.io import load

    items, values = _items(tmp_path, seed=17, days=["2023-07-01", "2023-07-06"])
    path = tmp_path / "s2.zarr"
    with dask.config.set(scheduler="synchronous"):
        cube.ingest(items, path, bands=["red", "nir"], progress=False)
        opened = cube.open(path)
        assert opened.rio.crs.to_epsg() == 32631
        assert opened.red.attrs["units"] == "1" and "long_name" in opened.red.attrs
        np.testing.assert_allclose(opened.nir.values, values[:, 1] * 1e-4, rtol=1e-6)
        expected = load(items, bands=["red", "nir"]).compute()
        np.testing.assert_array_equal(opened.red.values.astype("float32"), expected.red.values)  # packed: CF float64

        later, later_values = _items(tmp_path, seed=18, days=["2023-07-11"])
        cube.ingest(later, path, bands=["red", "nir"], mode="a", append_dim="time", progress=False)
    opened = cube.open(path)
    assert opened.sizes["time"] == 3
    np.testing.assert_allclose(opened.red.values[2], later_values[0, 0] * 1e-4, rtol=1e-6)


def test_pack_stores_loaded_integers_and_decodes_exactly(tmp_path):
    pytest.importorskip("eoxr.io.stac")
    from eoxr.io import load

    items, values = _items(tmp_path, seed=23, days=["2023-07-01", "2023-07-06"])
    values[0, 0, :4, :4] = 0  # nodata pixels become NaN and must stay NaN
    import rasterio

    with rasterio.open(items[0]["assets"]["red"]["href"], "r+") as dst:
        dst.write(values[0, 0], 1)
    with dask.config.set(scheduler="synchronous"):
        ds = load(items, bands=["red", "nir"], chunks={"time": 1, "y": 32, "x": 32})
        expected = ds.compute()
        cube.write(ds, tmp_path / "packed.zarr", pack=True)
        cube.write(ds, tmp_path / "float.zarr")
    meta = json.loads((tmp_path / "packed.zarr" / "red" / "zarr.json").read_text())
    assert meta["data_type"] == "uint16"
    assert meta["attributes"]["scale_factor"] == 1e-4 and meta["attributes"]["add_offset"] == 0.0
    assert json.loads((tmp_path / "float.zarr" / "red" / "zarr.json").read_text())["data_type"] == "float32"
    opened = cube.open(tmp_path / "packed.zarr")
    for name in ("red", "nir"):
        assert opened[name].dtype == np.float64  # CF decoding of the JSON scale_factor, as every reader does
        np.testing.assert_array_equal(opened[name].values.astype("float32"), expected[name].values)  # NaN too
        assert opened[name].attrs["units"] == "1"
    assert np.isnan(opened.red.values[0, :4, :4]).all()
    plain = xr.open_zarr(tmp_path / "packed.zarr", consolidated=False)  # any CF reader decodes it
    np.testing.assert_array_equal(plain.red.values.astype("float32"), expected.red.values)

    def size(path):
        return sum(f.stat().st_size for f in (path / "red" / "c").rglob("*") if f.is_file())

    assert size(tmp_path / "packed.zarr") < size(tmp_path / "float.zarr")


def test_pack_refuses_values_that_do_not_round_trip(tmp_path):
    pytest.importorskip("eoxr.io.stac")
    from eoxr.io import load

    items, _ = _items(tmp_path, seed=29, days=["2023-07-01"])
    ds = load(items, bands=["red", "nir"])
    ds["red"] = (ds["red"] + 3e-5).assign_attrs(ds["red"].attrs)  # between two integer codes
    with dask.config.set(scheduler="synchronous"), pytest.raises(CubeError, match="pack=False"):
        cube.write(ds, tmp_path / "c.zarr", pack=True)
    assert not (tmp_path / "c.zarr").exists()


def test_pack_leaves_variables_without_integer_source_as_float(tmp_path):
    ds = scene(31)
    cube.write(ds, tmp_path / "c.zarr", pack=True)
    assert json.loads((tmp_path / "c.zarr" / "lst" / "zarr.json").read_text())["data_type"] == "float32"
    assert_same_values(cube.open(tmp_path / "c.zarr"), ds)


def test_zstd_compression_and_unknown_name(tmp_path):
    ds = scene(37)
    cube.write(ds, tmp_path / "z.zarr", compression="zstd")
    opened = cube.open(tmp_path / "z.zarr")
    (codec,) = opened["lst"].encoding["compressors"]
    assert type(codec).__name__ == "ZstdCodec" and codec.level == cube.ZSTD_LEVEL
    assert_same_values(opened, ds)
    with pytest.raises(CubeError, match="'lz4'"):
        cube.write(ds, tmp_path / "b.zarr", compression="gzip")
    assert not (tmp_path / "b.zarr").exists()


def test_ingest_stores_the_files_integers_and_appends_exactly(tmp_path):
    pytest.importorskip("eoxr.io.stac")
    from eoxr.io import load

    items, _ = _items(tmp_path, seed=41, days=["2023-07-01", "2023-07-06"])
    later, _ = _items(tmp_path, seed=43, days=["2023-07-11"])
    path = tmp_path / "s2.zarr"
    with dask.config.set(scheduler="synchronous"):
        cube.ingest(items, path, bands=["red", "nir"], progress=False)
        assert json.loads((path / "red" / "zarr.json").read_text())["data_type"] == "uint16"
        cube.ingest(later, path, bands=["red", "nir"], mode="a", append_dim="time", progress=False)
        # The same integers handed to write() for an append are decoded first, then encoded by the cube.
        more, _ = _items(tmp_path, seed=47, days=["2023-07-16"])
        cube.write(load(more, bands=["red", "nir"], dtype="source"), path, mode="a", append_dim="time")
        expected = xr.concat([load(i, bands=["red", "nir"]).compute() for i in (items, later, more)], "time")
    opened = cube.open(path)
    assert opened.sizes["time"] == 4 and opened.red.dtype == np.float64
    for name in ("red", "nir"):
        np.testing.assert_array_equal(opened[name].values.astype("float32"), expected[name].values)


def test_ingest_of_items_with_different_scales_stores_floats(tmp_path):
    pytest.importorskip("eoxr.io.stac")
    from eoxr.io import load

    items, _ = _items(tmp_path, seed=53, days=["2023-07-01", "2023-07-06"])
    for band in ("red", "nir"):
        items[1]["assets"][band]["raster:bands"][0]["scale"] = 2e-4
    with dask.config.set(scheduler="synchronous"):
        cube.ingest(items, tmp_path / "c.zarr", bands=["red", "nir"], progress=False)
        expected = load(items, bands=["red", "nir"]).compute()
    assert json.loads((tmp_path / "c.zarr" / "red" / "zarr.json").read_text())["data_type"] == "float32"
    np.testing.assert_array_equal(cube.open(tmp_path / "c.zarr").red.values, expected.red.values)

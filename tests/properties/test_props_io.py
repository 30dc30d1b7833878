"""Hostile input to eoxr.io: load on generated COGs (a recorded Sentinel-2 item whose red asset is a sparse local
GeoTIFF holding drawn digital numbers: nodata masks, all-nodata, constants, the type's extremes; boxes inside,
across, outside the scene or written latitude first), and open_product on generated small files (GeoTIFFs of
every type, with and without a CRS; damaged files and HDF5 files lacking the product's structure under each
product's name).

The documented results: load gives the scaled values with NaN at nodata, a scene left all-NaN is what check_valid
reports (NoDataError), a box of no area is refused (CRSError); open_product gives a variable with units and the
file's CRS; everything else is an eoxr error.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from hypothesis import given
from hypothesis import strategies as st
from rasterio.transform import from_origin
from strategies import outcome

from cogs import asset_grid, localize, write_sparse_cog
from eoxr.errors import NoDataError
from eoxr.io import check_valid, load, open_product

# the red band of S2A_13TDE_20231008: uint16, nodata 0, scale 1e-4, offset -0.1, 10 m on EPSG:32613
SCALE, OFFSET = 1e-4, -0.1


@pytest.fixture(scope="module")
def s2_item(real_data) -> dict:
    path = real_data / "stac_pystac_client/extracted/test_multiple_collections__0.json"
    return json.loads(path.read_text())["features"][0]


@st.composite
def digital_numbers(draw):
    """A (rows, cols) window of uint16 numbers: valid, with nodata (0) holes, all nodata, constant or extreme."""
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["valid", "holes", "nodata", "constant", "extreme"]))
    dn = rng.integers(1, 10000, shape)
    if kind == "holes":
        dn[rng.random(shape) < draw(st.floats(0.1, 0.9))] = 0
    elif kind == "nodata":
        dn[...] = 0
    elif kind == "constant":
        dn[...] = draw(st.integers(1, 65535))
    elif kind == "extreme":
        dn = rng.choice(np.array([0, 1, 65534, 65535]), shape)
    return dn


BOXES = st.sampled_from(["window", "across", "outside", "point", "latitude-first"])


@given(dn=digital_numbers(), col=st.integers(0, 10970), row=st.integers(0, 10970), box=BOXES)
def test_load_gives_scaled_values_and_an_all_nan_scene_is_reported(s2_item, dn, col, row, box):
    grid = asset_grid(s2_item, "red")
    t = grid.transform
    col, row = min(col, grid.shape[1] - dn.shape[1]), min(row, grid.shape[0] - dn.shape[0])
    bounds = (t.c + col * t.a, t.f + (row + dn.shape[0]) * t.e, t.c + (col + dn.shape[1]) * t.a, t.f + row * t.e)
    with tempfile.TemporaryDirectory() as tmp:
        write_sparse_cog(Path(tmp) / "B04.tif", grid, grid.window_for(bounds), dn)
        item = localize(s2_item, {"red": Path(tmp) / "B04.tif"})
        kwargs = _bbox(box, bounds, t)
        ds = outcome(load, [item], bands=["red"], **kwargs)
        if box in ("window", "across"):
            assert ds is not None, f"a {box} box was refused"
        if box == "point":
            assert ds is None, "a box of no area was read"
        if ds is None:
            return
        red = ds["red"]
        assert red.attrs.get("units") and red.rio.crs.to_epsg() == 32613 and red.dtype == "float32"
        if box == "window":
            expected = np.where(dn == 0, np.nan, dn * SCALE + OFFSET)
            np.testing.assert_allclose(red.values[0], expected, rtol=1e-6, atol=1e-6)
        if not np.isfinite(red.values).any():  # a scene with no valid pixel: check_valid must say so
            with pytest.raises(NoDataError):
                check_valid(ds)
        else:
            assert check_valid(ds).sizes["time"] == 1


def _bbox(box: str, bounds, t) -> dict:
    """load's keywords for a box of kind ``box`` around the window ``bounds`` (EPSG:32613)."""
    minx, miny, maxx, maxy = bounds
    if box == "window":
        return dict(bbox=bounds, bbox_crs="EPSG:32613")
    if box == "across":  # half the window, half beyond it (inside the scene or past its edge)
        w = maxx - minx
        return dict(bbox=(minx + w / 2, miny, maxx + w, maxy), bbox_crs="EPSG:32613")
    if box == "outside":
        return dict(bbox=(minx + 5e6, miny, maxx + 5e6, maxy), bbox_crs="EPSG:32613")
    if box == "point":  # a box of no area inside a pixel
        return dict(bbox=(minx + 1, miny + 1, minx + 1, miny + 1), bbox_crs="EPSG:32613")
    from pyproj import Transformer

    lon0, lat0 = Transformer.from_crs(32613, 4326, always_xy=True).transform(minx, miny)
    lon1, lat1 = Transformer.from_crs(32613, 4326, always_xy=True).transform(maxx, maxy)
    return dict(bbox=(lat0, lon0, lat1, lon1))


GEOTIFF_DTYPES = ("uint8", "int16", "uint16", "int32", "float32", "float64", "complex64")


@st.composite
def geotiffs(draw):
    """Keywords of a small GeoTIFF: its type, values (some nodata, all nodata or constant), nodata, CRS, name."""
    dtype = draw(st.sampled_from(GEOTIFF_DTYPES))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = (rng.random(shape) * 100).astype(dtype)
    nodata = draw(st.sampled_from([None, 0, 7]))
    if nodata is not None and draw(st.booleans()):
        values[...] = nodata
    crs = draw(st.sampled_from([None, "EPSG:4326", "EPSG:32633"]))
    name = draw(st.sampled_from(["plain.tif", "MOD13Q1_NDVI_2020_145.tif", "x.TIFF", "1.tif"]))
    return dict(values=values, nodata=nodata, crs=crs, name=name)


@given(tif=geotiffs())
def test_open_product_reads_any_geotiff_with_a_crs(tif):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / tif["name"]
        values = tif["values"]
        with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1],
                           count=values.shape[0], dtype=values.dtype, crs=tif["crs"], nodata=tif["nodata"],
                           transform=from_origin(500000, 4000000, 10, 10)) as dst:
            dst.write(values)
        ds = outcome(open_product, path)
        if tif["crs"] is not None:
            assert ds is not None, "a georeferenced GeoTIFF was refused"
        if ds is None:
            return
        (var,) = ds.data_vars.values()
        assert var.attrs.get("units") and var.attrs.get("long_name")
        assert var.sizes["y"] == values.shape[1] and var.sizes["x"] == values.shape[2]
        assert ds.rio.crs == tif["crs"]


PRODUCT_NAMES = ("MOD11A1.A2021227.h11v05.061.2021228105320.hdf", "VNP46A2.A2021001.h10v05.001.2021.h5",
                 "1C.GPM.GMI.XCAL2016-C.20210101-S000000-E013000.038000.V07A.HDF5",
                 "2A.GPM.DPR.V9-20211125.20210101-S000000-E013000.038000.V07A.HDF5",
                 "2A.GPM.Ku.V9-20211125.20210101-S000000-E013000.038000.V07A.HDF5",
                 "2A.GPM.GMI.GPROF2021v1.20210101-S000000-E013000.038000.V07A.HDF5",
                 "3B-HHR.MS.MRG.3IMERG.20210101-S000000-E002959.0000.V07B.HDF5", "radar.pvol.h5",
                 "S5P_OFFL_L2__NO2____20210101T000000_20210101T013000_16666_01_020400_20210102T000000.nc",
                 "noname.h5", "scene.tif")
# what HDF5 files named like a product may hold: a random part of the structures the readers look for
HDF5_PATHS = ("PRODUCT/nitrogendioxide_tropospheric_column", "PRODUCT/qa_value", "PRODUCT/latitude",
              "PRODUCT/longitude", "S1/Tc", "S1/Latitude", "S1/Longitude", "S1/ScanTime/Year",
              "S1/surfacePrecipitation", "FS/SLV/precipRateNearSurface", "Grid/precipitation", "Grid/lat",
              "Grid/lon", "Grid/time", "HDFEOS/GRIDS/VNP_Grid_DNB/Data Fields/Gap_Filled_DNB_BRDF-Corrected_NTL",
              "dataset1/data1/data", "what", "where", "how")


@st.composite
def damaged_products(draw):
    """(file name, bytes or an HDF5 recipe): garbage, a truncated signature, or HDF5 with part of a structure."""
    name = draw(st.sampled_from(PRODUCT_NAMES))
    kind = draw(st.sampled_from(["garbage", "empty", "signature", "hdf5"]))
    if kind == "hdf5":
        paths = draw(st.lists(st.sampled_from(HDF5_PATHS), max_size=6, unique=True))
        header = draw(st.sampled_from([None, "AlgorithmID=1CGMI;", "AlgorithmID=2AGPROF;", "AlgorithmID=3IMERGHH;",
                                       "AlgorithmID=2ADPR;"]))
        return name, ("hdf5", paths, header)
    data = {"garbage": draw(st.binary(min_size=1, max_size=64)), "empty": b"",
            "signature": draw(st.sampled_from([b"\x89HDF\r\n\x1a\n", b"\x0e\x03\x13\x01", b"II*\x00"]))
            + draw(st.binary(max_size=32))}[kind]
    return name, data


def _write_hdf5(path: Path, paths, header) -> None:
    with h5py.File(path, "w") as f:
        if header:
            f.attrs["FileHeader"] = header
        for p in paths:
            f.create_dataset(p, data=np.arange(12, dtype="f4").reshape(3, 4))


@given(product=damaged_products())
def test_open_product_names_a_damaged_or_partial_file(product):
    name, content = product
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if isinstance(content, tuple):
            _write_hdf5(path, *content[1:])
        else:
            path.write_bytes(content)
        ds = outcome(open_product, path)
        if ds is not None:  # read: then it holds variables with units
            assert all(v.attrs.get("units") for v in ds.data_vars.values())

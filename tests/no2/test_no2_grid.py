"""Gridding S5P swaths: the area-weighted total kept, exact means, the qa filter, days, units, laziness, errors."""
import numpy as np
import pytest
import shapely
import xarray as xr
from checks import assert_cf, assert_lazy

from eoxr.errors import GridError, MissingVariableError, ParameterError, PhysicalRangeError, UnitsError
from eoxr.no2 import ctm
from eoxr.no2.grid import EARTH_RADIUS_M, corners_from_centres, grid

DAY = np.datetime64("2021-12-17T12:30")


def swath(seed=0, n_scan=30, n_pixel=20, day=DAY, corners=True, value=None):
    """A swath tilted like an S5P orbit near 51 N: pixels of about 0.05 x 0.08 degrees, with their corners."""
    rng = np.random.default_rng(seed)
    s, p = np.meshgrid(np.arange(n_scan), np.arange(n_pixel), indexing="ij")
    lat = 50.5 + 0.05 * s - 0.012 * p + 0.002 * rng.standard_normal(s.shape)
    lon = 3.6 + 0.015 * s + 0.08 * p + 0.002 * rng.standard_normal(s.shape)
    column = rng.uniform(1e-5, 2e-4, s.shape) if value is None else np.full(s.shape, value)
    ds = xr.Dataset({"no2_column": (("scanline", "ground_pixel"), column, {"units": "mol m-2"}),
                     "no2_column_std": (("scanline", "ground_pixel"), 0.3 * column, {"units": "mol m-2"}),
                     "qa": (("scanline", "ground_pixel"), np.ones(s.shape), {"units": "1"})},
                    coords={"latitude": (("scanline", "ground_pixel"), lat),
                            "longitude": (("scanline", "ground_pixel"), lon), "time": day})
    if corners:
        lat_c, lon_c = corners_from_centres(lat, lon)
        ds = ds.assign_coords(latitude_bounds=(("scanline", "ground_pixel", "corner"), lat_c),
                              longitude_bounds=(("scanline", "ground_pixel", "corner"), lon_c))
    return ds


def _pixel_areas_deg2(ds):
    polygons = shapely.polygons(np.stack([ds["longitude_bounds"].values, ds["latitude_bounds"].values], axis=-1))
    return shapely.area(polygons)


def test_the_area_weighted_total_of_the_swath_is_kept():
    ds = swath()
    out = grid(ds, resolution=0.05, qa_min=None, bounds=(3.0, 49.5, 6.5, 52.5)).isel(time=0)
    cos = np.cos(np.deg2rad(out.y))
    kept = float((out["no2_column"] * out["footprint_area"] / cos).sum())  # per m2 of the equator: deg2 weights
    deg2_to_m2 = (EARTH_RADIUS_M * np.pi / 180) ** 2
    expected = float((ds["no2_column"].values * _pixel_areas_deg2(ds)).sum()) * deg2_to_m2
    assert kept == pytest.approx(expected, rel=1e-9)
    assert float((out["footprint_area"] / cos).sum()) == pytest.approx(_pixel_areas_deg2(ds).sum() * deg2_to_m2,
                                                                       rel=1e-9)


def test_a_uniform_swath_grids_to_its_value_and_counts_the_overlaps():
    out = grid(swath(value=7e-5), resolution=0.1, qa_min=None).isel(time=0)
    covered = out["count"] > 0
    np.testing.assert_allclose(out["no2_column"].values[covered.values], 7e-5, rtol=1e-12)
    assert np.isnan(out["no2_column"].values[~covered.values]).all()
    assert int(out["count"].max()) >= 2 and covered.mean() > 0.3
    std = out["no2_column_std"].compute()
    assert float(std.median()) < 0.3 * 7e-5 <= float(std.max()) * (1 + 1e-9)  # averaging pixels shrinks it


def test_the_qa_filter_leaves_bad_pixels_out():
    ds = swath(value=5e-5)
    bad = np.zeros(ds["qa"].shape, bool)
    bad[10:14, 5:9] = True
    ds["qa"] = ds["qa"].where(~bad, 0.5)
    ds["no2_column"] = ds["no2_column"].where(~bad, 5e-2)
    kept = grid(ds, resolution=0.1, qa_min=0.75)
    everything = grid(ds, resolution=0.1, qa_min=None)
    assert float(kept["no2_column"].max()) == pytest.approx(5e-5)
    assert float(everything["no2_column"].max()) > 1e-3
    assert int(kept["count"].sum()) < int(everything["count"].sum())


def test_granules_of_one_day_share_a_layer_and_days_stack_lazily():
    a, b = swath(0), swath(1, day=DAY + np.timedelta64(2, "h"))
    later = swath(2, day=DAY + np.timedelta64(1, "D"))
    out = assert_lazy(grid, [a, b, later], resolution=0.1, qa_min=0.75)
    assert out.sizes["time"] == 2 and str(out.time.values[0])[:10] == "2021-12-17"
    one = grid(a, resolution=0.1, bounds=_bounds(out))
    two = grid(b, resolution=0.1, bounds=_bounds(out))
    both = out.isel(time=0).compute()
    np.testing.assert_array_equal(both["count"], one["count"][0] + two["count"][0])
    assert_cf(out, units={"no2_column": "mol m-2", "no2_column_std": "mol m-2", "count": "1",
                          "footprint_area": "m2"})
    assert out.rio.crs.to_epsg() == 4326


def _bounds(out):
    half = 0.05
    return (float(out.x.min()) - half, float(out.y.min()) - half, float(out.x.max()) + half,
            float(out.y.max()) + half)


def test_footprints_from_centres_tile_a_regular_swath():
    lat, lon = np.meshgrid(50 + 0.05 * np.arange(6), 4 + 0.08 * np.arange(5), indexing="ij")
    lat_c, lon_c = corners_from_centres(lat, lon)
    np.testing.assert_allclose(lat_c[2, 3], [50.075, 50.075, 50.125, 50.125])
    np.testing.assert_allclose(lon_c[2, 3], [4.2, 4.28, 4.28, 4.2])
    with_corners = grid(swath(), resolution=0.1, qa_min=None)
    from_centres = grid(swath(corners=False), resolution=0.1, qa_min=None)
    np.testing.assert_allclose(with_corners["no2_column"], from_centres["no2_column"], rtol=1e-12)


def test_columns_in_molec_cm2_are_converted_unknown_units_refused_and_mislabels_caught():
    ds = swath()
    expected = grid(ds, resolution=0.1, qa_min=None)["no2_column"]
    molec = ds.assign(no2_column=(ds["no2_column"] / ctm.MOLEC_CM2).assign_attrs(units="molec cm-2"))
    np.testing.assert_allclose(grid(molec, resolution=0.1, qa_min=None)["no2_column"], expected, rtol=1e-9)
    with pytest.raises(UnitsError, match="no2_column"):
        grid(ds.assign(no2_column=ds["no2_column"].assign_attrs(units="DU")), qa_min=None)
    mislabelled = molec.assign(no2_column=molec["no2_column"].assign_attrs(units="mol m-2"))
    with pytest.raises(PhysicalRangeError, match="no2_column"):
        grid(mislabelled, resolution=0.1, qa_min=None).compute()


@pytest.mark.parametrize("make, error, match", [
    (lambda: grid([]), ParameterError, "no granule"),
    (lambda: grid(swath(), resolution=0.0), ParameterError, "resolution=0.0"),
    (lambda: grid(swath(), qa_min=75), ParameterError, "qa_min=75"),
    (lambda: grid(swath().drop_vars("qa")), MissingVariableError, "qa_min=None"),
    (lambda: grid(swath().drop_vars("latitude")), MissingVariableError, "latitude"),
    (lambda: grid(swath().rename(scanline="y")), GridError, "scanline"),
    (lambda: grid(swath().drop_vars("time")), MissingVariableError, "time"),
    (lambda: grid(swath(), bounds=(4, 50, 4, 50)), ParameterError, "no cell"),
    (lambda: grid(swath(n_scan=1, corners=False), qa_min=None), GridError, "1 x 20 pixels"),
])
def test_bad_input_is_refused_with_the_fix(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_the_docstring_examples_run():
    import doctest
    import importlib

    module = importlib.import_module("eoxr.no2.grid")  # eoxr.no2.grid is the function, its module is this
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_a_granule_as_open_product_reads_it_grids(tmp_path, rng):
    """Through the S5P reader: qa masked at read, float32 geolocation, one corner set only (centres used)."""
    import importlib.util
    from pathlib import Path

    import eoxr

    spec = importlib.util.spec_from_file_location("s5p_products", Path(__file__).parents[1] / "io" /
                                                  "test_products.py")
    products = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(products)
    path = tmp_path / products.S5P_NAME
    column, _, qa, *_ = products.write_s5p_no2(path, rng, n_scan=12, n_pixel=8)
    obs = eoxr.io.open_product(path)
    day = grid(obs, resolution=0.05, qa_min=0.75)
    assert day.sizes["time"] == 1 and str(day.time.values[0])[:10] == "2021-07-01"
    kept = (qa >= 75) & (column != products.FILL)
    values = day["no2_column"].values
    assert np.nanmin(values) >= column[kept].min() - 1e-9 and np.nanmax(values) <= column[kept].max() + 1e-9
    assert int(day["count"].sum()) >= kept.sum()

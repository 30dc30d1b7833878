"""compare_stations on a hand-made station CSV: the pairs, and so the scores, are worked out by hand below."""
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from checks import assert_cf

from eoxr.attrs import georeference
from eoxr.errors import MissingVariableError, ParameterError, UnitsError
from eoxr.no2 import compare_stations, ctm

# Three days on a 3 x 3 lat/lon grid: base[row, col] = 10 (3 row + col + 1), i.e. 10 (3 (52 - lat) + lon - 3),
# plus 0, 5 and 2 on 17, 18 and 19 Dec 2021.
BASE = 10.0 * np.arange(1, 10).reshape(3, 3)
OFFSETS = (0.0, 5.0, 2.0)

# A sits on the centre of cell (52N, 4E): field 10, 15, 12; its two hourly values on the 17th average to 9.
# B sits in cell (51N, 5E) (nearest; bilinearly the linear base gives 58): field 50, 55, 52; its value on the
# 20th has no field day and its 19th is empty. C lies south of the grid.
CSV = """station,lat,lon,time,value
A,52.0,4.0,2021-12-17T12:00:00Z,8
A,52.0,4.0,2021-12-17T13:00:00Z,10
A,52.0,4.0,2021-12-18T13:00:00Z,13
A,52.0,4.0,2021-12-19T13:00:00Z,12
B,50.8,5.2,2021-12-17T13:00:00Z,54
B,50.8,5.2,2021-12-18T13:00:00Z,57
B,50.8,5.2,2021-12-19T13:00:00Z,
B,50.8,5.2,2021-12-20T13:00:00Z,100
C,40.0,5.0,2021-12-17T13:00:00Z,30
"""


@pytest.fixture
def field():
    data = np.stack([BASE + o for o in OFFSETS])
    da = xr.DataArray(data, dims=("time", "y", "x"),
                      coords={"time": pd.date_range("2021-12-17T13:30", periods=3, freq="D"),
                              "y": [52.0, 51.0, 50.0], "x": [4.0, 5.0, 6.0]},
                      name="no2_surface", attrs={"units": "ug m-3", "long_name": "surface NO2"})
    return georeference(da, crs="EPSG:4326")


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text(CSV)
    return path


def test_nearest_cell_scores_are_the_hand_computed_ones(field, csv):
    out = compare_stations(field, csv, units="ug m-3")
    assert out["station"].values.tolist() == ["A", "B", "C"]
    # A: pairs (10, 9), (15, 13), (12, 12) -> differences 1, 2, 0
    a = out.sel(station="A")
    assert int(a["n"]) == 3 and float(a["bias"]) == pytest.approx(1.0)
    assert float(a["rmse"]) == pytest.approx(math.sqrt(5 / 3))
    assert float(a["correlation"]) == pytest.approx(87 / math.sqrt(114 * 78))  # deviations x3: (-7, 8, -1), (-7, 5, 2)
    # B: pairs (50, 54), (55, 57) -> differences -4, -2
    b = out.sel(station="B")
    assert int(b["n"]) == 2 and float(b["bias"]) == pytest.approx(-3.0)
    assert float(b["rmse"]) == pytest.approx(math.sqrt(10.0)) and float(b["correlation"]) == pytest.approx(1.0)
    c = out.sel(station="C")
    assert int(c["n"]) == 0 and np.isnan(float(c["bias"])) and np.isnan(float(c["rmse"]))
    # pooled: differences 1, 2, 0, -4, -2
    assert int(out["pooled_n"]) == 5 and float(out["pooled_bias"]) == pytest.approx(-0.6)
    assert float(out["pooled_rmse"]) == pytest.approx(math.sqrt(5.0))
    assert float(out["pooled_correlation"]) == pytest.approx(2146 / math.sqrt(1961.2 * 2354))
    assert_cf(out, {"bias": "ug m-3", "rmse": "ug m-3", "correlation": "1", "n": "1", "pooled_bias": "ug m-3",
                    "pooled_rmse": "ug m-3", "pooled_correlation": "1", "pooled_n": "1"})
    assert out["correlation"].attrs["units"] == "1" and out["lat"].values.tolist() == [52.0, 50.8, 40.0]


def test_bilinear_reads_between_the_centres(field, csv):
    b = compare_stations(field, csv, units="ug m-3", matching="bilinear").sel(station="B")
    assert int(b["n"]) == 2 and float(b["bias"]) == pytest.approx(((58 - 54) + (63 - 57)) / 2)


def test_a_field_without_time_pairs_every_day(field, csv):
    out = compare_stations(field.isel(time=0, drop=True), csv, units="ug m-3")
    # A: (10, 9), (10, 13), (10, 12); B: (50, 54), (50, 57), (50, 100)
    assert out["n"].values.tolist() == [3, 3, 0]
    assert float(out.sel(station="A")["bias"]) == pytest.approx((1 - 3 - 2) / 3)
    assert float(out.sel(station="B")["bias"]) == pytest.approx((-4 - 7 - 50) / 3)


def test_a_dataset_a_dask_field_and_a_dataframe_give_the_same_scores(field, csv):
    reference = compare_stations(field, csv, units="ug m-3")
    lazy = compare_stations(field.to_dataset().chunk({"time": 1}), pd.read_csv(csv), variable="no2_surface",
                            units="ug m-3")
    xr.testing.assert_allclose(lazy.drop_attrs(), reference.drop_attrs())


def test_station_units_are_converted_to_the_fields(field, csv):
    table = pd.read_csv(csv).assign(value=lambda t: t["value"] * 1e-9, units="kg m-3")  # the table's own column
    out = compare_stations(field, table)
    assert float(out["pooled_bias"]) == pytest.approx(-0.6) and out["bias"].attrs["units"] == "ug m-3"


def test_units_that_cannot_be_compared_are_refused(field, csv):
    with pytest.raises(UnitsError, match=r"the station values is in 'mol m-2', which cannot be converted to 'ug m-3'"):
        compare_stations(field, csv, units="mol m-2")
    with pytest.raises(UnitsError, match=r"station values' units are unknown.*pass units="):
        compare_stations(field, csv)
    with pytest.raises(UnitsError, match=r"field 'no2_surface' has no units attribute"):
        compare_stations(field.drop_attrs(), csv, units="ug m-3")


def test_missing_columns_are_named(field, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("station,lat,longitude,date,value\nA,52,4,2021-12-17,1\n")
    with pytest.raises(MissingVariableError, match=r"lacks column\(s\) \['lon', 'time'\]; it has \['station', "
                                                   r"'lat', 'longitude', 'date', 'value'\]"):
        compare_stations(field, path, units="ug m-3")


def test_bad_parameters_are_refused(field, csv):
    with pytest.raises(ParameterError, match=r"matching='cubic' is not one of"):
        compare_stations(field, csv, units="ug m-3", matching="cubic")
    with pytest.raises(MissingVariableError, match=r"variable=None: name the field"):
        compare_stations(field.to_dataset(), csv, units="ug m-3")
    twice = xr.concat([field, field], "time")
    with pytest.raises(ParameterError, match=r"several layers on one day"):
        compare_stations(twice, csv, units="ug m-3")


def test_a_projected_field_is_read_in_the_station_cell():
    grid = ctm.Grid(ny=12, nx=12)
    field = ctm.as_dataset(grid, emission=np.arange(144.0).reshape(12, 12))["emission"]
    field.attrs["units"] = "mol m-2 s-1"
    from pyproj import Transformer

    row, col = 3, 7  # of the north-up dataset
    lon, lat = Transformer.from_crs(ctm.SCENE_CRS, "EPSG:4326", always_xy=True).transform(
        float(field.x[col]) + 1000.0, float(field.y[row]) - 1000.0)  # inside the cell, off its centre
    table = pd.DataFrame({"station": ["P"], "lat": [lat], "lon": [lon], "time": ["2021-12-17"], "value": [0.0]})
    out = compare_stations(field, table, units="mol m-2 s-1")
    assert float(out["bias"][0]) == pytest.approx(float(field[row, col]))

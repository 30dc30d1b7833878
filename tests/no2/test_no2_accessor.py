"""``ds.no2``: the accessor binds the functions; real L3 files (OMI over Romania, TROPOMI over the Netherlands)
read in mol m-2 and run through it."""
import numpy as np
import pytest
import xarray as xr
from checks import assert_cf, assert_lazy

from eoxr.errors import EoxrWarning, ParameterError, UnitsError
from eoxr.no2 import ctm, divergence, open_l3


@pytest.fixture(scope="module")
def scene():
    return ctm.scene(8, ctm.Grid(ny=30, nx=30), spinup_h=12)


def test_the_accessor_is_the_function(scene):
    by_method = scene.no2.emissions(method="divergence", lifetime_h=3.0)
    direct = divergence.emissions(scene, lifetime_h=3.0)
    xr.testing.assert_identical(by_method.drop_attrs(), direct.drop_attrs())
    table = by_method.no2.sources(threshold=1e-7, radius_km=15)
    xr.testing.assert_identical(table.drop_attrs(), divergence.sources(direct, threshold=1e-7,
                                                                       radius_km=15).drop_attrs())
    assert table.sizes["source"] >= 1


def test_an_unknown_method_is_refused(scene):
    with pytest.raises(ParameterError, match=r"method='cnn' is not one of \('divergence', 'smaat-unet', 'vae'\)"):
        scene.no2.emissions(method="cnn")


def test_the_omi_file_with_a_wrong_units_prefix_is_read_by_its_values(real_data):
    folder = real_data / "omi_no2_l3_romania"
    with pytest.warns(EoxrWarning, match=r"says '10\^15molec/cm2'.*read as molec cm-2"):
        monthly = open_l3(folder / "OMI-Aura_L3-OMNO2d_monthly.nc")
    climatology = open_l3(folder / "OMI-Aura_L3-OMNO2d_ymonmean_2015_2019.nc4")  # right units: no warning
    for ds, months in ((monthly, 7), (climatology, 12)):
        column = ds["no2_column"]
        assert column.attrs["units"] == "mol m-2" and column.sizes == {"time": months, "y": 38, "x": 50}
        assert 1e-6 < float(column.median()) < 1e-4 and float(column.max()) < 1e-3  # 1e14-1e17 molec cm-2
    np.testing.assert_allclose(float(monthly["no2_column"].max()) * 6.02214076e19, 9.4775e15, rtol=1e-3)
    assert str(monthly.time.values[0])[:7] == "2020-01" and str(climatology.time.values[0])[:7] == "2019-01"
    assert_cf(monthly, units="mol m-2")


def test_a_units_attribute_that_is_missing_or_unknown_is_refused(tmp_path):
    ds = xr.Dataset({"no2": (("time", "lat", "lon"), np.full((1, 2, 2), 1e15))},
                    coords={"time": [0.0], "lat": [45.0, 46.0], "lon": [20.0, 21.0]})
    ds.to_netcdf(tmp_path / "bare.nc")
    with pytest.raises(UnitsError, match="no units attribute"):
        open_l3(tmp_path / "bare.nc")
    ds["no2"].attrs["units"] = "DU per week"
    ds.to_netcdf(tmp_path / "odd.nc")
    with pytest.raises(UnitsError):
        open_l3(tmp_path / "odd.nc")


def test_tropomi_netherlands_runs_through_the_accessor_with_a_given_wind(real_data):
    files = sorted((real_data / "tropomi_no2_l3_netherlands_202112").glob("S5P_*.nc"))
    obs = xr.concat([open_l3(f) for f in files], dim="time")
    assert obs.sizes == {"time": 3, "y": 38, "x": 54} and obs["no2_column"].attrs["units"] == "mol m-2"
    wind = {"u": xr.full_like(obs["no2_column"], 5.0).assign_attrs(units="m s-1", long_name="eastward wind"),
            "v": xr.full_like(obs["no2_column"], -2.0).assign_attrs(units="m s-1", long_name="northward wind")}
    day = obs.assign(wind).chunk({"y": 19, "x": 27})
    em = assert_lazy(lambda d: d.no2.emissions(lifetime_h=4.0), day)
    assert_cf(em[["emission", "emission_std"]], units="mol m-2 s-1")
    em = em.compute()
    assert int(em["count"].max()) == 3 and np.isfinite(em["emission_std"]).any()
    interior = em["emission"].isel(y=slice(1, -1), x=slice(1, -1))
    assert np.isfinite(interior).mean() > 0.2
    table = em.no2.sources(threshold=float(interior.quantile(0.99)), radius_km=30)
    assert table.sizes["source"] >= 1 and (table["lat"] > 50).all() and (table["lon"] < 8).all()

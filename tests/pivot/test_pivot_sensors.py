"""Sensor models of the pivot workflow: band tables, responses, water-cloud model, speckle, cover model, names."""
import math

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from eoxr.errors import MissingVariableError, ParameterError
from eoxr.pivot import sensors
from eoxr.pivot.sensors import PIVOT_BANDS, SENSORS


def test_band_tables_are_ordered_and_in_their_spectral_regions():
    regions = {"blue": (440, 500), "green": (540, 570), "red": (630, 680), "nir": (840, 880),
               "swir1": (1560, 1680), "swir2": (2100, 2230)}
    for key in ("s2", "landsat", "modis"):
        sensor = SENSORS[key]
        assert tuple(sensor.bands) == PIVOT_BANDS
        for name, band in sensor.bands.items():
            assert regions[name][0] <= band.centre_nm <= regions[name][1], (key, name)
    assert [SENSORS[k].resolution_m for k in ("s2", "landsat", "modis", "s1")] == [10.0, 30.0, 250.0, 10.0]
    assert SENSORS["modis"].bands["blue"].resolution_m == 500.0 and SENSORS["s2"].bands["nir"].native == "B8A"


def test_revisits_and_overpasses():
    assert {k: SENSORS[k].revisit_days for k in SENSORS} == {"s2": 5, "landsat": 8, "modis": 1, "s1": 6}
    for key, per_satellite in sensors.REVISIT_PER_SATELLITE.items():
        assert per_satellite == SENSORS[key].revisit_days * SENSORS[key].satellites
    assert all(9.5 <= SENSORS[k].overpass_hour <= 11 for k in ("s2", "landsat", "modis"))


def test_spectral_response_is_a_gaussian_of_the_band_fwhm():
    s2 = SENSORS["s2"]
    red = s2.bands["red"]
    half = red.fwhm_nm / 2
    response = s2.spectral_response("red", [red.centre_nm, red.centre_nm - half, red.centre_nm + half, 900.0])
    np.testing.assert_allclose(response[:3], [1.0, 0.5, 0.5], rtol=1e-12)
    assert response[3] < 1e-6
    with pytest.raises(ParameterError, match="unknown Sentinel-2 MSI band 'B04'"):
        s2.spectral_response("B04", [665.0])


def test_band_reflectance_weights_the_spectrum_by_the_response():
    wl = sensors.WAVELENGTHS_NM
    for key in sensors.OPTICAL:
        np.testing.assert_allclose(sensors.band_reflectance(np.full(wl.shape, 0.3), key), 0.3)
        centres = np.array([band.centre_nm for band in SENSORS[key].bands.values()])
        # a symmetric response averages a linear spectrum to its value at the band centre (to the tails that
        # fall outside 400-2500 nm)
        np.testing.assert_allclose(sensors.band_reflectance(1e-4 * wl, key), 1e-4 * centres, rtol=2e-4)
    with pytest.raises(ParameterError, match="unknown optical sensor 's1'"):
        sensors.band_reflectance(np.ones(wl.shape), "s1")


def test_sensors_see_one_surface_slightly_differently():
    for name in sensors.SPECTRA:
        s2 = sensors.ENDMEMBERS["s2"][name]
        for key in ("landsat", "modis"):
            difference = np.abs(sensors.ENDMEMBERS[key][name] - s2)
            assert difference.max() < 0.03, (key, name)
        assert np.abs(sensors.ENDMEMBERS["modis"][name] - s2).max() > 1e-3, name
    for key in sensors.OPTICAL:
        np.testing.assert_allclose(sensors.canopy_reflectance(np.array(0.0), np.array(0.0), key),
                                   sensors.ENDMEMBERS[key]["soil_dry"])
    canopy = {key: sensors.canopy_reflectance(np.array(2.0), np.array(0.2), key) for key in sensors.OPTICAL}
    assert not np.allclose(canopy["s2"], canopy["modis"], atol=2e-3)


def test_psf_sigma_gives_the_assumed_mtf_at_nyquist():
    for key in ("s2", "landsat", "modis"):
        for band in SENSORS[key].bands.values():
            nyquist = 1.0 / (2.0 * band.resolution_m)  # cycles per metre
            mtf = math.exp(-2.0 * (math.pi * band.psf_sigma_m * nyquist) ** 2)
            assert mtf == pytest.approx(sensors.MTF_AT_NYQUIST)
    assert SENSORS["landsat"].psf_sigma_m["red"] == pytest.approx(3 * SENSORS["s2"].psf_sigma_m["red"])


def test_water_cloud_bare_soil_is_the_soil_term():
    mv = np.array([0.05, 0.2, 0.4])
    for pol, p in sensors.WATER_CLOUD.items():
        expected = 10.0 ** ((p.c + p.d * mv) / 10.0)
        np.testing.assert_allclose(sensors.water_cloud(0.0, mv, pol), expected, rtol=1e-12)


def test_water_cloud_dense_canopy_saturates_and_hides_the_soil():
    for pol, p in sensors.WATER_CLOUD.items():
        cos = math.cos(math.radians(38.0))
        dry, wet = (sensors.water_cloud(25.0, mv, pol) for mv in (0.05, 0.4))
        assert wet - dry < 1e-3 * dry  # the soil is attenuated away
        assert sensors.water_cloud(25.0, 0.2, pol) == pytest.approx(p.a * cos, rel=5e-3)  # saturated
        # moisture matters less and less as the canopy grows
        sensitivity = [sensors.water_cloud(lai, 0.3, pol) / sensors.water_cloud(lai, 0.1, pol) for lai in (0, 1, 3)]
        assert sensitivity[0] > sensitivity[1] > sensitivity[2] > 1.0


def test_soil_moisture_inverse_of_water_cloud():
    lai, mv = np.meshgrid(np.linspace(0, 4, 9), np.linspace(0.02, 0.44, 8))
    for pol in sensors.POLARIZATIONS:
        sigma0 = sensors.water_cloud(lai, mv, pol, incidence_deg=35.0)
        back = sensors.soil_moisture_from_backscatter(sigma0, lai, pol, incidence_deg=35.0)
        np.testing.assert_allclose(back, mv, atol=1e-9)
    below_vegetation = sensors.soil_moisture_from_backscatter(1e-6, 2.0, "VV")
    assert below_vegetation == sensors.SOIL_MOISTURE_RANGE[0]
    with pytest.raises(ParameterError, match="unknown polarization 'HH'"):
        sensors.water_cloud(1.0, 0.2, "HH")


def test_speckle_keeps_the_mean_and_has_std_one_over_sqrt_looks():
    rng = np.random.default_rng(3)
    sigma0 = np.full((400, 400), 0.05)
    for looks in (1.0, 4.4):
        noisy = sensors.speckle(sigma0, looks, rng)
        assert noisy.mean() == pytest.approx(0.05, rel=0.01)
        assert (noisy / sigma0).std() == pytest.approx(1 / math.sqrt(looks), rel=0.02)
    with pytest.raises(ParameterError, match="looks"):
        sensors.speckle(sigma0, 0, rng)


def test_canopy_reflectance_limits_and_soil_darkening():
    bare = sensors.canopy_reflectance(np.array(0.0), np.array(0.0))
    np.testing.assert_allclose(bare, sensors.SOIL_DRY)
    dense = sensors.canopy_reflectance(np.array(30.0), np.array(0.3))
    np.testing.assert_allclose(dense, sensors.LEAF, atol=1e-6)
    wet, dry = sensors.soil_reflectance(np.array(0.4)), sensors.soil_reflectance(np.array(0.05))
    assert np.all(wet < dry)
    ndvi = [float(sensors.ndvi(*sensors.canopy_reflectance(np.array(lai))[[2, 3]])) for lai in (0, 1, 3, 6)]
    assert ndvi == sorted(ndvi) and ndvi[0] < 0.2 and ndvi[-1] > 0.8


def test_lai_from_ndvi_inverts_the_canopy_ndvi():
    lai = np.linspace(0.0, 6.0, 25)
    for mv in (0.08, 0.2, 0.4):
        red, nir = sensors.canopy_reflectance(lai, np.full_like(lai, mv))[[2, 3]]
        np.testing.assert_allclose(sensors.lai_from_ndvi(sensors.ndvi(red, nir), mv), lai, atol=1e-9)
    for key in ("landsat", "modis"):  # each sensor's NDVI through its own bands
        red, nir = sensors.canopy_reflectance(lai, np.full_like(lai, 0.2), key)[[2, 3]]
        np.testing.assert_allclose(sensors.lai_from_ndvi(sensors.ndvi(red, nir), 0.2, key), lai, atol=1e-9)
    assert sensors.lai_from_ndvi(-0.3) == 0.0 and sensors.lai_from_ndvi(0.999) == pytest.approx(sensors.LAI_MAX)


def test_cover_model_stays_lazy_and_labelled_on_dask(no_compute):
    lai = xr.DataArray(dsa.full((4, 3, 3), 2.0, chunks=2), dims=("time", "y", "x"))
    refl = sensors.canopy_reflectance(lai, lai * 0 + 0.2)
    assert refl.dims == ("band", "time", "y", "x") and list(refl.band.values) == list(PIVOT_BANDS)
    assert refl.attrs["units"] == "1" and isinstance(refl.data, dsa.Array)
    back = sensors.lai_from_ndvi(sensors.ndvi(refl.sel(band="red"), refl.sel(band="nir")))
    assert isinstance(back.data, dsa.Array)


def test_cover_model_on_dask_equals_numpy():
    lai = np.linspace(0, 5, 12).reshape(3, 4)
    lazy = sensors.canopy_reflectance(xr.DataArray(lai, dims=("y", "x")).chunk(2))
    np.testing.assert_allclose(lazy.values, sensors.canopy_reflectance(lai))


def test_standardise_renames_each_sensors_bands():
    grid = {"y": [1.0, 0.0], "x": [0.0, 1.0]}

    def cube(*names, units="1"):
        return xr.Dataset({n: (("y", "x"), np.full((2, 2), 0.1), {"units": units}) for n in names}, coords=grid)

    s2 = sensors.standardise(cube("B02", "B04", "B8A", "SCL"), "s2")
    assert {"blue", "red", "nir", "SCL"} == set(s2.data_vars) and s2["red"].attrs["units"] == "1"
    earth = sensors.standardise(cube("red", "nir", "nir08", "swir16"), "s2")  # Earth Search: nir is B08
    assert {"red", "nir", "B08", "swir1"} == set(earth.data_vars)
    assert set(sensors.standardise(cube("SR_B4", "SR_B5"), "landsat").data_vars) == {"red", "nir"}
    assert set(sensors.standardise(cube("sur_refl_b01", "sur_refl_b02"), "modis").data_vars) == {"red", "nir"}
    s1 = sensors.standardise(cube("VV", "VH", units="dB"), "s1")
    np.testing.assert_allclose(s1["vv"].values, 10 ** 0.01)
    assert s1["vv"].attrs["units"] == "1"


def test_standardise_bad_input_names_the_fix():
    ds = xr.Dataset({"foo": (("y", "x"), np.zeros((2, 2)))})
    with pytest.raises(MissingVariableError, match=r"Sentinel-2 MSI data without any of its bands.*ds.rename"):
        sensors.standardise(ds, "s2")
    with pytest.raises(ParameterError, match="unknown sensor 'sentinel2'"):
        sensors.standardise(ds, "sentinel2")

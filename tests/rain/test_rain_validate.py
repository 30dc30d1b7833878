"""DPR vs ground-radar matching: beam geometry by hand, synthetic volumes with known echoes, the real
Brisbane overpass (shared/data/real/dpr_groundradar_brisbane_20141206), and the IPWG baseline reader."""
from __future__ import annotations

import h5py
import matplotlib
import numpy as np
import pytest
import xarray as xr
from pyproj import Transformer

from eoxr.errors import MissingVariableError, NoDataError, ParameterError, ReadError
from eoxr.io import open_product
from eoxr.rain import validate

matplotlib.use("Agg")

CASE = "dpr_groundradar_brisbane_20141206"
KU = f"{CASE}/2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5"
ODIM = f"{CASE}/IDR66_20141206_094829.vol.h5"
GPROF_BASELINE = "ipwg_stats/baseline_gprof_v07a_gmi_conus.nc"
SITE = {"lat": -27.7, "lon": 153.2, "height": 100.0}
T0 = np.datetime64("2020-01-01T00:00:00", "ns")


# ------------------------------------------------------------------------------ synthetic inputs


def volume(elevations=(0.5, 1.5, 3.0), nrays=360, nbins=400, rscale=250.0, sweep_seconds=30):
    """A ground-radar volume shaped like open_odim's output: every bin measured, nothing detected."""
    shape = (len(elevations), nrays, nbins)
    starts = T0 + np.arange(len(elevations)) * np.timedelta64(sweep_seconds, "s")
    ray = (np.arange(nrays) + 0.5) / nrays * np.timedelta64(sweep_seconds, "s").astype("timedelta64[ns]")
    return xr.Dataset(
        {"reflectivity": (("sweep", "azimuth", "range"), np.full(shape, np.nan)),
         "reflectivity_valid": (("sweep", "azimuth", "range"), np.ones(shape, bool))},
        coords={"azimuth": (np.arange(nrays) + 0.5) * 360.0 / nrays, "range": (np.arange(nbins) + 0.5) * rscale,
                "elevation": ("sweep", np.array(elevations, float)),
                "ray_time": (("sweep", "azimuth"), starts[:, None] + ray[None, :]),
                "latitude": SITE["lat"], "longitude": SITE["lon"], "altitude": SITE["height"]})


def one(da) -> float:
    """The value of a one-footprint result."""
    return da.values.item()


def plane():
    aeqd = f"+proj=aeqd +lat_0={SITE['lat']} +lon_0={SITE['lon']} +x_0=0 +y_0=0 +datum=WGS84 +units=m"
    return Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)


def bin_centre(gr, sweep, ray, rng):
    """(x, y, height) of a bin centre on the radar plane, from the geometry functions under test."""
    r, elevation = float(gr.range[rng]), float(gr.elevation[sweep])
    s = validate.ground_distance(r, elevation, SITE["height"])
    az = np.deg2rad(float(gr.azimuth[ray]))
    return s * np.sin(az), s * np.cos(az), validate.beam_height(r, elevation, SITE["height"])


def swath(x, y, height, zenith=0.0, spacecraft=None, rain=1.0, dbz=30.0, kind=1):
    """A one-scan DPR swath with footprints at plane positions (x, y) and near-surface samples at ``height``."""
    to_lonlat = plane()
    lon, lat = to_lonlat.transform(np.atleast_1d(x), np.atleast_1d(y))
    sx, sy = spacecraft if spacecraft is not None else (np.atleast_1d(x)[0], np.atleast_1d(y)[0])
    sc_lon, sc_lat = to_lonlat.transform(sx, sy)
    n = lon.size

    def field(value):
        return (("along_track", "cross_track"), np.broadcast_to(np.asarray(value, float), (1, n)).copy())

    return xr.Dataset(
        {"rain_rate": field(rain), "reflectivity_near_surface": field(dbz), "height_near_surface": field(height),
         "local_zenith_angle": field(zenith),
         "precipitation_type": (("along_track", "cross_track"), np.full((1, n), kind, np.int8))},
        coords={"latitude": (("along_track", "cross_track"), lat[None]),
                "longitude": (("along_track", "cross_track"), lon[None]),
                "scan_time": ("along_track", [T0 + np.timedelta64(100, "s")]),
                "spacecraft_latitude": ("along_track", [sc_lat]), "spacecraft_longitude": ("along_track", [sc_lon])})


# ------------------------------------------------------------------------------------- geometry


def test_beam_height_matches_the_hand_computation():
    # r = 100 km, elevation 0.5 deg, antenna at sea level, k a = 4/3 * 6371 km = 8494.667 km:
    # h = r sin(0.5 deg) + r^2 / (2 k a) = 872.654 + 588.605 = 1461.26 m (the exact formula adds < 0.1 m)
    assert validate.beam_height(100e3, 0.5) == pytest.approx(1461.26, abs=0.5)
    # 10 deg at 50 km: r sin = 8682.409 m, r^2 cos^2 / (2 k a) = 142.75 m
    assert validate.beam_height(50e3, 10.0) == pytest.approx(8682.41 + 142.75, abs=1.0)
    # the antenna height adds to it (to within the curvature of those 175 m: < 0.1 m)
    assert validate.beam_height(100e3, 0.5, 175.0) == pytest.approx(1461.26 + 175.0, abs=0.5)
    # below the beam, the ground distance is shorter than the slant range by ~ r (1 - cos(theta))
    assert validate.ground_distance(100e3, 0.5) == pytest.approx(100e3 * np.cos(np.deg2rad(0.5)) - 17.0, abs=5.0)


def test_beam_above_inverts_ground_distance():
    r = np.array([5e3, 50e3, 149e3])
    for elevation in (0.5, 4.2, 32.0):
        s = validate.ground_distance(r, elevation, 175.0)
        slant, height = validate.beam_above(s, elevation, 175.0)
        np.testing.assert_allclose(slant, r, rtol=1e-9)
        np.testing.assert_allclose(height, validate.beam_height(r, elevation, 175.0), atol=1e-6)


def test_parallax_shift_moves_towards_the_spacecraft_by_h_tan_zenith():
    x, y = validate.parallax_shift(10e3, 0.0, 2000.0, 17.0, 10e3 + 300e3, 0.0)
    assert x == pytest.approx(10e3 + 2000.0 * np.tan(np.deg2rad(17.0))) and y == pytest.approx(0.0)
    x, y = validate.parallax_shift(0.0, 0.0, 2000.0, 10.0, -3e3, -4e3)  # direction (-0.6, -0.8)
    d = 2000.0 * np.tan(np.deg2rad(10.0))
    assert (x, y) == pytest.approx((-0.6 * d, -0.8 * d))
    assert validate.parallax_shift(5.0, 5.0, 2000.0, 0.0, 5.0, 5.0) == pytest.approx((5.0, 5.0))  # nadir


@pytest.mark.parametrize(("sweep", "ray", "rng"), [(0, 37, 200), (1, 250, 100), (2, 359, 330), (0, 0, 79)])
def test_a_sample_at_a_known_bin_lands_in_that_bin(sweep, ray, rng):
    gr = volume()
    gr["reflectivity"][sweep, ray, rng] = 40.0
    x, y, h = bin_centre(gr, sweep, ray, rng)
    pairs = validate.match(swath(x, y, h), gr, min_range=0.0, max_range=100e3, footprint_radius=100.0)
    assert pairs.sizes["footprint"] == 1
    assert one(pairs.elevation) == float(gr.elevation[sweep])
    assert one(pairs.reflectivity_gr) == pytest.approx(40.0)
    assert one(pairs.height) == pytest.approx(h, abs=1.0)
    assert one(pairs.range) == pytest.approx(float(gr.range[rng]), abs=1.0)
    # DPR scan at T0 + 100 s; that ray was swept at T0 + 30 s * sweep + (ray + 0.5) / 360 * 30 s
    expected = 100.0 - (30.0 * sweep + (ray + 0.5) / 360 * 30.0)
    assert one(pairs.time_offset) == pytest.approx(expected, abs=1e-3)


def test_the_sweep_nearest_the_dpr_sample_height_is_chosen():
    gr = volume()
    x, y, _ = bin_centre(gr, 0, 90, 200)  # 50 km east: beams at ~0.68, 1.56, 2.87 km
    heights = [validate.beam_height(float(gr.range[200]), e, SITE["height"]) for e in gr.elevation.values]
    samples = [heights[0] + 100.0, (heights[0] + heights[1]) / 2 + 50.0, heights[2] + 3000.0]
    pairs = validate.match(swath([x] * 3, [y] * 3, samples), gr, min_range=0.0, footprint_radius=600.0)
    np.testing.assert_array_equal(pairs.elevation.values, [0.5, 1.5, 3.0])


def test_parallax_puts_the_sample_where_the_slanted_beam_is():
    gr = volume()
    gr["reflectivity"][1, 45, 240] = 40.0
    tx, ty, h = bin_centre(gr, 1, 45, 240)
    lean = h * np.tan(np.deg2rad(17.0))  # ~0.45 km: the beam is there before reaching the ground
    outward = np.array([tx, ty]) / np.hypot(tx, ty)  # along the ray: bins every 250 m on either side
    fx, fy = np.array([tx, ty]) - lean * outward  # the ground footprint lies away from the spacecraft
    spacecraft = (tx + 300e3 * outward[0], ty + 300e3 * outward[1])
    shifted = validate.match(swath(fx, fy, h, zenith=17.0, spacecraft=spacecraft), gr, min_range=0.0,
                             footprint_radius=300.0)
    # the target bin and its two range neighbours (250 m away) fall within 300 m
    assert one(shifted.reflectivity_gr) == pytest.approx(10 * np.log10(1e4 / 3), abs=0.01)
    assert one(shifted.latitude) == pytest.approx(plane().transform(tx, ty)[1], abs=1e-6)
    ground = validate.match(swath(fx, fy, h, zenith=17.0, spacecraft=spacecraft), gr, min_range=0.0,
                            footprint_radius=300.0, parallax=False)
    assert np.isnan(one(ground.reflectivity_gr)) and one(ground.rain_rate_gr) == 0.0


def test_bins_average_in_linear_z_undetect_as_zero_unmeasured_left_out():
    gr = volume()
    gr["reflectivity"][0, ::2, :] = 40.0  # every other ray: echo, the rest undetect
    x, y, h = bin_centre(gr, 0, 100, 120)
    pairs = validate.match(swath(x, y, h), gr, min_range=0.0, footprint_radius=2.5e3)
    echo = 10.0 ** 4.0
    z_mean = 10 ** (one(pairs.reflectivity_gr) / 10)
    assert z_mean == pytest.approx(0.5 * echo, rel=0.1)  # not the 40 dBZ the mean in dB would say
    gr["reflectivity_valid"][0, 1::2, :] = False  # the rays without echo were never measured
    pairs = validate.match(swath(x, y, h), gr, min_range=0.0, footprint_radius=2.5e3)
    assert one(pairs.reflectivity_gr) == pytest.approx(40.0)
    assert one(pairs.gr_bin_count) > 20


@pytest.mark.parametrize(("zr", "kind", "dbz", "expected"), [
    ("marshall_palmer", 1, 30.0, (1000.0 / 200.0) ** (1 / 1.6)),
    ("convective", 1, 30.0, (1000.0 / 300.0) ** (1 / 1.4)),
    ("by_type", 2, 30.0, (1000.0 / 300.0) ** (1 / 1.4)),
    ("by_type", 1, 30.0, (1000.0 / 200.0) ** (1 / 1.6)),
    ((100.0, 2.0), 1, 30.0, np.sqrt(10.0)),
    ("marshall_palmer", 1, 60.0, (10 ** 5.3 / 200.0) ** (1 / 1.6)),  # capped at 53 dBZ
])
def test_gr_rain_rate_from_the_z_r_relation(zr, kind, dbz, expected):
    gr = volume()
    gr["reflectivity"][:] = dbz
    x, y, h = bin_centre(gr, 0, 10, 150)
    pairs = validate.match(swath(x, y, h, kind=kind), gr, min_range=0.0, zr=zr)
    assert one(pairs.rain_rate_gr) == pytest.approx(expected, rel=1e-9)
    assert one(pairs.reflectivity_gr) == pytest.approx(dbz)


def test_case_metrics_score_rain_and_reflectivity_only_where_both_radars_see_echo():
    pairs = xr.Dataset(
        {"rain_rate_dpr": ("footprint", [2.0, 0.0, 1.0, 0.5]), "rain_rate_gr": ("footprint", [1.0, 0.5, 1.0, 0.0]),
         "reflectivity_dpr": ("footprint", [30.0, 25.0, 10.0, np.nan]),
         "reflectivity_gr": ("footprint", [27.0, 24.0, 20.0, 15.0])},
        coords={"time_offset": ("footprint", [90.0, 100.0, 120.0, 400.0])})
    scores = validate.case_metrics(pairs)
    assert scores["n_reflectivity_pairs"] == 2  # 10 dBZ and NaN are below the DPR's 18 dBZ sensitivity
    assert scores["reflectivity_bias_dB"] == pytest.approx(((30 - 27) + (25 - 24)) / 2)
    assert scores["time_offset_s"] == pytest.approx(110.0)
    # rain: hits at 0 and 2, a miss at 1, a false alarm at 3; sums 3.5 vs 2.5
    assert scores["bias_percent"] == pytest.approx(40.0)
    assert (scores["pod"], scores["far"], scores["n_pairs"]) == (pytest.approx(2 / 3), pytest.approx(1 / 3), 4)


# ------------------------------------------------------------------------------------ bad input


def test_swapped_or_wrong_inputs_are_errors_naming_the_fix():
    gr = volume()
    x, y, h = bin_centre(gr, 0, 10, 150)
    dpr = swath(x, y, h)
    with pytest.raises(ReadError, match="swapped"):
        validate.match(gr, dpr)
    with pytest.raises(ReadError, match="swapped"):
        validate.match(dpr, dpr)
    th = gr.rename(reflectivity="total_reflectivity")
    with pytest.raises(MissingVariableError, match=r"DBZH.*rename\(total_reflectivity='reflectivity'\)"):
        validate.match(dpr, th)
    with pytest.raises(MissingVariableError, match="height_near_surface.*open_product"):
        validate.match(dpr.drop_vars("height_near_surface"), gr)
    with pytest.raises(MissingVariableError, match="parallax=False"):
        validate.match(dpr.drop_vars(["spacecraft_latitude", "spacecraft_longitude"]), gr)
    with pytest.raises(ParameterError, match="marshall_palmer"):
        validate.match(dpr, gr, zr="nonsense")
    with pytest.raises(ParameterError, match="positive"):
        validate.match(dpr, gr, zr=(-200, 1.6))
    with pytest.raises(ParameterError, match="min_range"):
        validate.match(dpr, gr, min_range=50e3, max_range=20e3)


def test_an_overpass_that_misses_the_radar_is_a_no_data_error():
    gr = volume()
    with pytest.raises(NoDataError, match=r"nearest is 4\d\d km.*misses this radar"):
        validate.match(swath(400e3, 150e3, 1000.0), gr)
    x, y, h = bin_centre(gr, 0, 10, 20)  # 5 km out: inside the 15 km cone of silence
    with pytest.raises(NoDataError, match="15-115 km"):
        validate.match(swath(x, y, h), gr)


# ------------------------------------------------------------------------- real Brisbane overpass


@pytest.fixture(scope="module")
def case(real_data):
    pairs, scores = validate.groundradar_case(real_data / KU, real_data / ODIM)
    return pairs, scores


def footprints_within(real_data, low_m, high_m):
    """DPR footprints (and raining ones) by great-circle distance from the radar, from the files alone."""
    with h5py.File(real_data / KU, "r") as f:
        lat, lon = np.deg2rad(f["NS/Latitude"][()]), np.deg2rad(f["NS/Longitude"][()])
        rain = f["NS/SLV/precipRateNearSurface"][()]
    with h5py.File(real_data / ODIM, "r") as f:
        lat0, lon0 = (np.deg2rad(f["where"].attrs[k]) for k in ("lat", "lon"))
    hav = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    distance = 2 * 6371.0e3 * np.arcsin(np.sqrt(hav))
    inside = (distance >= low_m) & (distance <= high_m)
    return int(inside.sum()), int((inside & (rain > 0.1)).sum())


def test_real_case_matches_every_footprint_in_range(real_data, case):
    pairs, scores = case
    expected, _ = footprints_within(real_data, 15e3, 115e3)
    # parallax moves a few samples across the 15 and 115 km circles: the count agrees to 1 %
    assert abs(pairs.sizes["footprint"] - expected) <= 0.01 * expected
    assert scores["n_pairs"] == pairs.sizes["footprint"] == scores["n"]
    wide = validate.match(*(open_product(real_data / p) for p in (KU, ODIM)), min_range=0.0,
                          max_range=150e3)
    # PROVENANCE: 2567 DPR pixels within 150 km of the radar, 1136 of them with > 0.1 mm/h
    assert abs(wide.sizes["footprint"] - 2567) <= 0.01 * 2567
    assert abs(int((wide.rain_rate_dpr > 0.1).sum()) - 1136) <= 0.01 * 1136
    assert footprints_within(real_data, 0.0, 150e3)[1] == pytest.approx(1136, rel=0.01)


def test_real_case_reflectivity_bias_is_plausible_and_z_correlates(case):
    _, scores = case
    # S band vs Ku before frequency correction, plus ground-radar calibration: a few dB
    assert 0.5 < abs(scores["reflectivity_bias_dB"]) < 6.0
    assert scores["reflectivity_correlation"] > 0.8
    assert scores["n_reflectivity_pairs"] > 200
    assert scores["correlation"] > 0.7 and scores["pod"] > 0.7 and scores["far"] < 0.3
    # PROVENANCE: the volume starts ~1.5 min before the overpass
    assert 60.0 < scores["time_offset_s"] < 180.0


def test_real_case_pairs_are_tidy_with_units_and_sampled_where_the_dpr_looks(case):
    pairs, _ = case
    for name, da in pairs.variables.items():
        if name != "spatial_ref":
            assert da.attrs.get("units") and da.attrs.get("long_name"), name
    assert pairs.rio.crs.to_epsg() == 4326 and "eoxr.rain.validate.match" in pairs.attrs["history"]
    table = pairs.to_dataframe()
    assert {"rain_rate_dpr", "rain_rate_gr", "reflectivity_dpr", "reflectivity_gr", "range", "height",
            "latitude", "longitude"} <= set(table.columns)
    assert ((pairs.ground_distance >= 15e3) & (pairs.ground_distance <= 115e3)).all()
    # the chosen sweep samples within a beam's half-width (1 deg beam) of the DPR sample's height
    gap = np.abs(pairs.height - pairs.height_dpr)
    assert float(gap.median()) < 200.0 and float((gap < 0.5 * np.deg2rad(1.0) * pairs.range + 300).mean()) > 0.9
    assert pairs.rain_rate_gr.min() >= 0 and np.isfinite(pairs.rain_rate_gr).all()


def test_plot_case_returns_the_axes_with_every_shown_pair(case):
    pairs, _ = case
    ax = validate.plot_case(pairs)
    shown = int(((pairs.rain_rate_gr >= 0.1) | (pairs.rain_rate_dpr >= 0.1)).sum())
    assert len(ax.collections[0].get_offsets()) == shown and ax.get_xscale() == "log"
    ax = validate.plot_case(pairs, kind="reflectivity")
    both = int((np.isfinite(pairs.reflectivity_gr) & np.isfinite(pairs.reflectivity_dpr)).sum())
    assert len(ax.collections[0].get_offsets()) == both and "dBZ" in ax.get_xlabel()
    with pytest.raises(ParameterError, match="rain"):
        validate.plot_case(pairs, kind="map")


def test_groundradar_case_rejects_files_of_the_wrong_kind(real_data):
    with pytest.raises(ReadError, match="swapped"):
        validate.groundradar_case(real_data / ODIM, real_data / KU)
    imerg = real_data / "gpm_gmi_dpr/3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5"
    with pytest.raises(MissingVariableError, match="2A-DPR or 2A-Ku"):
        validate.groundradar_case(imerg, real_data / ODIM)


# --------------------------------------------------------------------------------- IPWG baseline


def test_ipwg_gprof_baseline_reads_the_published_figures(real_data):
    scores = validate.ipwg_baseline(real_data / GPROF_BASELINE)
    # PROVENANCE: bias +5.8 %, MAE 0.120 mm/h, MSE 1.41 (mm/h)^2, r 0.552, POD 0.758, FAR 0.462, HSS 0.508
    published = {"bias_percent": 5.8, "mae_mm_h": 0.120, "mse_mm2_h2": 1.41, "correlation": 0.552,
                 "pod": 0.758, "far": 0.462, "hss": 0.508}
    for name, value in published.items():
        assert scores[name] == pytest.approx(value, abs=0.006 if name != "bias_percent" else 0.05), name
    assert scores["effective_resolution_deg"] == pytest.approx(0.423)


def test_ipwg_baseline_wrong_or_missing_file(real_data, tmp_path):
    with pytest.raises(MissingVariableError, match="not an IPWG SPR baseline"):
        validate.ipwg_baseline(real_data / "ipwg_stats/obs_gmi.nc")
    with pytest.raises(ReadError, match="no such file"):
        validate.ipwg_baseline(tmp_path / "baseline.nc")

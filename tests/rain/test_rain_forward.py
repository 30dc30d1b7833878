"""Forward model: emission and scattering signals, two-stream limits, surface emissivity, bad input."""
import numpy as np
import pytest

from eoxr.errors import ParameterError
from eoxr.rain import forward as fw
from eoxr.rain import radiometers as rd

GMI = rd.GMI


def _tb(names, **state):
    st = fw.State(**{"surface_temperature": 290.0, "land_fraction": 0.0, "tpw": 30.0, **state})
    return np.stack([fw.channel_tb(GMI.channel(n), st, GMI.incidence) for n in names])


@pytest.mark.parametrize("name", ["10.65V", "10.65H", "18.7V", "18.7H"])
def test_ocean_tb_rises_with_rain_at_low_frequency(name):
    rain = np.array([0.0, 0.2, 0.5, 1, 2, 4, 8, 15, 25, 40])
    tb = _tb([name], rain_rate=rain, lwp=0.2)[0]
    assert np.all(np.diff(tb) > 0), tb  # liquid emission warms the radiatively cold sea
    assert tb[-1] - tb[0] > 50.0


def test_heavy_rain_depolarises_and_saturates_at_18_ghz():
    clear = _tb(["18.7V", "18.7H"], rain_rate=0.0)
    heavy = _tb(["18.7V", "18.7H"], rain_rate=60.0, lwp=0.8)
    assert clear[0] - clear[1] > 50.0 and abs(heavy[0] - heavy[1]) < 3.0
    assert heavy[0] < 290.0  # saturates below the rain layer's temperature, not above


@pytest.mark.parametrize("land", [0.0, 1.0])
@pytest.mark.parametrize("name", ["89V", "89H", "166V", "166H"])
def test_tb_falls_with_ice_at_high_frequency(name, land):
    iwp = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0])
    tb = _tb([name], iwp=iwp, rain_rate=5.0, lwp=0.3, land_fraction=land)[0]
    assert np.all(np.diff(tb) < 0), tb  # ice reflects the cold sky: the scattering signal
    assert tb[0] - tb[-1] > 60.0


def test_ice_hardly_touches_10_ghz():
    tb = _tb(["10.65V"], iwp=np.array([0.0, 2.0]), land_fraction=1.0)[0]
    assert abs(tb[1] - tb[0]) < 3.0


def test_two_stream_limits():
    tau, mu = np.array([0.0, 0.3, 1.0, 3.0]), 0.6
    r, t, e = fw.two_stream(tau, 0.0, 0.0, mu)
    np.testing.assert_allclose(t, np.exp(-tau / mu), rtol=1e-12)
    np.testing.assert_allclose(r, 0.0, atol=1e-15)
    r, t, e = fw.two_stream(tau, 1.0, 0.5, mu)  # conservative scattering: nothing emitted
    np.testing.assert_allclose(r + t, 1.0, atol=1e-12)
    assert np.all(np.diff(r) > 0) and np.all(e < 1e-12)


def test_calm_ocean_emissivity_and_wind():
    e_v, e_h = fw.ocean_emissivity(10.65, 52.8, 290.0, 0.0)
    assert 0.5 < e_v < 0.62 and 0.22 < e_h < 0.35  # a calm sea is a poor, polarised emitter
    e_v7, e_h7 = fw.ocean_emissivity(10.65, 52.8, 290.0, 10.0)
    assert e_h7 - e_h > 2 * (e_v7 - e_v) > 0  # wind roughens mostly H at the imagers' incidence


def test_snow_lowers_high_frequency_emissivity_more():
    soil = fw.soil_reflectivity(0.2, 52.8)
    e10 = fw.land_emissivity(10.65, 52.8, soil, 1.0, np.array([0.0, 1.0]))[0]
    e89 = fw.land_emissivity(89.0, 52.8, soil, 1.0, np.array([0.0, 1.0]))[0]
    assert e89[0] - e89[1] > 3 * (e10[0] - e10[1]) > 0


def test_tb_stays_within_physical_bounds(rng):
    n = 2000
    st = fw.State(surface_temperature=rng.uniform(250, 310, n), land_fraction=rng.uniform(0, 1, n),
                  tpw=rng.uniform(1, 70, n), lwp=rng.uniform(0, 1, n), rain_rate=rng.lognormal(0, 1.5, n),
                  iwp=rng.lognormal(-2, 1.5, n), wind=rng.uniform(0, 20, n), soil_moisture=rng.uniform(0, 0.45, n),
                  vegetation_water=rng.uniform(0, 6, n), snow=rng.uniform(0, 1, n),
                  upper_humidity=rng.uniform(0.2, 3, n))
    tb = fw.simulate(GMI, st)
    assert tb.shape == (13, n) and np.isfinite(tb).all()
    assert tb.min() > 50.0 and np.all(tb <= st.surface_temperature + 1e-6)


def test_cross_track_polarisation_mixes_with_scan_angle():
    st = fw.State(surface_temperature=290.0, land_fraction=0.0, tpw=10.0)
    qv = rd.MHS.channel("89QV")
    nadir, edge = (fw.channel_tb(qv, st, 50.0, a) for a in (0.0, 50.0))
    assert edge < nadir - 5.0  # at the scan edge QV sees more of the cold H-polarised sea


def test_negative_state_is_refused():
    with pytest.raises(ParameterError, match="negative"):
        fw.State(surface_temperature=280.0, land_fraction=0.5, tpw=10.0, rain_rate=-1.0)


def test_radiometer_tables():
    for r in rd.RADIOMETERS.values():
        assert len(set(r.channel_names)) == len(r.channels)
        assert all(c.nedt > 0 and c.footprint_along >= c.footprint_cross > 0 for c in r.channels)
        assert r.incidence_angles().shape == (r.pixels,)
    inc = rd.ATMS.incidence_angles()
    assert inc[0] > inc[rd.ATMS.pixels // 2] and inc.max() > rd.ATMS.incidence  # Earth's curvature
    assert rd.get("AMSR2") is rd.AMSR2
    from eoxr.io.products.gpm import GMI_CHANNELS

    reader = [f"{f:g}{'+-%g' % o if o else ''}{p}" for swath in GMI_CHANNELS.values() for f, p, o in swath]
    assert rd.GMI.channel_names == reader  # the names open_product gives a 1C-GMI file


def test_unknown_sensor_names_the_known_ones():
    with pytest.raises(ParameterError, match="unknown sensor 'tmi'.*amsr2"):
        rd.get("tmi")

"""Synthetic swaths: layout of a 1C file, rain structure, seeds, footprints, parallax, noise, other sensors."""
import numpy as np
import pytest

from eoxr.errors import ParameterError
from eoxr.rain import synth
from eoxr.rain.radiometers import AMSR2, GMI


@pytest.fixture(scope="module")
def fields():
    return synth.fields(4, scans=40, pixels=96)


@pytest.fixture(scope="module")
def swath(fields):
    return synth.observe(fields)


def test_swath_has_the_1c_layout(swath):
    tb = swath["brightness_temperature"]
    assert tb.dims == ("along_track", "cross_track", "channel") and tb.shape == (40, 96, 13)
    assert list(swath.channel.values) == GMI.channel_names and tb.attrs["units"] == "K"
    assert swath["latitude"].dims == ("along_track", "cross_track") and swath.rio.crs.to_epsg() == 4326
    assert swath["rain_rate"].attrs["units"] == "mm h-1" and "history" in swath.attrs
    assert set(np.unique(swath["surface_type"])) <= set(synth.SURFACE_TYPES)
    assert float(swath.frequency.sel(channel="183.31+-7V")) == 183.31
    assert np.isfinite(tb).all() and 60 < float(tb.min()) and float(tb.max()) < 330


def test_rain_has_cells_and_areas(fields):
    rain = fields.rain_rate
    wet = rain >= synth.RAIN_THRESHOLD
    assert 0.01 < wet.mean() < 0.3
    assert rain.max() > 10.0 and np.median(rain[wet]) < 5.0  # convective peaks over a lighter stratiform body
    assert fields.convective.any() and (fields.state.iwp[fields.convective].mean() > fields.state.iwp[wet].mean())


def test_seeds_repeat_and_differ():
    a = synth.scene(1, scans=16, pixels=32)
    b = synth.scene(1, scans=16, pixels=32)
    c = synth.scene(2, scans=16, pixels=32)
    np.testing.assert_array_equal(a["brightness_temperature"].values, b["brightness_temperature"].values)
    assert not np.allclose(a["brightness_temperature"].values, c["brightness_temperature"].values)


def test_footprint_is_the_channels_gaussian():
    impulse = np.zeros((len(GMI.channels), 128, 64))
    impulse[:, 64, 32] = 1.0
    out = synth._footprints(impulse, GMI)
    for c, f in zip(GMI.channels, out):
        along, cross = f[:, 32], f[64, :]
        fwhm = [synth.DX * np.sum(p >= p.max() / 2) for p in (along, cross)]
        assert abs(fwhm[0] - c.footprint_along) <= 2 * synth.DX and abs(fwhm[1] - c.footprint_cross) <= 2 * synth.DX
        assert f.sum() == pytest.approx(1.0, rel=1e-9)


def test_low_frequency_sees_rain_blurred(swath):
    """Beam filling: the 10 GHz footprint smooths the rain signal that 89 GHz resolves."""
    tb = swath["brightness_temperature"]
    rough = [float(np.abs(np.diff(tb.sel(channel=c).values, axis=1)).mean()) for c in ("10.65V", "89V")]
    assert rough[0] < rough[1]


def test_noise_has_the_channels_nedt(fields):
    clean = synth.observe(fields, noise=False)["brightness_temperature"]
    noisy = synth.observe(fields)["brightness_temperature"]
    std = (noisy - clean).std(("along_track", "cross_track")).values
    np.testing.assert_allclose(std, GMI.nedt, rtol=0.1)


def test_ice_is_seen_before_the_surface_along_the_look():
    field = np.zeros((50, 5))
    field[20] = 1.0
    seen = synth._parallax(field, 6.0, 53.0)
    assert np.argmax(seen[:, 0]) == 20 + round(6.0 * np.tan(np.radians(53.0)) / synth.DX)


def test_other_radiometer_sees_the_same_fields(fields):
    amsr2 = synth.observe(synth.fields(4, "amsr2", scans=24, pixels=40))
    assert list(amsr2.channel.values) == AMSR2.channel_names and amsr2.attrs["sensor"] == "amsr2"


def test_bad_scene_size():
    with pytest.raises(ParameterError, match="at least 8 scans"):
        synth.fields(0, scans=4)

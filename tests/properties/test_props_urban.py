"""Hostile observations to eoxr.urban invert and unmix_flat, on a tiny synthetic city (60 m, 2 m cells) seen by
two Sentinel-2 bands at 10 m (6 x 6 pixels): NaN masks, all-NaN, constant and extreme radiances, wrong dtypes,
foreign or unknown units, no bands, another CRS, a shifted or resampled grid, a grid beyond the city.

The documented result: reflectance (element, band, y, x) in 1 on the image's grid and CRS, NaN where an element
is too little seen, and from a physical image not all NaN; otherwise an eoxr error.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import outcome

import eoxr
from eoxr.urban import Atmosphere, Geometry, synth
from eoxr.urban.inputs import MAX_TOA_REFLECTANCE
from eoxr.urban.sensors import band_solar_irradiance

BANDS = ["B04", "B08"]
GEOM = Geometry(35.0, 150.0, 8.0, 100.0)
ATM = Atmosphere(aot550=0.15)
SETTINGS = dict(window=3, max_iter=3, budget=False, reflectance_scene_std=None)


@pytest.fixture(scope="module")
def scene():
    """(city, sensor, noise-free observation) of a 60 m city with its geometric fields computed once."""
    city = synth.make_city(60.0, 2.0, seed=1)
    sensor = eoxr.urban.get_sensor("sentinel-2").subset(BANDS)
    truth = synth.draw_properties(city, sensor, 1, GEOM, variability=0.0)
    obs = synth.observe(city, truth, sensor, GEOM, ATM, pixel_size=10.0)
    eoxr.urban.invert(obs, city, sensor, ATM, **SETTINGS)  # the city's fields for this geometry, once
    return city, sensor, obs


HOSTILE = ("valid", "holes", "all-nan", "constant", "zero", "brightest", "int", "bool", "object", "complex",
           "percent", "unknown-units", "no-bands", "crs", "shift", "resampled", "beyond")


def _hostile(obs, sensor, kind: str, seed: int, frac: float):
    """``obs`` with the change ``kind``; and whether the result must be a physical inversion."""
    rng = np.random.default_rng(seed)
    rad = obs["radiance"]
    brightest = MAX_TOA_REFLECTANCE * np.array([band_solar_irradiance(b) for b in sensor.bands]) / np.pi
    if kind == "holes":
        return obs.assign(radiance=rad.where(rng.random(rad.shape) > frac * 0.5)), True
    if kind == "all-nan":
        return obs.assign(radiance=rad * np.nan), False
    if kind == "constant":
        return obs.assign(radiance=rad * 0 + float(rad.mean()) * (0.5 + frac)), True
    if kind == "zero":
        return obs.assign(radiance=rad * 0), True
    if kind == "brightest":
        return obs.assign(radiance=rad * 0 + brightest[:, None, None]), True
    if kind in ("int", "bool", "object", "complex"):
        cast = {"int": lambda v: v.astype("i4"), "bool": lambda v: v > v.mean(), "object": lambda v: v.astype(object),
                "complex": lambda v: v.astype("c16")}[kind]
        return obs.assign(radiance=rad.copy(data=cast(rad.values))), kind == "int"
    if kind == "percent":
        return obs.assign(radiance=rad.assign_attrs(units="%")), False
    if kind == "unknown-units":
        return obs.assign(radiance=rad.assign_attrs(units="counts")), False
    if kind == "no-bands":
        return obs.isel(band=slice(0, 0)), False
    if kind == "crs":
        return obs.rio.write_crs("EPSG:4326"), False
    if kind == "shift":
        return obs.assign_coords(x=obs.x + 10.0 * frac), False
    if kind == "resampled":
        return obs.assign_coords(x=obs.x[0] + (obs.x - obs.x[0]) * 1.5, y=obs.y[0] + (obs.y - obs.y[0]) * 1.5), False
    if kind == "beyond":
        return obs.assign_coords(x=obs.x + 1000.0), False
    return obs, True


@pytest.mark.parametrize("kind", HOSTILE)
@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1), frac=st.floats(0.05, 0.95), flat=st.booleans())
def test_invert_gives_reflectances_on_the_image_grid_or_an_error(scene, kind, seed, frac, flat):
    city, sensor, obs = scene
    image, physical = _hostile(obs, sensor, kind, seed, frac)
    res = outcome(eoxr.urban.unmix_flat if flat else eoxr.urban.invert, image, city, sensor, ATM, **SETTINGS)
    if physical:
        assert res is not None, f"a {kind} image was refused"
    if res is None:
        return
    refl = res["reflectance"]
    assert refl.dims == ("element", "band", "y", "x") and refl.attrs["units"] == "1"
    assert refl.sizes["y"] == image.sizes["y"] and refl.sizes["x"] == image.sizes["x"]
    assert res.rio.crs == city.crs and refl.dtype.kind == "f"
    finite = np.isfinite(refl.values)
    assert finite.any(), f"all-NaN reflectances from a {kind} image"

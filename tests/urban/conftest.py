"""Scenes shared by the urban tests."""
import pytest

import eoxr
from eoxr.urban import synth
from urbanscene import ATM, GEOM, S2_BANDS


@pytest.fixture(scope="module")
def s2_scene():
    """A city whose elements have one reflectance each, seen noise-free by four Sentinel-2 bands through the
    nominal PSF: (city, sensor, truth, observation)."""
    city = synth.make_city(200.0, 2.0, seed=3)
    sen = eoxr.urban.get_sensor("sentinel-2").subset(S2_BANDS)
    truth = synth.draw_properties(city, sen, 3, GEOM, variability=0.0)
    obs = synth.observe(city, truth, sen, GEOM, ATM, pixel_size=10.0)
    return city, sen, truth, obs

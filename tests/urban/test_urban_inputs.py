"""The urban inversion's inputs: surface (L2A) vs top-of-atmosphere images, product levels from real STAC items,
units and physical ranges at the boundary, lazily on Dask."""
import json

import dask
import numpy as np
import pystac
import pytest
import xarray as xr

import eoxr
from eoxr.errors import ParameterError, PhysicalRangeError, UnitsError
from urbanscene import ATM, GEOM
from eoxr.urban import Atmosphere, synth
from eoxr.urban.inputs import SURFACE, TOA, observed_image, product_level
from eoxr.urban.sensors import band_solar_irradiance



@pytest.fixture(scope="module")
def flat_scene(s2_scene):
    """The shared scene (conftest) and the reflectance of each of its elements."""
    city, sen, truth, obs = s2_scene
    want = xr.DataArray(truth.element_reflectance, dims=("element", "band"),
                        coords={"element": city.names, "band": obs.band.values})
    return city, sen, obs, want


def _toa_reflectance(obs, bands):
    e0 = np.array([band_solar_irradiance(b) for b in bands]) * np.cos(np.radians(GEOM.sun_zenith)) / np.pi
    toa = (obs.radiance / xr.DataArray(e0, dims="band", coords={"band": obs.band})).assign_attrs(units="1")
    return toa.to_dataset(name="toa_reflectance").assign_attrs(obs.attrs).rio.write_crs(obs.rio.crs)


@pytest.mark.parametrize("aot", [0.15, 0.0])
def test_surface_reflectance_is_inverted_without_the_path_and_exactly(flat_scene, aot):
    city, sen, _, want = flat_scene
    truth = synth.draw_properties(city, sen, 3, GEOM, variability=0.0)
    atm = Atmosphere(aot550=aot)
    obs = synth.observe(city, truth, sen, GEOM, atm, pixel_size=10.0)
    l2a = synth.surface_reflectance(obs, atm)  # what an L2A processor makes of the radiances
    assert l2a.attrs["processing:level"] == "L2A"
    kw = dict(window=5, max_iter=30, noise=1e-5, budget=False)
    got = {name: eoxr.urban.invert(ds, city, sen, atm, **kw).reflectance
           for name, ds in (("radiance", obs), ("reflectance", l2a), ("toa_reflectance", _toa_reflectance(obs, sen.bands)))}
    for name, res in got.items():  # the float32 features' round-off, where reading L2A as TOA errs by 0.3
        assert float(np.abs(res - want).max()) < 3e-5, name
    assert np.isfinite(got["reflectance"]).sum() > 0.3 * got["reflectance"].size
    # read as top-of-atmosphere, the same surface reflectances come back far off
    as_toa = l2a.rename(reflectance="toa_reflectance")
    as_toa.attrs.pop("processing:level")
    wrong = eoxr.urban.invert(as_toa, city, sen, atm, **kw)
    assert float(np.abs(wrong.reflectance - want).max()) > 0.1


def test_attributes_that_contradict_the_variable_are_refused_naming_the_right_one(flat_scene):
    city, sen, obs, _ = flat_scene
    l2a = synth.surface_reflectance(obs, ATM)
    with pytest.raises(ParameterError, match=r"rename it ds.rename\(toa_reflectance='reflectance'\)"):
        eoxr.urban.invert(l2a.rename(reflectance="toa_reflectance"), city, sen, ATM)
    l1c = l2a.assign_attrs({"processing:level": "L1C"})
    with pytest.raises(ParameterError, match=r"ds.rename\(reflectance='toa_reflectance'\)"):
        eoxr.urban.invert(l1c, city, sen, ATM)
    with pytest.raises(ParameterError, match=r"rename it ds.rename\(radiance='reflectance'\)"):
        eoxr.urban.invert(obs.assign_attrs(collection="sentinel-2-l2a"), city, sen, ATM)
    with pytest.raises(ParameterError, match="pass one of them"):
        eoxr.urban.invert(obs.assign(reflectance=l2a.reflectance), city, sen, ATM)


@pytest.mark.parametrize("attrs, level", [
    ({"collection": "sentinel-2-l2a"}, SURFACE), ({"collection": "sentinel-2-l1c"}, TOA),
    ({"collection": "sentinel-s2-l2a-cogs"}, SURFACE), ({"collection": "landsat-c2-l2"}, SURFACE),
    ({"collection": "landsat-c2-l1"}, TOA), ({"s2:product_type": "S2MSI1C"}, TOA),
    ({"processing:level": "L2A", "collection": "sentinel-2-l1c"}, SURFACE),  # the most specific attribute wins
    ({"collection": "eoxr-urban-s2"}, None), ({}, None),
])
def test_product_levels_from_attributes(attrs, level):
    assert product_level(attrs)[0] == level


def test_real_l2a_items_as_loaded_tell_surface_from_top_of_atmosphere(real_data, no_compute):
    # Planetary Computer sentinel-2-l2a items as eoxr.io.load reads them (lazy: no pixel is read); then the
    # same items relabelled as their L1C counterparts (collection and product type, as an L1C item carries them)
    fc = json.loads((real_data / "stac_odc_stac/site2-2020_jun_jul-35MNM.geojson").read_text())
    items = pystac.ItemCollection.from_dict(fc).items[:2]
    l1c = [it.clone() for it in items]
    for it in l1c:
        it.collection_id = "sentinel-2-l1c"
        it.properties["s2:product_type"] = "S2MSI1C"

    def image(its, name):
        ds = eoxr.io.load(its, bands=["B03", "B04"], bbox=(27.1, -8.0, 27.11, -7.99)).isel(time=0)
        da = ds.to_dataarray("band").assign_attrs(ds.attrs, units="1")
        return da.to_dataset(name=name).assign_attrs(ds.attrs)

    l2a = image(items, "reflectance")
    assert l2a.attrs["collection"] == "sentinel-2-l2a" and l2a.attrs["s2:product_type"] == "S2MSI2A"
    assert observed_image(l2a, "sentinel-2").kind == "reflectance"
    with pytest.raises(ParameterError, match="rename it ds.rename.toa_reflectance='reflectance'."):
        observed_image(image(items, "toa_reflectance"), "sentinel-2")
    top = image(l1c, "toa_reflectance")
    assert top.attrs["collection"] == "sentinel-2-l1c"
    assert observed_image(top, "sentinel-2").kind == "toa_reflectance"
    with pytest.raises(ParameterError, match="rename it ds.rename.reflectance='toa_reflectance'."):
        observed_image(image(l1c, "reflectance"), "sentinel-2")


def test_percent_reflectance_is_converted_when_labelled_and_refused_when_not(flat_scene):
    city, sen, obs, _ = flat_scene
    l2a = synth.surface_reflectance(obs, ATM)
    ref = eoxr.urban.invert(l2a, city, sen, ATM, max_iter=4, budget=False).reflectance
    pct = l2a.assign(reflectance=(l2a.reflectance * 100).assign_attrs(units="%"))
    got = eoxr.urban.invert(pct, city, sen, ATM, max_iter=4, budget=False).reflectance
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-9, equal_nan=True)
    with pytest.raises(PhysicalRangeError, match="percent values need attrs.'units'. = '%'"):
        eoxr.urban.invert(pct.assign(reflectance=pct.reflectance.assign_attrs(units="1")), city, sen, ATM)
    with pytest.raises(UnitsError, match="cannot be converted to '1'"):
        eoxr.urban.invert(l2a.assign(reflectance=l2a.reflectance.assign_attrs(units="K")), city, sen, ATM)


def test_radiance_outside_its_physical_range_is_refused_lazily(flat_scene, no_compute):
    city, sen, obs, _ = flat_scene
    for bad, what in ((obs.radiance * 100, r"from \d+\.?\d* to \d{4,}"), (-obs.radiance, "from -")):
        lazy = obs.assign(radiance=bad).chunk({"y": 10, "x": 10})
        res = eoxr.urban.invert(lazy, city, sen, ATM, budget=False)  # builds, stays lazy
        with dask.config.set(scheduler="sync"), pytest.raises(PhysicalRangeError, match=f"values {what}.*look like another unit"):
            res.reflectance.compute()
    # radiance in mW cm-2 sr-1 um-1, labelled so: converted at the call
    milli = obs.assign(radiance=(obs.radiance / 10).assign_attrs(units="mW cm-2 sr-1 um-1"))
    got = eoxr.urban.invert(milli, city, sen, ATM, max_iter=4, budget=False).reflectance
    ref = eoxr.urban.invert(obs, city, sen, ATM, max_iter=4, budget=False).reflectance
    np.testing.assert_allclose(got.values, ref.values, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize("atmosphere, match", [
    ({"aot550": -1.0}, r"aot550=-1.0 is outside its physical range \[0, 5\]"),
    ({"water_vapour": 25.0}, "g cm-2"), ({"air_temperature": 22.0}, "not degrees Celsius"),
    ({"ssa": 92.0}, "as a fraction"),
])
def test_an_unphysical_atmosphere_is_refused_before_it_makes_a_budget(flat_scene, atmosphere, match):
    city, sen, obs, _ = flat_scene
    with pytest.raises(ParameterError, match=match):
        eoxr.urban.invert(obs, city, sen, atmosphere)


@pytest.mark.parametrize("kwargs, match", [
    (dict(window=4), "odd number of pixels"), (dict(noise=-0.01), "noise=-0.01"),
    (dict(temperature_std=float("nan")), "temperature_std=nan"), (dict(min_fraction=1.5), "min_fraction"),
    (dict(psf=-0.3), "sigma is a number of pixels >= 0"), (dict(geometry={"sun_zenith": 95.0}), "daytime"),
])
def test_bad_settings_raise_parameter_errors_that_name_the_fix(flat_scene, kwargs, match):
    city, sen, obs, _ = flat_scene
    with pytest.raises(ParameterError, match=match):
        eoxr.urban.invert(obs, city, sen, ATM, **kwargs)

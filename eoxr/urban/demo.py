"""``eoxr demo`` for the urban workflow: invert the sample city's Sentinel-2-like (L2A surface reflectance) and
ECOSTRESS-like (radiance) scenes."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from .inputs import LEVEL_ATTRS, SURFACE, product_level

COLLECTIONS = {"city": "eoxr-urban-city", "s2": "eoxr-urban-s2", "ecostress": "eoxr-urban-ecostress"}
ANGLES = ("sun_zenith", "sun_azimuth", "view_zenith", "view_azimuth")


def _load(item, bands, resolution, chunks, name="radiance"):
    """One item -> (band, y, x) Dataset of variable ``name`` with the item's scene angles and the product
    attributes :func:`eoxr.io.load` records (collection, processing level) in attrs."""
    from .. import io

    ds = io.load([item], bands=list(bands), resolution=resolution, chunks=chunks)
    da = xr.concat([ds[b] for b in bands], dim="band").assign_coords(band=list(bands))
    if "time" in da.dims:
        da = da.isel(time=0, drop=True)
    out = da.astype("float64").to_dataset(name=name)
    out.attrs.update({k: v for k, v in ds.attrs.items() if k in LEVEL_ATTRS})
    out.attrs.update({k: float(item.properties[k]) for k in ANGLES if k in item.properties})
    return out.rio.write_crs(ds.rio.crs)


def load_sample():
    """The sample city (:class:`City`) and its two scenes as lazy Datasets (S2 L2A surface reflectance,
    ECOSTRESS radiance)."""
    from .. import catalog, io, sample
    from .city import City

    sample.ensure_sample()
    items = {k: list(catalog.search("sample", collections=[c])) for k, c in COLLECTIONS.items()}
    city_item = items["city"][0]
    cds = io.load([city_item], bands=["dsm", "elements"], chunks={"y": 1024, "x": 1024}).isel(time=0).load()
    names = city_item.properties["urban:element_names"]
    city = City.from_rasters(cds["dsm"], cds["elements"], dict(enumerate(names)))
    s2 = items["s2"][0]
    eco = items["ecostress"][0]
    s2_bands = [k for k in s2.assets]
    eco_bands = [k for k in eco.assets if k.startswith("TIR")]
    s2_kind = "reflectance" if product_level(s2.properties)[0] == SURFACE else "radiance"
    return city, _load(s2, s2_bands, 10.0, {"y": 16, "x": 16}, s2_kind), \
        _load(eco, eco_bands, 70.0, {"y": 8, "x": 8}), {"s2": s2, "ecostress": eco}


def _central_half(ds: xr.Dataset) -> xr.Dataset:
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    return ds.isel(y=slice(ny // 4, ny // 4 + ny // 2), x=slice(nx // 4, nx // 4 + nx // 2))


def energy_closure(city, res: xr.Dataset, geom, atm, prior: dict) -> float:
    """Largest relative gap, over the bands, between the shortwave reaching the city and what its facets absorb
    plus send to the sky (:func:`forward.energy_balance`), with every facet at its element's retrieved scene-mean
    reflectance (the prior where the element was not retrieved)."""
    from .atmosphere import reflective_terms
    from .forward import energy_balance
    from .sensors import get_sensor

    bands = get_sensor("sentinel-2").reflective()
    scene = res.reflectance.mean(("y", "x")).transpose("element", "band")
    rho_e = np.stack([scene.sel(element=e).values if e in scene.element.values else np.full(len(bands), np.nan)
                      for e in city.names])
    rho_e = np.where(np.isfinite(rho_e), rho_e, np.stack([prior[e][0] for e in city.names]))
    balance = energy_balance(city, city.fields(geom), np.moveaxis(rho_e[city.layers], -1, 0),
                             reflective_terms(atm, bands, geom))
    return float(np.abs(balance["closure"] - 1).max())


def run(out: Path, quick: bool = False) -> dict[str, Path]:
    """Invert both sample scenes on the active Dask client; write Zarr cubes, quicklooks and key figures
    (``metrics``) under ``out``. ``quick`` inverts the central half of the Sentinel-2 scene only."""
    from .. import cube, quicklook
    from ..demo import write_metrics
    from .atmosphere import Atmosphere, Geometry
    from .synth import emissivity_prior, reflectance_prior
    from .sensors import get_sensor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    city, s2, eco, items = load_sample()
    if quick:
        s2 = _central_half(s2)
    atm = Atmosphere(aot550=float(items["s2"].properties.get("urban:aot550", 0.15)))
    prior = reflectance_prior(get_sensor("sentinel-2").reflective())
    res = s2.urban.invert(city, "sentinel-2", atm, window=5, max_iter=10, reflectance_prior=prior)
    tsen = get_sensor("ecostress").subset(list(eco.band.values))
    tres = eco.urban.invert(city, tsen, atm, window=3, max_iter=15,
                            emissivity_prior=emissivity_prior(tsen.thermal()))
    paths = {}
    cube.write(res.drop_vars("element2", errors="ignore"), out / "urban_s2.zarr", mode="w")
    cube.write(tres, out / "urban_ecostress.zarr", mode="w")
    paths["s2_cube"] = out / "urban_s2.zarr"
    paths["ecostress_cube"] = out / "urban_ecostress.zarr"
    res = cube.open(out / "urban_s2.zarr").load()
    tres = cube.open(out / "urban_ecostress.zarr").load()
    maps = {"albedo": res.albedo, "net shortwave": res.net_shortwave,
            "roof reflectance B04": res.reflectance.sel(element="roof", band="B04"),
            "road reflectance B08": res.reflectance.sel(element="road", band="B08"),
            "residual": res.residual, "emitted longwave (70 m)": tres.emitted_longwave}
    paths["quicklook"] = quicklook.panels(maps, out / "urban_budget.png", title="urban radiative budget, sample city")
    el_alb = {k: round(float(v), 3) for k, v in res.element_albedo.mean(("y", "x")).to_series().dropna().items()}
    el_t = {k: round(float(v), 1) for k, v in tres.temperature.mean(("y", "x")).to_series().dropna().items()}
    print(f"urban: city {city.dsm.shape} cells of {city.res} m, S2 {dict(res.sizes)} and ECOSTRESS "
          f"{tres.sizes['y']}x{tres.sizes['x']} px inverted in {time.perf_counter() - t0:.1f} s")
    print(f"  albedo {float(res.albedo.mean()):.3f}, net shortwave {float(res.net_shortwave.mean()):.0f} W m-2, "
          f"emitted longwave {float(tres.emitted_longwave.mean()):.0f} W m-2 (scene means)")
    print(f"  element albedo {el_alb}")
    residual = float(np.nanmedian(res.residual))
    closure = energy_closure(city, res, Geometry(*(s2.attrs[k] for k in ANGLES)), atm, prior)
    print(f"  element temperature (K) {el_t}; median relative residual {residual:.4f}")
    print(f"  energy closure on the city model (absorbed + to sky vs incoming): {closure:.1e}")
    figures = {"albedo": float(res.albedo.mean()), "net_shortwave_W_m2": float(res.net_shortwave.mean()),
               "emitted_longwave_W_m2": float(tres.emitted_longwave.mean()), "median_relative_residual": residual,
               "element_albedo": el_alb, "element_temperature_K": el_t, "energy_closure_error": closure}
    paths["metrics"] = write_metrics(figures, out / "metrics.json")
    return paths

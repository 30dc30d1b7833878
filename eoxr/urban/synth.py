"""Procedural cities with known element properties, and observations simulated with :mod:`.forward`.

A city is a street grid of blocks (40-75 m, streets 10-16 m) filled with buildings (heights log-normal, median
~14 m), parks (grass and trees), a pond, bare-soil lots, and street trees. Element properties come from
typical ranges: reflectance spectra per class (asphalt, concrete/tile roofs, painted walls, vegetation, water,
dry soil), emissivity spectra per class (soil with the quartz dip at 8-9.5 um), temperatures per class with a
sunlit/shaded contrast. Everything is drawn from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import ndimage

from ..attrs import georeference
from .atmosphere import Atmosphere, Geometry, reflective_terms, thermal_terms
from .city import ELEMENTS, City
from .forward import SUNLIT_SHARE, fine_reflective, simulate_reflective, simulate_thermal
from .sensors import Sensor, band_planck, get_sensor

CRS = "EPSG:32631"
ORIGIN = (500000.0, 5400000.0)  # top-left corner, UTM 31N (m)

# reflectance anchors at 0.45 0.55 0.65 0.75 0.86 1.6 2.2 um
_RHO_WL = np.array([0.45, 0.55, 0.65, 0.75, 0.86, 1.6, 2.2])
RHO_LIBRARY = {
    "roof": [0.14, 0.16, 0.19, 0.21, 0.23, 0.28, 0.26],
    "wall": [0.25, 0.28, 0.30, 0.31, 0.32, 0.35, 0.33],
    "road": [0.07, 0.08, 0.09, 0.10, 0.11, 0.14, 0.13],
    "tree": [0.03, 0.07, 0.04, 0.25, 0.38, 0.19, 0.09],
    "grass": [0.04, 0.10, 0.06, 0.32, 0.45, 0.26, 0.14],
    "water": [0.06, 0.05, 0.03, 0.015, 0.01, 0.005, 0.003],
    "soil": [0.10, 0.14, 0.19, 0.23, 0.26, 0.36, 0.32],
}
# emissivity anchors at 8.3 8.7 9.1 10.5 12.0 um
_EPS_WL = np.array([8.3, 8.7, 9.1, 10.5, 12.0])
EPS_LIBRARY = {
    "roof": [0.91, 0.92, 0.93, 0.95, 0.95],
    "wall": [0.90, 0.91, 0.92, 0.94, 0.94],
    "road": [0.94, 0.95, 0.95, 0.96, 0.96],
    "tree": [0.97, 0.97, 0.975, 0.98, 0.98],
    "grass": [0.97, 0.975, 0.98, 0.985, 0.985],
    "water": [0.985, 0.985, 0.986, 0.99, 0.985],
    "soil": [0.86, 0.85, 0.88, 0.95, 0.96],
}
# (temperature of shaded surfaces K, sunlit excess K)
TEMP_LIBRARY = {"roof": (300, 14), "wall": (298, 8), "road": (301, 12), "tree": (297, 2), "grass": (298, 4),
                "water": (294, 0.5), "soil": (302, 12)}


def reflectance_library(bands) -> dict[str, np.ndarray]:
    """Library reflectance per element at these bands' centres."""
    return {e: np.interp([b.centre for b in bands], _RHO_WL, v) for e, v in RHO_LIBRARY.items()}


def reflectance_prior(bands, relative_std: float = 0.25, floor: float = 0.01) -> dict[str, tuple]:
    """A class-library prior for the inversion: {element: (library spectrum, relative_std * it + floor)}."""
    return {e: (v, relative_std * v + floor) for e, v in reflectance_library(bands).items()}


def emissivity_prior(bands) -> dict[str, list[float]]:
    """Library emissivity per element for these thermal bands (the prior an inversion is given)."""
    return {e: list(np.interp([b.centre for b in bands], _EPS_WL, v)) for e, v in EPS_LIBRARY.items()}


def _disc(shape, r0, c0, radius):
    """The cells whose centres lie within ``radius`` of (r0, c0): (its bounding window, as a tuple of slices, and the
    mask within it); a window, not a whole-grid mask, so that thousands of trees cost in proportion to their size."""
    ra, rb = max(int(np.floor(r0 - radius)), 0), min(int(np.ceil(r0 + radius)) + 1, shape[0])
    ca, cb = max(int(np.floor(c0 - radius)), 0), min(int(np.ceil(c0 + radius)) + 1, shape[1])
    yy, xx = np.ogrid[ra:rb, ca:cb]
    return (slice(ra, rb), slice(ca, cb)), (yy - r0) ** 2 + (xx - c0) ** 2 <= radius**2


def make_city(size_m: float = 200.0, res: float = 1.0, seed: int = 0, origin=ORIGIN) -> City:
    """A procedural city of ``size_m`` x ``size_m`` metres on a grid of ``res`` m (see module doc)."""
    rng = np.random.default_rng(seed)
    n = int(round(size_m / res))
    dsm = np.zeros((n, n))
    code = np.full((n, n), ELEMENTS.index("road"), np.int16)
    idx = {e: i for i, e in enumerate(ELEMENTS)}

    def cuts():
        pos, out = rng.uniform(0, 12), []
        while pos < size_m:
            street = rng.uniform(10, 16)
            block = rng.uniform(40, 75)
            out.append((pos + street, min(pos + street + block, size_m)))
            pos += street + block
        return out

    blocks = [(r, c) for r in cuts() for c in cuts() if r[1] - r[0] > 12 and c[1] - c[0] > 12]
    kinds = rng.choice(["buildings", "park", "water", "soil"], size=len(blocks), p=[0.72, 0.14, 0.06, 0.08])
    # every class appears at least once
    order = rng.permutation(len(blocks))
    for k, kind in zip(order, ["park", "water", "soil"]):
        kinds[k] = kind
    for (r, c), kind in zip(blocks, kinds):
        r0, r1, c0, c1 = (int(v / res) for v in (r[0], r[1], c[0], c[1]))
        if kind == "buildings":
            code[r0:r1, c0:c1] = idx["grass"] if rng.random() < 0.5 else idx["soil"]
            nb = rng.integers(1, 4)
            edges = np.linspace(c0, c1, nb + 1).astype(int)
            for a, b in zip(edges[:-1], edges[1:]):
                sb = int(rng.uniform(0.0, 3.0) / res)
                gap = int(rng.uniform(1.0, 4.0) / res)
                rr0, rr1 = r0 + sb, r1 - sb
                cc0, cc1 = a + sb, b - gap
                if rr1 - rr0 < 4 or cc1 - cc0 < 4:
                    continue
                h = float(np.clip(rng.lognormal(np.log(14.0), 0.45), 4.0, 60.0))
                dsm[rr0:rr1, cc0:cc1] = h
                code[rr0:rr1, cc0:cc1] = idx["roof"]
        elif kind == "park":
            code[r0:r1, c0:c1] = idx["grass"]
            for _ in range(rng.integers(2, 6)):
                rad = rng.uniform(2.5, 5.0) / res
                tr, tc = rng.uniform(r0 + rad, r1 - rad), rng.uniform(c0 + rad, c1 - rad)
                w, m = _disc(code.shape, tr, tc, rad)
                code[w][m] = idx["tree"]
                dsm[w][m] = np.maximum(dsm[w][m], rng.uniform(6, 12))
        elif kind == "water":
            code[r0:r1, c0:c1] = idx["grass"]
            w, m = _disc(code.shape, (r0 + r1) / 2, (c0 + c1) / 2, 0.4 * min(r1 - r0, c1 - c0))
            code[w][m] = idx["water"]
        else:
            code[r0:r1, c0:c1] = idx["soil"]
    # street trees on road cells
    road = np.argwhere(code == idx["road"])
    for k in rng.choice(len(road), size=max(1, int(len(road) * 0.0025)), replace=False):
        rad = rng.uniform(2.0, 3.5) / res
        w, m = _disc(code.shape, road[k][0], road[k][1], rad)
        m &= code[w] == idx["road"]
        code[w][m] = idx["tree"]
        dsm[w][m] = np.maximum(dsm[w][m], rng.uniform(6, 10))
    x = origin[0] + (np.arange(n) + 0.5) * res
    y = origin[1] - (np.arange(n) + 0.5) * res
    d = xr.DataArray(dsm, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(CRS)
    e = xr.DataArray(code, dims=("y", "x"), coords={"y": y, "x": x})
    present = [k for k in range(len(ELEMENTS)) if (code == k).any()]  # City adds "wall" where buildings are
    remap = np.zeros(len(ELEMENTS), np.int16)
    remap[present] = np.arange(len(present))
    return City(d, e.copy(data=remap[code]), [ELEMENTS[k] for k in present])


@dataclass
class Truth:
    """Per-facet truth on the city grid (facet layers, see :mod:`.city`): reflectance (nb, 2, ny, nx), emissivity
    (nbt, 2, ny, nx), temperature (2, ny, nx); and the per-element values they were drawn around."""

    reflectance: np.ndarray | None
    emissivity: np.ndarray | None
    temperature: np.ndarray | None
    element_reflectance: np.ndarray | None  # (ne, nb)
    element_emissivity: np.ndarray | None  # (ne, nbt)
    element_temperature: np.ndarray | None  # (ne,)


def _smooth_field(rng, shape, sigma_cells, amplitude):
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_cells, mode="wrap")
    return amplitude * f / max(f.std(), 1e-12)


def draw_properties(city: City, sensor: Sensor, seed: int = 0, geom: Geometry | None = None,
                    variability: float = 0.06, eps_spread: float = 0.005, sun_contrast: bool = True,
                    temp_variability: float = 0.7) -> Truth:
    """Element properties around the libraries: a scene-level draw per element, then a smooth spatial field
    (correlation ~40 m) of relative amplitude ``variability`` (reflectance) / ``temp_variability`` K; sunlit
    facets are warmer by the library's excess when ``sun_contrast`` (needs ``geom``)."""
    rng = np.random.default_rng(seed + 7919)
    el = city.layers
    sig = 40.0 / city.res
    rb, tb = sensor.reflective(), sensor.thermal()
    out = dict(reflectance=None, emissivity=None, temperature=None, element_reflectance=None,
               element_emissivity=None, element_temperature=None)
    if rb:
        lib = reflectance_library(rb)
        rho_e = np.stack([lib[e] * rng.uniform(0.8, 1.2) for e in city.names])  # (ne, nb)
        cells = np.moveaxis(rho_e[el], -1, 0).copy()
        if variability:
            cells *= 1 + _smooth_field(rng, el.shape[1:], sig, variability)
        out["reflectance"] = np.clip(cells, 0.0, 1.0)
        out["element_reflectance"] = rho_e
    if tb:
        lib = emissivity_prior(tb)
        eps_e = np.stack([np.clip(np.asarray(lib[e]) + rng.normal(0, eps_spread, len(tb)), 0.8, 1.0)
                          for e in city.names])
        out["emissivity"] = np.moveaxis(eps_e[el], -1, 0).copy()
        out["element_emissivity"] = eps_e
        t_e = np.array([TEMP_LIBRARY[e][0] + rng.uniform(-3, 3) for e in city.names])
        temp = t_e[el].astype(float)
        if sun_contrast and geom is not None:  # sunlit facets (as the inversion splits them) warmer by the excess
            lit = city.fields(geom)["lit"] >= SUNLIT_SHARE
            temp = temp + np.where(lit, np.array([TEMP_LIBRARY[e][1] for e in city.names])[el], 0.0)
        if temp_variability:
            temp = temp + _smooth_field(rng, el.shape[1:], sig, temp_variability)
        out["temperature"] = temp
        out["element_temperature"] = t_e
    return Truth(**out)


def observe(city: City, truth: Truth, sensor, geom: Geometry, atm: Atmosphere, *, pixel_size: float | None = None,
            noise: float = 0.0, nedt: float = 0.0, misregistration: float = 0.0, n_bounce: int = 1,
            adjacency_m: float | None = None, psf=None, radius_m: float = 8.0,
            seed: int = 0, margin_px: int = 0) -> xr.Dataset:
    """Simulated top-of-atmosphere radiance (band, y, x) of ``sensor`` over ``city`` (W m-2 sr-1 um-1).

    ``noise``: relative Gaussian noise of reflective radiances; ``nedt`` (K): thermal noise; ``misregistration``
    (pixels): the sensor grid shifted by that distance in a random direction; ``n_bounce``, ``adjacency_m``:
    fidelity of the simulation; ``psf``: a Gaussian's sigma or a mixture ((weight, sigma), ...) in pixels
    (default the sensor's nominal sigma).
    """
    sen = get_sensor(sensor)
    px = pixel_size or sen.pixel_size
    psf = sen.psf_sigma if psf is None else psf
    rng = np.random.default_rng(seed + 104729)
    ys, xs = city.sensor_coords(px, margin_px)
    tmpl = xr.DataArray(np.zeros((len(ys), len(xs))), dims=("y", "x"), coords={"y": ys, "x": xs}).rio.write_crs(city.crs)
    grid = city.grid_for(tmpl)
    ang = rng.uniform(0, 2 * np.pi)
    shift = (misregistration * np.sin(ang), misregistration * np.cos(ang))
    fields = city.fields(geom)
    parts, names = [], []
    if sen.reflective():
        rb = sen.reflective()
        terms = reflective_terms(atm, rb, geom)
        y = simulate_reflective(city, fields, truth.reflectance, terms, grid, psf, radius_m, n_bounce, adjacency_m,
                                shift)
        if noise:
            y = y * (1 + noise * rng.standard_normal(y.shape))
        parts.append(y)
        names += [b.name for b in rb]
    if sen.thermal():
        tb = sen.thermal()
        terms = thermal_terms(atm, tb, geom)
        y = simulate_thermal(city, fields, truth.emissivity, truth.temperature, tb, terms, grid, psf, radius_m,
                             n_bounce, shift)
        if nedt:
            sig = np.array([band_planck(b, 300.0, derivative=True)[1] for b in tb]) * nedt * terms["tau"]
            y = y + sig[:, None, None] * rng.standard_normal(y.shape)
        parts.append(y)
        names += [b.name for b in tb]
    rad = np.concatenate(parts)
    ds = xr.Dataset({"radiance": (("band", "y", "x"), rad, {
        "units": "W m-2 sr-1 um-1", "long_name": "top-of-atmosphere radiance",
        "standard_name": "toa_outgoing_radiance_per_unit_wavelength"})},
                    coords={"band": names, "y": ys, "x": xs})
    # where the ground each pixel sees lies from its nominal centre (east, north; m): the registration that
    # eoxr.urban.fit_shift should find
    ds.attrs.update(sun_zenith=geom.sun_zenith, sun_azimuth=geom.sun_azimuth, view_zenith=geom.view_zenith,
                    view_azimuth=geom.view_azimuth, sensor=sen.name, misregistration_x_m=float(shift[1] * px),
                    misregistration_y_m=float(-shift[0] * px))
    return georeference(ds, city.crs)


def surface_reflectance(obs: xr.Dataset, atm: Atmosphere, geom: Geometry | None = None) -> xr.Dataset:
    """The surface reflectance an L2A processor makes of the reflective radiances of ``obs`` (:func:`observe`) with
    the atmosphere ``atm``: each pixel taken as a flat Lambertian surface under the open-sky irradiance,
    rho = pi (L - L_p) / ((T_up + T_dif) (S mu_s + D)), without an adjacency correction. A Dataset with
    ``reflectance`` (band, y, x) and ``processing:level`` L2A; ``geom`` defaults to the angles of ``obs``."""
    sen = get_sensor(obs.attrs["sensor"]).subset([str(b) for b in obs.band.values])
    rb = sen.reflective()
    geom = geom or Geometry(*(float(obs.attrs[k]) for k in ("sun_zenith", "sun_azimuth", "view_zenith",
                                                             "view_azimuth")))
    t = reflective_terms(atm, rb, geom)
    mu_s = float(np.cos(np.radians(geom.sun_zenith)))
    flat = ((t["T_up"] + t["T_dif"]) * (t["S"] * mu_s + t["D"]) / np.pi)[:, None, None]
    rad = obs.radiance.sel(band=[b.name for b in rb])
    rho = (rad - t["L_path"][:, None, None]) / flat
    out = rho.to_dataset(name="reflectance").assign_attrs(obs.attrs)
    out["reflectance"].attrs = {"units": "1", "long_name": "surface reflectance (flat Lambertian, L2A)",
                                "standard_name": "surface_bidirectional_reflectance"}
    out.attrs.update({"processing:level": "L2A", "aot550": atm.aot550})
    return georeference(out, like=obs)


def element_truth(city: City, values: np.ndarray, grid, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean of per-facet ``values`` (..., 2, ny, nx) over each element's facets in each sensor pixel, weighted by
    ``weights`` (2, ny, nx; default: one per facet): (ne, ..., Y, X), NaN where the element is absent."""
    ne = len(city.names)
    w = city.present * (1.0 if weights is None else weights)
    out = []
    for k in range(ne):
        m = (city.layers == k) * w
        den = grid.block_sum(m.sum(0))
        out.append(grid.block_sum((values * m).sum(-3)) / np.where(den > 0, den, np.nan))
    return np.stack(out)


def true_budget(city: City, truth: Truth, sensor, geom: Geometry, atm: Atmosphere, grid, n_bounce: int = 2,
                radius_m: float = 8.0) -> dict[str, np.ndarray]:
    """Per-pixel net shortwave (W m-2) and albedo from the per-cell truth (same spectral partition as
    :mod:`.budget`), and emitted longwave when temperatures are known."""
    from .sensors import SIGMA, broadband_weights

    sen = get_sensor(sensor)
    out = {}
    fields = city.fields(geom)
    area = fields["area"]
    if truth.reflectance is not None:
        rb = sen.reflective()
        terms = reflective_terms(atm, rb, geom)
        f = fine_reflective(city, fields, truth.reflectance, terms, radius_m, n_bounce)
        _, width = broadband_weights(rb)
        wa = area * width[:, None, None, None]
        absorbed = ((1 - truth.reflectance) * f["E"] * wa).sum((0, 1))
        received = grid.block_sum((f["E"] * wa).sum((0, 1)))
        net = grid.block_sum(absorbed) / grid.factor**2
        out["net_shortwave"] = net
        out["albedo"] = 1 - net * grid.factor**2 / received
    if truth.temperature is not None:
        eps_bb = truth.emissivity.mean(0)
        out["emitted_longwave"] = grid.block_sum((area * eps_bb * SIGMA * truth.temperature**4).sum(0)) / grid.factor**2
    return out


def sample_items(root: Path, seed: int = 0) -> list:
    """Write the sample city (DSM + classes) and a Sentinel-2-like and an ECOSTRESS-like scene as COGs under
    ``root`` and return their STAC items (collections eoxr-urban-city, eoxr-urban-s2, eoxr-urban-ecostress). The
    Sentinel-2 scene is an L2A product (surface reflectance, :func:`surface_reflectance`, ``processing:level``
    L2A), the ECOSTRESS one top-of-atmosphere radiance."""
    from .. import sample

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    geom = Geometry(35.0, 160.0, 5.0, 100.0)
    atm = Atmosphere(aot550=0.15)
    city = make_city(420.0, 2.0, seed)
    cds = city.to_dataset()
    paths = {
        "dsm": sample.write_cog(cds["dsm"].astype("float32"), root / "urban_city_dsm.tif"),
        "elements": sample.write_cog(cds["element"].astype("int16"), root / "urban_city_elements.tif"),
    }
    dt = "2024-07-01T10:30:00Z"
    props = {"urban:element_names": city.names}
    city_bands = {"dsm": {"unit": "m", "description": "surface height"},
                  "elements": {"unit": "1", "description": "urban element class code"}}
    items = [sample.cog_item("urban-city", dt, paths, collection="eoxr-urban-city", properties=props,
                             band_info=city_bands)]
    for sensor, px, name in (("sentinel-2", 10.0, "s2"), ("ecostress", 70.0, "ecostress")):
        sen = get_sensor(sensor)
        truth = draw_properties(city, sen, seed, geom)
        obs = observe(city, truth, sen, geom, atm, pixel_size=px, noise=0.01, nedt=sen.nedt, n_bounce=2, seed=seed)
        level = {}
        if not sen.thermal():
            obs = surface_reflectance(obs, atm).rename(reflectance="radiance")  # one name for the loop below
            level = {"processing:level": "L2A"}
        assets = {}
        for b in obs.band.values:
            da = obs.radiance.sel(band=b).astype("float32").rio.write_crs(city.crs)
            assets[str(b)] = sample.write_cog(da, root / f"urban_{name}_{b}.tif")
        p = {k: float(v) for k, v in obs.attrs.items() if k not in ("sensor", "processing:level")}
        p.update({"urban:sensor": sensor, "urban:aot550": atm.aot550, **level})
        unit, quantity = ("1", "surface reflectance") if level else ("W m-2 sr-1 um-1", "top-of-atmosphere radiance")
        band_info = {b: {"unit": unit, "description": f"{quantity}, band {b}"} for b in assets}
        items.append(sample.cog_item(f"urban-{name}", dt, assets, collection=f"eoxr-urban-{name}", properties=p,
                                     band_info=band_info))
    return items

"""Synthetic land surface temperature truth at 250 m with multiscale statistics that break scale invariance.

The scene (all fields change with the seed):

- land cover: Voronoi patches (fields, forests, towns, lakes) of 0.5-3 km, sharp edges;
- NDVI: class mean + multifractal (log-normal, Schertzer & Lovejoy 1987, doi:10.1029/JD092iD08p09693)
  texture whose amplitude depends on the class;
- soil moisture: a smooth, independent Gaussian random field (m3 m-3), invisible in NDVI;
- topography: fractional Brownian surface (m), lapse rate -6.5 K km-1;
- LST: radiance mixing of a soil and a canopy temperature by fractional cover (T^4 averaging, non-linear
  in NDVI), the soil temperature hotter where the soil is dry (regime dependence: the LST-NDVI slope
  changes with soil moisture), towns hotter and lakes cooler than the NDVI predicts, plus a 0.3 K
  unresolved noise. The patch scale puts a break in the spectrum between 250 m and 4 km, so statistics
  measured at 16/4/1 km do not hold at 250 m as a single power law.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from scipy.spatial import cKDTree

from . import _grid  # noqa: F401  (registers .rio)

from ..attrs import cf, georeference, stamp

CRS = "EPSG:32631"
ORIGIN = (300_000.0, 4_900_000.0)  # upper-left corner (m), UTM 31N
# class: (NDVI mean, NDVI texture amplitude, LST offset K beyond the mixing model)
CLASSES = {
    "water": (-0.05, 0.02, -6.0),
    "urban": (0.12, 0.05, 7.0),
    "bare": (0.18, 0.04, 0.0),
    "crop": (0.50, 0.12, 0.0),
    "grass": (0.40, 0.08, 0.0),
    "forest": (0.80, 0.05, 0.0),
}
CLASS_P = np.array([0.04, 0.08, 0.20, 0.30, 0.18, 0.20])


def gaussian_field(shape: tuple[int, int], beta: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with isotropic power spectrum ~ k^-beta."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.rfftfreq(shape[1])[None, :]
    k = np.hypot(ky, kx)
    k[0, 0] = np.inf
    amp = k ** (-beta / 2.0)
    noise = rng.standard_normal(shape)
    f = np.fft.irfft2(np.fft.rfft2(noise) * amp, s=shape)
    return (f - f.mean()) / f.std()


def voronoi_classes(shape: tuple[int, int], mean_patch_px: float, rng: np.random.Generator) -> np.ndarray:
    """Patch labels (index into CLASSES) from a Voronoi tessellation with random seeds."""
    n = max(4, int(shape[0] * shape[1] / mean_patch_px ** 2))
    pts = rng.uniform(0, 1, (n, 2)) * np.array(shape)
    yy, xx = np.mgrid[0: shape[0], 0: shape[1]]
    _, idx = cKDTree(pts).query(np.column_stack([yy.ravel() + 0.5, xx.ravel() + 0.5]))
    labels = rng.choice(len(CLASSES), size=n, p=CLASS_P)
    return labels[idx].reshape(shape)


def scene(seed: int = 0, size: int = 512, resolution: float = 250.0) -> xr.Dataset:
    """A synthetic (y, x) scene at ``resolution`` m: ``lst`` (K), ``ndvi`` (1), ``soil_moisture``,
    ``elevation`` (m), ``land_cover`` (class index). The truth of every lst benchmark and test."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    px_km = resolution / 1000.0
    cls = voronoi_classes(shape, mean_patch_px=rng.uniform(1.2, 2.5) / px_km, rng=rng)
    names = list(CLASSES)
    mean = np.array([CLASSES[n][0] for n in names])[cls]
    tex_amp = np.array([CLASSES[n][1] for n in names])[cls]
    offset = np.array([CLASSES[n][2] for n in names])[cls]
    # log-normal multiplicative texture: intermittent (multifractal) small-scale variability
    g = gaussian_field(shape, beta=rng.uniform(1.6, 2.0), rng=rng)
    texture = np.exp(0.6 * g - 0.18)
    ndvi = np.clip(mean + tex_amp * (texture - 1.0) * 2.0 + 0.03 * gaussian_field(shape, 3.0, rng), -0.2, 0.95)
    soil = np.clip(0.22 + 0.09 * gaussian_field(shape, rng.uniform(3.2, 3.8), rng), 0.03, 0.45)
    elev = 300.0 + 180.0 * gaussian_field(shape, 3.4, rng)
    elev = elev - elev.min()
    t_air = 295.0 + rng.uniform(-5.0, 5.0) - 0.0065 * elev
    fc = np.clip((ndvi - 0.15) / (0.85 - 0.15), 0.0, 1.0)
    t_soil = t_air + 26.0 - 55.0 * soil  # dry soil heats much more (regime dependence)
    t_canopy = t_air + 1.5 + 4.0 * (0.3 - soil)
    lst = ((1.0 - fc) * t_soil ** 4 + fc * t_canopy ** 4) ** 0.25 + offset
    lst = lst + 0.3 * rng.standard_normal(shape)
    y = ORIGIN[1] - (np.arange(size) + 0.5) * resolution
    x = ORIGIN[0] + (np.arange(size) + 0.5) * resolution
    ds = xr.Dataset(coords={"y": y, "x": x})
    ds["lst"] = cf(xr.DataArray(lst, dims=("y", "x")), "K", "land surface temperature",
                   standard_name="surface_temperature")
    ds["ndvi"] = cf(xr.DataArray(ndvi, dims=("y", "x")), "1", "normalized difference vegetation index",
                    standard_name="normalized_difference_vegetation_index")
    ds["soil_moisture"] = cf(xr.DataArray(soil, dims=("y", "x")), "m3 m-3", "volumetric soil moisture")
    ds["elevation"] = cf(xr.DataArray(elev, dims=("y", "x")), "m", "surface elevation")
    ds["land_cover"] = cf(xr.DataArray(cls.astype("u1"), dims=("y", "x")), "1",
                          "land cover class index: " + ", ".join(f"{i}={n}" for i, n in enumerate(names)))
    ds = georeference(ds, CRS)
    return stamp(ds, "lst.synth.scene", seed=seed, size=size, resolution=resolution)


def observation(seed: int = 0, size: int = 512, factor: int = 4, cloud_fraction: float = 0.0,
                mtf: float | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """(truth at 250 m, observation at 250*factor m): ``lst`` degraded in radiance, ``ndvi`` at fine scale
    kept as guide; ``cloud_fraction`` > 0 masks smooth cloud blobs as NaN in the coarse LST."""
    from .degrade import degrade

    truth = scene(seed, size)
    lst = degrade(truth["lst"], factor, mtf=mtf)
    if cloud_fraction > 0:
        rng = np.random.default_rng(seed + 7919)
        c = gaussian_field(lst.shape, 3.0, rng)
        lst = lst.where(c < np.quantile(c, 1.0 - cloud_fraction))
    obs = georeference(xr.Dataset({"lst": lst}), CRS)
    return truth, obs


def sample_items(root: Path, seed: int = 0) -> list:
    """MODIS-like scene for the sample catalog: 1 km LST (with a cloud) and 250 m NDVI, as COGs + items.

    Collection ``eoxr-lst-sample``: item ``lst-1km`` (asset ``lst``, K) and item ``ndvi-250m`` (asset
    ``ndvi``)."""
    from ..sample import cog_item, write_cog

    root = Path(root)
    truth, obs = observation(seed, size=256, factor=4, cloud_fraction=0.06)
    lst = obs["lst"].astype("f4").rio.write_crs(CRS)
    ndvi = truth.ndvi.astype("f4").rio.write_crs(CRS)
    truth_lst = truth["lst"].astype("f4").rio.write_crs(CRS)
    p_lst = write_cog(lst.fillna(-9999.0), root / "lst_1km.tif", nodata=-9999.0)
    p_ndvi = write_cog(ndvi, root / "ndvi_250m.tif")
    p_truth = write_cog(truth_lst, root / "lst_truth_250m.tif")
    when = "2023-07-15T10:30:00Z"
    props = {"platform": "synthetic-modis", "eoxr:seed": seed}
    lst_band = {"lst": {"unit": "K", "description": "land surface temperature"}}
    ndvi_band = {"ndvi": {"unit": "1", "description": "normalized difference vegetation index"}}
    return [
        cog_item("lst-1km", when, {"lst": p_lst}, collection="eoxr-lst-sample", properties=props, band_info=lst_band),
        cog_item("ndvi-250m", when, {"ndvi": p_ndvi}, collection="eoxr-lst-sample", properties=props,
                 band_info=ndvi_band),
        cog_item("lst-truth-250m", when, {"lst": p_truth}, collection="eoxr-lst-sample", properties=props,
                 band_info=lst_band),
    ]

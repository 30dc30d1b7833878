"""A synthetic S5P-like NO2 scene with its known truth, for the sample catalog and the demo.

One scene of :func:`eoxr.no2.ctm.scene` (64 x 64 cells of 5 km north-east of 52 N 5 E, TROPOMI-like noise and
10 % cloud gaps) written as two CF netCDF files: the observation (``no2_column`` and the wind ``u``, ``v`` at the
overpass) and its truth (``emission``, ``no2_column_true`` and the lifetime ``tau``), both with the scene's
CRS. :func:`sample_items` lists them as one STAC item of collection ``eoxr-no2-sample``; :func:`open_scene`
reads either file back, georeferenced.
"""
from __future__ import annotations

from datetime import timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..attrs import georeference
from ..errors import ReadError
from . import ctm

SAMPLE_COLLECTION = "eoxr-no2-sample"
SAMPLE_ITEM = "s5p-like-scene"
SAMPLE_SEED = 50_000  # + the sample's seed: scenes nobody tuned the demo's bounds on
SAMPLE_GRID = ctm.Grid(ny=64, nx=64, dx=5000.0)
SAMPLE_OBSERVATION = ctm.Observation(cloud_fraction=0.1)
OBSERVED = ("no2_column", "u", "v")
TRUTH = ("emission", "no2_column_true", "tau")
OVERPASS = pd.Timestamp("2021-12-17T13:30")  # the date the scene is filed under


def sample_scene(seed: int = 0) -> xr.Dataset:
    """The sample's scene: :func:`eoxr.no2.ctm.scene` of seed ``SAMPLE_SEED + seed`` on :data:`SAMPLE_GRID`."""
    return ctm.scene(SAMPLE_SEED + seed, SAMPLE_GRID, SAMPLE_OBSERVATION, spinup_h=36.0)


def write_scene(ds: xr.Dataset, path: str | Path, names) -> Path:
    """Write the variables ``names`` of a scene (with its CRS) as netCDF; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds[list(names)].to_netcdf(path)
    return path


def open_scene(path: str | Path) -> xr.Dataset:
    """A file written by :func:`write_scene`, loaded, with its CRS (rioxarray ``spatial_ref``)."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such scene file; build the sample with eoxr.sample.ensure_sample()")
    with xr.open_dataset(path, decode_coords="all") as ds:
        ds = ds.load()
    return georeference(ds)


def _footprint(ds: xr.Dataset) -> tuple[list, list[float]]:
    """(lon/lat ring, bbox) of the scene's grid."""
    from pyproj import Transformer

    half = SAMPLE_GRID.dx / 2
    x = [float(ds.x.min()) - half, float(ds.x.max()) + half]
    y = [float(ds.y.min()) - half, float(ds.y.max()) + half]
    corners = [(x[0], y[0]), (x[1], y[0]), (x[1], y[1]), (x[0], y[1]), (x[0], y[0])]
    lon, lat = Transformer.from_crs(ctm.SCENE_CRS, "EPSG:4326", always_xy=True).transform(*zip(*corners))
    ring = [(float(a), float(b)) for a, b in zip(lon, lat)]
    return ring, [float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))]


def sample_items(root: Path, seed: int = 0) -> list:
    """The sample's NO2 scene: collection ``eoxr-no2-sample``, item ``s5p-like-scene`` with assets ``scene``
    (``no2_column``, ``u``, ``v``) and ``truth`` (``emission``, ``no2_column_true``, ``tau``)."""
    import pystac

    root = Path(root)
    ds = sample_scene(seed)
    scene = write_scene(ds, root / "s5p_like_scene.nc", OBSERVED)
    truth = write_scene(ds, root / "s5p_like_truth.nc", TRUTH)
    ring, bbox = _footprint(ds)
    item = pystac.Item(SAMPLE_ITEM, {"type": "Polygon", "coordinates": [ring]}, bbox,
                       OVERPASS.to_pydatetime().replace(tzinfo=timezone.utc),
                       {"platform": "Sentinel-5P (synthetic)", "instruments": ["tropomi"], "eoxr:seed": seed,
                        "proj:wkt2": ds.rio.crs.to_wkt()}, collection=SAMPLE_COLLECTION)
    item.add_asset("scene", pystac.Asset(str(scene), media_type="application/x-netcdf", roles=["data"],
                                         title="NO2 column (TROPOMI-like noise, cloud gaps) and wind at the overpass"))
    item.add_asset("truth", pystac.Asset(str(truth), media_type="application/x-netcdf", roles=["data"],
                                         title="true NOx emission, NO2 column and lifetime of the simulation"))
    return [item]

"""Write local tiled GeoTIFFs that match a STAC asset's projection metadata, for offline read tests.

Full-size assets (a Sentinel-2 10 m band is 10980 x 10980) are written sparse (GDAL ``SPARSE_OK``):
only the tiles of the window you fill are stored, the rest reads back as the file's nodata. A
recorded real item then reads real-shaped files from disk after :func:`localize` rewrites its hrefs.

    grid = asset_grid(item, "red")
    win = grid.window_for((minx, miny, maxx, maxy))
    raw = write_sparse_cog(tmp_path / "red.tif", grid, win, rng.integers(1, 10000, (win.height, win.width)))
    local = localize(item, {"red": tmp_path / "red.tif"})
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine
from rasterio.windows import Window

from eoxr.io.stac import asset_info


@dataclass(frozen=True)
class AssetGrid:
    """Native grid, dtype and nodata of one asset, from its STAC projection/raster metadata."""

    epsg: int
    transform: Affine
    shape: tuple[int, int]
    dtype: str
    nodata: float | None

    @property
    def resolution(self) -> float:
        return abs(self.transform.a)

    def window_for(self, bounds) -> Window:
        """Pixel window (whole pixels, clipped to the asset) covering ``bounds`` in the asset CRS."""
        inv = ~self.transform
        cols, rows = zip(*(inv @ (x, y) for x in (bounds[0], bounds[2]) for y in (bounds[1], bounds[3])))
        c0, c1 = max(0, math.floor(min(cols) + 1e-9)), min(self.shape[1], math.ceil(max(cols) - 1e-9))
        r0, r1 = max(0, math.floor(min(rows) + 1e-9)), min(self.shape[0], math.ceil(max(rows) - 1e-9))
        if c1 <= c0 or r1 <= r0:
            raise ValueError(f"bounds {bounds} do not overlap the asset grid {self}")
        return Window(c0, r0, c1 - c0, r1 - r0)

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        return rasterio.windows.bounds(window, self.transform)


def asset_grid(item: dict, key: str, dtype: str | None = None, nodata: float | None = None) -> AssetGrid:
    """The grid of ``item['assets'][key]`` from ``proj:*`` (asset or item level) and ``raster:bands``."""
    info = asset_info(item, key)
    if info.epsg is None or info.transform is None or info.shape is None:
        raise ValueError(f"asset {key!r} of item {item['id']!r} lacks proj:epsg/code, proj:transform or proj:shape")
    return AssetGrid(
        epsg=info.epsg,
        transform=Affine(*info.transform),
        shape=info.shape,
        dtype=dtype or info.dtype or "uint16",
        nodata=info.nodata if nodata is None else nodata,
    )


def write_sparse_cog(path, grid: AssetGrid, window: Window, values: np.ndarray, blocksize: int = 512) -> np.ndarray:
    """Write a tiled, sparse GeoTIFF on ``grid`` holding ``values`` in ``window``; return what was written.

    Tiles outside ``window`` are never written (``SPARSE_OK=TRUE``) and read back as ``grid.nodata``.
    """
    values = np.asarray(values).astype(grid.dtype)
    if values.shape != (int(window.height), int(window.width)):
        raise ValueError(f"values shape {values.shape} != window shape {(window.height, window.width)}")
    profile = dict(
        driver="GTiff", width=grid.shape[1], height=grid.shape[0], count=1, dtype=grid.dtype,
        crs=f"EPSG:{grid.epsg}", transform=grid.transform, nodata=grid.nodata,
        tiled=True, blockxsize=blocksize, blockysize=blocksize, compress="deflate", sparse_ok=True,
    )
    with rasterio.open(Path(path), "w", **profile) as dst:
        dst.write(values, 1, window=window)
    return values


def localize(item: dict, hrefs: dict[str, str | Path]) -> dict:
    """A copy of ``item`` whose assets ``hrefs`` keys point at the given local files (absolute paths)."""
    out = copy.deepcopy(item)
    for key, path in hrefs.items():
        out["assets"][key]["href"] = str(Path(path).resolve())
    return out

"""Real thermal scenes as LST Datasets: the fine truths of Wald's protocol on real data.

Each scene of a real-data folder (the layout of ``shared/data/real``, one sub-folder per source with its
PROVENANCE.txt) is read into one Dataset: ``lst`` (K) on (time, y, x) at the sensor's own resolution, clouds
NaN, with the CRS, and where the folder holds one, a fine ``guide`` (1) on the same grid:

| scene | sensor, pixel | dates | guide |
|---|---|---|---|
| ``yanco`` | Landsat 8 TIRS split-window LST, 100 m (0.001 deg) | 2016-02-05, 2016-03-08 | - |
| ``nyc`` | ECOSTRESS L2 LST, 70 m, cloud mask applied | 2019-10-05 | - |
| ``lodi`` | airborne radiometric temperature, 3.6 m | morning, afternoon | fractional vegetation cover |
| ``h14v09``, ``h11v05`` | MODIS MOD11A1 daytime LST, 1 km | 2019-11-01, 2021-08-15 | band 31/32 emissivity |

A scene is one row of :data:`SCENES` and one small reader. The Wald protocol degrades ``lst`` by a factor,
super-resolves it back and scores it against ``lst``; :func:`holdout_blocks` cuts the grid into spatially
disjoint training and test blocks, so a network trained on a scene's training blocks is scored on pixels it
never saw.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..attrs import cf, stamp
from ..errors import MissingVariableError, ParameterError
from ._grid import spatial

#: ECOSTRESS L2 LST digital numbers to K (ECO2LSTE v001 scale factor); 0 is no data
ECOSTRESS_SCALE_K = 0.02
#: ECO2CLD bit 1: final cloud flag
ECOSTRESS_CLOUD_BIT = 1


@dataclass(frozen=True)
class Scene:
    """One real scene: its folder under the real-data root, reader, sensor and the factors it allows."""

    folder: str
    reader: Callable[[Path], xr.Dataset]
    sensor: str
    factors: tuple[int, ...]


def _read_tif(path: Path) -> xr.DataArray:
    import rioxarray

    if not path.exists():
        raise MissingVariableError(f"no file {path}: the real-data folder lacks it; point root= at the folder that "
                                   "holds the scene's sub-folders (shared/data/real)")
    da = rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True)
    crs = da.rio.crs
    return da.drop_attrs().astype("f4").rio.write_crs(crs)


def _stack(fields: list[xr.DataArray], times: list[str]) -> xr.DataArray:
    """Co-registered fields (same grid, read from separate files) on one (time, y, x) array, on the first one's
    coordinates (the files' coordinates differ by round-off)."""
    first = fields[0]
    same = [f.assign_coords(y=first.y, x=first.x) for f in fields]
    out = xr.concat(same, dim="time").assign_coords(time=np.array(times, dtype="datetime64[ns]"))
    return out.rio.write_crs(first.rio.crs)


def _lst(da: xr.DataArray, sensor: str) -> xr.DataArray:
    return cf(da, "K", f"land surface temperature, {sensor}", standard_name="surface_temperature")


def _yanco(folder: Path) -> xr.Dataset:
    dates = ["2016-02-05", "2016-03-08"]
    fields = [_read_tif(folder / f"Landsat_LST_cloudrm_{d.replace('-', '')}.tif") for d in dates]
    lst = _stack([f.where(f > 150.0) for f in fields], dates)  # one -3.4e38 fill pixel
    return xr.Dataset({"lst": _lst(lst, "Landsat 8 TIRS split-window")})


def _nyc(folder: Path) -> xr.Dataset:
    dn = _read_tif(folder / "ECO2LSTE.001_SDS_LST_doy2019278182133_aid0001.tif")
    mask = _read_tif(folder / "ECO2CLD.001_SDS_CloudMask_doy2019278182133_aid0001.tif")
    bits = mask.fillna(0).astype("i4")
    cloudy = (bits // 2 ** ECOSTRESS_CLOUD_BIT) % 2 == 1
    lst = (dn.where((dn > 0) & ~cloudy.values) * ECOSTRESS_SCALE_K).astype("f4")
    return xr.Dataset({"lst": _lst(_stack([lst], ["2019-10-05T18:21:33"]), "ECOSTRESS L2")})


def _lodi(folder: Path) -> xr.Dataset:
    am, pm = (_read_tif(folder / f"ExampleImage_Trad_{t}.tif") for t in ("am", "pm"))
    lst = _stack([am, pm], ["2000-01-01T09:00", "2000-01-01T14:00"])  # date not recorded: morning, afternoon
    fc = _read_tif(folder / "ExampleImage_Fc.tif").assign_coords(y=lst.y, x=lst.x).rio.write_crs(lst.rio.crs)
    ds = xr.Dataset({"lst": _lst(lst, "airborne radiometric temperature")})
    ds["guide"] = cf(fc, "1", "fractional vegetation cover")
    return ds


def _modis(path: Path) -> xr.Dataset:
    from .. import io
    from .evaluate import modis_emissivity

    if not path.exists():
        raise MissingVariableError(f"no file {path}: the real-data folder lacks it; point root= at the folder that "
                                   "holds the scene's sub-folders (shared/data/real)")
    ds = io.open_product(path)
    lst = ds["lst"].expand_dims("time").load()
    out = xr.Dataset({"lst": _lst(lst, "MODIS MOD11A1 daytime")})
    out["guide"] = cf(modis_emissivity(ds).load().drop_vars("time", errors="ignore"), "1",
                      "mean MODIS band 31/32 emissivity")
    return out.rio.write_crs(ds.rio.crs)


SCENES = {
    "yanco": Scene("lst_fusion_yanco_ubestarfm", _yanco, "Landsat 8 TIRS, 100 m", (4, 2)),
    "nyc": Scene("ecostress_lst_nyc_20191005", _nyc, "ECOSTRESS, 70 m", (4, 2)),
    "lodi": Scene("airborne_trad_lai_pytseb", _lodi, "airborne thermal camera, 3.6 m", (4, 2)),
    "h14v09": Scene("modis_lsttools/MOD11A1.hdf", _modis, "MODIS MOD11A1, 1 km", (4,)),
    "h11v05": Scene("modis_amadeus/MOD11A1.A2021227.h11v05.061.2021228105320.hdf", _modis, "MODIS MOD11A1, 1 km",
                    (4,)),
}


def open_scene(name: str, root: str | Path) -> xr.Dataset:
    """Scene ``name`` of :data:`SCENES` read from the real-data folder ``root``: ``lst`` (K, time, y, x) and,
    where the scene has one, ``guide`` (1, y, x) on the same grid, with the CRS. Loaded in memory (a few MB)."""
    if name not in SCENES:
        raise ParameterError(f"no real scene {name!r}; the scenes are {sorted(SCENES)}")
    scene = SCENES[name]
    ds = scene.reader(Path(root) / scene.folder)
    ds.attrs.update(scene=name, sensor=scene.sensor, source=scene.folder)
    return stamp(ds.load(), "lst.scenes.open_scene", name=name)


def holdout_blocks(lst: xr.DataArray, block: int, seed: int = 0, fraction: float = 0.5) -> xr.DataArray:
    """Bool (y, x) map, True on the test blocks: the grid cut into ``block`` x ``block`` tiles, ``fraction`` of
    them (drawn by ``seed``, at least one of each kind) held out for testing. Networks train on the other
    tiles only, so train and test pixels are spatially disjoint."""
    from ..ml.split import space_blocks

    lst = spatial(lst)
    region = space_blocks((lst.sizes["y"], lst.sizes["x"]), {"y": block, "x": block}, fraction, seed)
    return xr.DataArray(region, dims=("y", "x"), coords={"y": lst.y, "x": lst.x}, name="test_block")



def clearest_window(scene: xr.Dataset, test: xr.DataArray, size: int, block: int) -> tuple[xr.Dataset, xr.DataArray]:
    """``scene`` and its ``test`` map cut to the window of at most ``size`` px (whole ``block`` tiles, starting
    at tile corners, so the train/test split is kept) where the first date's ``lst`` is clearest."""
    lst = scene["lst"].isel(time=0).values
    ny, nx = lst.shape
    sy, sx = (min(size, n // block * block) for n in (ny, nx))
    starts = [(iy, ix) for iy in range(0, ny - sy + 1, block) for ix in range(0, nx - sx + 1, block)]
    iy, ix = max(starts, key=lambda s: np.isfinite(lst[s[0]:s[0] + sy, s[1]:s[1] + sx]).mean())
    window = {"y": slice(iy, iy + sy), "x": slice(ix, ix + sx)}
    return scene.isel(**window), test.isel(**window)

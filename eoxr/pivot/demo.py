"""``eoxr demo`` step for the pivot workflow: the sample's four sensors fused into the daily 10 m pivot.

Opens the sample's multi-sensor scene (collection ``eoxr-pivot-sample``: Sentinel-2, Landsat, MODIS and
Sentinel-1 cubes, and the truth they were made from), fuses them with ``eoxr.pivot.fuse(method="physical")``,
writes the NDVI and its uncertainty as netCDF and a quicklook PNG, and records (``metrics``) the reflectance and
NDVI RMSE against the truth on every day and on the days without a clear fine observation.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

from .fuse import fuse
from .synth import SAMPLE_COLLECTION, open_scene


def scene(root: Path | None = None) -> tuple[dict[str, xr.Dataset], xr.Dataset]:
    """The sample's sensor cubes (lazy) and its truth."""
    from .. import catalog, sample

    sample.ensure_sample(root)
    items = {item.properties["eoxr:sensor"]: item for item in catalog.search("sample", collections=[SAMPLE_COLLECTION])}
    truth = open_scene(items.pop("truth"))
    return {key: open_scene(item) for key, item in items.items()}, truth


def _rmse(estimate: xr.DataArray, truth: xr.DataArray, where: xr.DataArray | None = None) -> float:
    err = estimate - truth.transpose(*estimate.dims).values
    err = err if where is None else err.where(where)
    return float(np.sqrt((err ** 2).mean()))


def run(out: Path, quick: bool = False) -> dict[str, Path]:
    """Fuse the sample scene; write the NDVI maps (netCDF), a quicklook and the key figures (``metrics``) under
    ``out``. ``quick`` changes nothing: the scene is small (150 x 150 cells, 120 days)."""
    from .. import quicklook
    from ..demo import write_metrics

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cubes, truth = scene()
    period = (truth.time.values[0], truth.time.values[-1])
    piv = fuse(cubes, time=period).compute()
    seconds = time.perf_counter() - t0
    gap = piv["days_since_clear"] > 0
    figures = {"reflectance_rmse": _rmse(piv["reflectance"], truth["reflectance"]),
               "reflectance_rmse_no_clear_fine": _rmse(piv["reflectance"], truth["reflectance"], gap),
               "ndvi_rmse": _rmse(piv["ndvi"], truth["ndvi"]), "seconds": seconds,
               "no_clear_fine_fraction": float(gap.mean()), "days": int(piv.sizes["time"]),
               "mean_reflectance_std": float(piv["reflectance_std"].mean())}
    day = int(gap.mean(("y", "x")).argmax())  # the day the fine sensors saw least
    path = out / "pivot_ndvi.nc"
    xr.Dataset({"ndvi": piv["ndvi"], "ndvi_std": piv["ndvi_std"]}).drop_vars("spatial_ref").to_netcdf(path)
    png = quicklook.panels({"NDVI (pivot)": piv["ndvi"].isel(time=day), "NDVI (truth)": truth["ndvi"].isel(time=day),
                            "NDVI std": piv["ndvi_std"].isel(time=day)}, out / "pivot_ndvi.png",
                           title=f"{str(piv.time.values[day])[:10]}: the day the fine sensors saw least")
    print(f"pivot: sample scene {dict(piv.sizes)} from {sorted(cubes)}, fused in {seconds:.1f} s")
    print(f"pivot: reflectance RMSE {figures['reflectance_rmse']:.4f} (days without a clear fine observation: "
          f"{figures['reflectance_rmse_no_clear_fine']:.4f}), NDVI RMSE {figures['ndvi_rmse']:.3f}")
    print(f"pivot: wrote {path} and {png}")
    return {"ndvi": path, "quicklook": Path(png), "metrics": write_metrics(figures, out / "pivot_metrics.json")}

"""``eoxr demo`` step for the LST workflow: super-resolve the sample 1 km LST scene to 250 m.

Finds the sample scene (collection ``eoxr-lst-sample``: 1 km LST with a cloud, 250 m NDVI, the 250 m
truth), loads it lazily, runs bicubic, TsHARP, DISR and DISR with the scale-invariance correction on the
active Dask client, writes the results as a Zarr cube and a quicklook PNG, and prints and records (``metrics``)
the scores of each against the truth, and how far each, aggregated back to 1 km, is from the observation.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import xarray as xr

COLLECTION = "eoxr-lst-sample"


def _load(items, item_id: str, band: str, crs, resolution: float) -> xr.DataArray:
    from .. import io

    sel = [it for it in items if it.id == item_id]
    ds = io.load(sel, bands=[band], crs=crs, resolution=resolution, chunks={"time": 1, "y": 256, "x": 256})
    da = ds[band].isel(time=0, drop=True)
    return da.where(da > -9000.0)  # COG nodata -> NaN (clouds)


def scene(root: Path | None = None) -> dict[str, xr.DataArray]:
    """The sample LST scene as lazy DataArrays: ``lst`` (1 km, K), ``ndvi`` and ``truth`` (250 m)."""
    from .. import catalog, sample
    from .synth import CRS

    sample.ensure_sample(root)
    items = list(catalog.search("sample", collections=[COLLECTION]))
    lst = _load(items, "lst-1km", "lst", CRS, 1000.0).assign_attrs(units="K", long_name="land surface temperature")
    ndvi = _load(items, "ndvi-250m", "ndvi", CRS, 250.0).assign_attrs(units="1", long_name="NDVI")
    truth = _load(items, "lst-truth-250m", "lst", CRS, 250.0).assign_attrs(units="K", long_name="true LST")
    return {"lst": lst, "ndvi": ndvi, "truth": truth}


def run(out: Path, quick: bool = False) -> dict[str, Path]:
    """Super-resolve the sample scene on the active Dask client; write a Zarr cube, a quicklook and the key figures
    (``metrics``) under ``out``. ``quick``: one network pass instead of four mirrored ones (no self-ensemble)."""
    from .. import cube, quicklook
    from ..demo import write_metrics
    from .evaluate import scores

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = scene()
    lst, ndvi, truth = s["lst"], s["ndvi"], s["truth"]
    obs = xr.Dataset({"lst": lst}).rio.write_crs(lst.rio.crs)
    net = {"guide": ndvi, "ensemble": not quick}
    results = {
        "bicubic": obs.lst.superres(4, method="bicubic")["lst"],
        "tsharp": obs.lst.superres(4, method="tsharp", guide=ndvi)["lst"],
        "disr": obs.lst.superres(4, method="disr", **net)["lst"],
        "disr_corrected": obs.lst.superres(4, method="disr", scale_correction=True, **net)["lst"],
    }
    ds = xr.Dataset({f"lst_{k}": v.rename(None) for k, v in results.items()})
    ds["ndvi"] = ndvi.assign_coords(x=ds.x, y=ds.y)
    ds = ds.rio.write_crs(lst.rio.crs)
    zarr_path = out / "lst_superres.zarr"
    cube.write(ds, zarr_path, mode="w")
    ds = cube.open(zarr_path).load()
    t = truth.assign_coords(x=ds.x, y=ds.y).load()
    lst = lst.load()
    figures = {k: scores(ds[f"lst_{k}"], t, lst, 4, slope=False) for k in results}
    rmse = {k: s["rmse_K"] for k, s in figures.items()}
    err = (ds["lst_disr"] - t).assign_attrs(units="K", long_name="DISR minus truth")
    png = quicklook.panels({"LST 1 km (input)": lst, "NDVI 250 m (guide)": ds["ndvi"],
                            "DISR 250 m": ds["lst_disr"], "truth 250 m": t, "DISR error": err},
                           out / "lst_superres.png", cmap={"NDVI 250 m (guide)": "YlGn", "DISR error": "RdBu_r"})
    cloud = float(np.isnan(lst.values).mean())
    print(f"lst: 1 km -> 250 m on the sample scene {dict(lst.sizes)} ({cloud:.0%} cloud kept NaN), "
          f"{time.perf_counter() - t0:.1f} s")
    print("lst: RMSE vs truth (K): " + ", ".join(f"{k} {v:.2f}" for k, v in rmse.items()))
    print("lst: aggregated back to 1 km, RMS gap to the observation (K): "
          + ", ".join(f"{k} {s['coarse_consistency_K']:.3f}" for k, s in figures.items()))
    print(f"lst: wrote {zarr_path} and {png}")
    return {"cube": zarr_path, "quicklook": Path(png), "metrics": write_metrics(figures, out / "metrics.json")}

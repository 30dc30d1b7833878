"""``eoxr demo``: the spine end to end on the sample catalog, then every workflow's demo.

sample -> search -> lazy load -> Zarr cube -> per-band statistics and a quicklook, on a local Dask
cluster; then ``eoxr.<domain>.demo.run(out, quick=...)`` for each workflow. Each step returns the paths it
wrote, among them ``metrics``: a JSON file of the step's key figures (scores against the sample's truth,
energy closure, ...); :func:`run` gathers them in ``OUT/metrics.json`` as ``{step: figures}``.
"""
from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pandas as pd
import xarray as xr


def band_statistics(ds: xr.Dataset) -> pd.DataFrame:
    """Mean, standard deviation, min, max and valid fraction of every (time, y, x) variable, per time."""
    import dask

    rows, lazy = [], []
    for name, da in ds.data_vars.items():
        if not {"y", "x"} <= set(da.dims) or da.dtype.kind != "f":
            continue
        lazy.append((name, da.mean(("y", "x")), da.std(("y", "x")), da.min(("y", "x")), da.max(("y", "x")),
                     da.notnull().mean(("y", "x"))))
    computed = dask.compute(*[t[1:] for t in lazy])  # one pass over the data for all statistics
    for (name, *_), (mean, std, lo, hi, valid) in zip(lazy, computed):
        times = mean["time"].values if "time" in mean.dims else [None]
        for i, t in enumerate(times):
            sel = {"time": i} if "time" in mean.dims else {}
            rows.append({"variable": name, "time": pd.Timestamp(t) if t is not None else None,
                         "mean": float(mean[sel]), "std": float(std[sel]), "min": float(lo[sel]),
                         "max": float(hi[sel]), "valid_fraction": float(valid[sel]),
                         "units": ds[name].attrs.get("units", "")})
    return pd.DataFrame(rows)


def write_metrics(figures: dict, path: Path) -> Path:
    """Write a step's key figures as JSON (numpy scalars as floats) and return the path."""
    path.write_text(json.dumps(figures, indent=2, default=float))
    return path


def spine(out: Path, quick: bool = False) -> dict[str, Path]:
    """Sample -> search -> lazy load -> Zarr cube -> statistics and quicklooks; ``quick`` loads at 20 m, not 10 m."""
    from . import catalog, cube, io, quicklook, sample

    t0 = time.perf_counter()
    catalog_path = sample.ensure_sample()
    items = catalog.search("sample", collections=[sample.S2_COLLECTION], datetime="2023-04-01/2023-09-30")
    ds = io.load(items, bands=["blue", "green", "red", "nir"], resolution=20 if quick else 10, crs=sample.S2_CRS,
                 chunks={"time": 1, "y": 256, "x": 256})
    cube_path = out / "s2_sample.zarr"
    cube.write(ds, cube_path, mode="w", progress=True)
    ds = cube.open(cube_path)
    ndvi = ((ds["nir"] - ds["red"]) / (ds["nir"] + ds["red"])).assign_attrs(units="1", long_name="NDVI")
    stats = band_statistics(ds.assign(ndvi=ndvi))
    stats_path = out / "s2_sample_statistics.csv"
    stats.to_csv(stats_path, index=False)
    clearest = int(stats[stats.variable == "red"]["valid_fraction"].to_numpy().argmax())
    png = quicklook.rgb(ds.isel(time=clearest), out / "s2_sample_rgb.png",
                        title=f"sample scene {str(ds.time.values[clearest])[:10]}")
    ndvi_png = quicklook.panels({str(t)[:10]: ndvi.sel(time=t) for t in ds.time.values}, out / "s2_sample_ndvi.png",
                                cmap="RdYlGn")
    print(f"spine: {len(items)} items from {catalog_path} -> cube {cube_path} "
          f"{dict(ds.sizes)}, CRS {ds.rio.crs}, {time.perf_counter() - t0:.1f} s")
    print(stats.pivot_table(index="variable", columns="time", values="mean").round(3).to_string())
    figures = {"items": len(items), "sizes": dict(ds.sizes), "epsg": ds.rio.crs.to_epsg(),
               "valid_fraction_red": stats[stats.variable == "red"].sort_values("time")["valid_fraction"].tolist(),
               "ndvi_min": float(stats[stats.variable == "ndvi"]["min"].min()),
               "ndvi_max": float(stats[stats.variable == "ndvi"]["max"].max()),
               "mean": {v: float(stats[stats.variable == v]["mean"].mean()) for v in ("blue", "green", "red", "nir")}}
    return {"cube": cube_path, "statistics": stats_path, "rgb": png, "ndvi": ndvi_png,
            "metrics": write_metrics(figures, out / "spine_metrics.json")}


def run(out: str | Path = "eoxr-out", only: list[str] | None = None, address: str | None = None,
        quick: bool = False) -> dict[str, Path]:
    """Run the demo on a local Dask cluster (or ``address``) and return every output path; ``quick`` runs every
    step at reduced size. ``OUT/metrics.json`` holds every step's key figures."""
    from . import _DOMAINS, cluster

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps = ["spine", *_DOMAINS] if not only else only
    outputs: dict[str, Path] = {}
    figures = {}
    client = cluster.connect(address)
    try:
        for step in steps:
            print(f"\n== {step}")
            if step == "spine":
                res = spine(out, quick=quick)
            else:
                mod = importlib.import_module(f"eoxr.{step}.demo")
                res = mod.run(out / step, quick=quick)
            outputs.update({f"{step}.{k}": Path(v) for k, v in res.items()})
            figures[step] = json.loads(Path(res["metrics"]).read_text())
    finally:
        cluster.close(client)
    outputs["metrics"] = write_metrics(figures, out / "metrics.json")
    print("\noutputs:")
    for k, v in outputs.items():
        print(f"  {k:28s} {v}")
    return outputs

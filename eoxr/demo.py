"""``eoxr demo``: the spine end to end on the sample catalog, then every workflow's demo.

sample -> search -> lazy load -> Zarr cube -> per-band statistics and a quicklook, on a local Dask
cluster; then ``eoxr.<domain>.demo.run(out)`` for each workflow.
"""
from __future__ import annotations

import importlib
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


def spine(out: Path) -> dict[str, Path]:
    from . import catalog, cube, io, quicklook, sample

    t0 = time.perf_counter()
    catalog_path = sample.ensure_sample()
    items = catalog.search("sample", collections=[sample.S2_COLLECTION], datetime="2023-04-01/2023-09-30")
    ds = io.load(items, bands=["blue", "green", "red", "nir"], resolution=10, crs=sample.S2_CRS,
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
    return {"cube": cube_path, "statistics": stats_path, "rgb": png, "ndvi": ndvi_png}


def run(out: str | Path = "eoxr-out", only: list[str] | None = None, address: str | None = None) -> dict[str, Path]:
    """Run the demo on a local Dask cluster (or ``address``) and return every output path."""
    from . import _DOMAINS, cluster

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    steps = ["spine", *_DOMAINS] if not only else only
    outputs: dict[str, Path] = {}
    client = cluster.connect(address)
    try:
        for step in steps:
            print(f"\n== {step}")
            if step == "spine":
                res = spine(out)
            else:
                mod = importlib.import_module(f"eoxr.{step}.demo")
                res = mod.run(out / step)
            outputs.update({f"{step}.{k}": Path(v) for k, v in res.items()})
    finally:
        cluster.close(client)
    print("\noutputs:")
    for k, v in outputs.items():
        print(f"  {k:28s} {v}")
    return outputs

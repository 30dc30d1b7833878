"""``eoxr demo`` step for the rain workflow: retrieve rain from the sample GMI swath, both ways.

Finds the sample swath (collection ``eoxr-rain-sample``: a 1C-GMI granule and its reference rain), opens the
granule with :func:`eoxr.io.open_product` (the reader of real 1C files), retrieves rain lazily by the Bayesian
database (a small one, of training scenes) and the shipped U-Net on the active Dask client, writes the
result as netCDF and a quicklook PNG, and prints and records (``metrics``) the IPWG scores of each against the
reference.
"""
from __future__ import annotations

import time
from pathlib import Path

import xarray as xr

COLLECTION = "eoxr-rain-sample"


def swath(root: Path | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """The sample swath (lazy, as the 1C reader gives it) and its reference (``rain_rate``, ``surface_type``)."""
    from .. import catalog, io, sample

    sample.ensure_sample(root)
    item = next(iter(catalog.search("sample", collections=[COLLECTION])))
    ds = io.open_product(item.assets["1c"].get_absolute_href(), chunks={"along_track": 32})
    reference = xr.open_dataset(item.assets["reference"].get_absolute_href()).load()
    return ds, reference


def run(out: Path, quick: bool = False) -> dict[str, Path]:
    """Retrieve rain from the sample swath both ways on the active Dask client; write the retrievals (netCDF), a
    quicklook and the key figures (``metrics``) under ``out``. ``quick``: a database of 4 training scenes, not 10."""
    from .. import quicklook
    from ..demo import write_metrics
    from . import bayes
    from .evaluate import scores
    from .synth import TRAINING_SEEDS

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds, ref = swath()
    # a database of a few training scenes: the default one (60 scenes) takes minutes to build on first use
    db = bayes.build("gmi", seeds=TRAINING_SEEDS[:4 if quick else 10], scans=64, workers=2)
    results = {"bayes": ds.rain.retrieve(method="bayes", surface=ref["surface_type"], database=db),
               "unet": ds.rain.retrieve(method="unet", surface=ref["surface_type"])}
    merged = xr.Dataset({f"{v}_{m}": r[v] for m, r in results.items() for v in r.data_vars}).compute()
    merged["rain_rate_reference"] = ref["rain_rate"]
    path = out / "rain_retrieval.nc"
    merged.drop_vars("spatial_ref", errors="ignore").to_netcdf(path, engine="h5netcdf")
    png = quicklook.panels({"89V brightness temperature": ds["brightness_temperature"].sel(channel="89V"),
                            "reference": ref["rain_rate"], "Bayesian": merged["rain_rate_bayes"],
                            "U-Net": merged["rain_rate_unet"], "U-Net std": merged["rain_rate_std_unet"],
                            "U-Net probability": merged["rain_probability_unet"]},
                           out / "rain_retrieval.png", cmap={"89V brightness temperature": "gray"})
    print(f"rain: sample GMI swath {dict(ds['brightness_temperature'].sizes)} from {ds.attrs['source']}, "
          f"{time.perf_counter() - t0:.1f} s")
    figures = {}
    for m in results:
        s = figures[m] = scores(merged[[f"{v}_{m}" for v in ("rain_rate", "rain_rate_std", "rain_probability")]].rename(
            {f"{v}_{m}": v for v in ("rain_rate", "rain_rate_std", "rain_probability")}), ref["rain_rate"])
        print(f"rain: {m:5s} MAE {s['mae_mm_h']:.3f} mm h-1, r {s['correlation']:.2f}, "
              f"bias {s['bias_percent']:+.0f} %, HSS {s['hss']:.2f}")
    figures["reference_mean_mm_h"] = float(ref["rain_rate"].mean())
    print(f"rain: wrote {path} and {png}")
    return {"retrieval": path, "quicklook": Path(png), "metrics": write_metrics(figures, out / "rain_metrics.json")}

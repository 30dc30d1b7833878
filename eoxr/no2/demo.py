"""``eoxr demo`` step for the no2 workflow: NOx emissions of the sample's S5P-like scene by the flux divergence.

Finds the sample scene (collection ``eoxr-no2-sample``: the observed NO2 column and wind, and the truth of the
simulation), estimates the emissions with ``ds.no2.emissions(method="divergence")`` at the simulation's
lifetime, lists the sources, writes the maps as netCDF and a quicklook PNG, and records (``metrics``) the
scores against the truth (:func:`eoxr.no2.evaluate.emission_scores`): per-source relative errors and the
domain-total bias.
"""
from __future__ import annotations

import time
from pathlib import Path

import xarray as xr

from .divergence import NO2_MOLAR_MASS, cell_areas
from .synth import SAMPLE_COLLECTION, open_scene

SOURCE_THRESHOLD = 5e-9  # mol m-2 s-1: a 0.5 kg s-1 city spread over 3 cells of 5 km peaks near 8e-9


def scene(root: Path | None = None) -> tuple[xr.Dataset, xr.Dataset]:
    """The sample scene (``no2_column``, ``u``, ``v``) and its truth (``emission``, ``no2_column_true``, ``tau``)."""
    from .. import catalog, sample

    sample.ensure_sample(root)
    item = next(iter(catalog.search("sample", collections=[SAMPLE_COLLECTION])))
    return open_scene(item.assets["scene"].get_absolute_href()), open_scene(item.assets["truth"].get_absolute_href())


def run(out: Path, quick: bool = False) -> dict[str, Path]:
    """Estimate the sample scene's emissions by the flux divergence; write the maps (netCDF), a quicklook and
    the key figures (``metrics``) under ``out``. ``quick`` changes nothing: the scene is small (64 x 64 cells)."""
    from .. import quicklook
    from ..demo import write_metrics
    from .evaluate import emission_scores

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds, truth = scene()
    lifetime_h = float(truth["tau"]) / 3600.0
    em = ds.chunk({"y": 32, "x": 32}).no2.emissions(method="divergence", lifetime_h=lifetime_h).compute()
    table = em.no2.sources(threshold=SOURCE_THRESHOLD)
    path = out / "no2_emissions.nc"
    xr.Dataset({"emission": em["emission"], "emission_true": truth["emission"],
                "no2_column": ds["no2_column"]}).drop_vars("spatial_ref").to_netcdf(path)
    png = quicklook.panels({"NO2 column (observed)": ds["no2_column"], "true emission": truth["emission"],
                            "divergence emission": em["emission"]}, out / "no2_emissions.png")
    figures = emission_scores(em["emission"], truth["emission"], threshold=SOURCE_THRESHOLD)
    figures.update(lifetime_h=lifetime_h, sources_found=int(table.sizes["source"]),
                   true_total_kg_s=float((truth["emission"] * cell_areas(truth["emission"])).sum()) * NO2_MOLAR_MASS,
                   cloud_fraction=float(ds["no2_column"].isnull().mean()))
    print(f"no2: sample scene {dict(ds.sizes)}, lifetime {lifetime_h:.1f} h, {time.perf_counter() - t0:.1f} s")
    print(f"no2: divergence per-source error median {figures['source_error_median']:.1%}, "
          f"90th percentile {figures['source_error_p90']:.1%} ({figures['sources']} sources seen, "
          f"{figures['sources_hidden']} hidden), domain-total bias {figures['total_bias_percent']:+.1f} %")
    print(f"no2: wrote {path} and {png}")
    return {"emissions": path, "quicklook": Path(png), "metrics": write_metrics(figures, out / "no2_metrics.json")}

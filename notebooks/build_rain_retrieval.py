"""Build notebooks/rain_retrieval.ipynb (without outputs): `python notebooks/build_rain_retrieval.py`."""
from pathlib import Path

import nbbuild

CELLS = [
    ("md", """# Rain rate from passive-microwave radiometers (GMI and the GPM constellation)

`ds.rain.retrieve(method=...)` turns brightness temperatures of a radiometer swath (the layout
`eoxr.io.open_product` gives a 1C file) into `rain_rate`, `rain_rate_std` (mm h⁻¹) and `rain_probability`:

| method | idea |
|---|---|
| `bayes` | posterior mean and spread of rain over an a-priori database of (Tb, rain) pairs weighted by exp(−½ ΔTb′ S⁻¹ ΔTb), per surface type (as BRAIN and GPROF) |
| `unet` | a U-Net on the swath image: it sees the neighbourhood, so it can use the shape of rain systems, the blurred low-frequency footprints and the ice displaced from the rain (as DRAIN and GPROF-NN) |

Both learn from the same synthetic scenes, made by a slab radiative-transfer model calibrated on real GMI
statistics; `eoxr.rain.transfer` carries the network to another radiometer (AMSR2). The last section is real
data: the GPM radar against a ground radar, and GPROF V7's published scores."""),
    ("code", """%matplotlib inline
import os, time, tempfile
from pathlib import Path
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import xarray as xr
import eoxr
from eoxr.rain import bayes, calibration, forward, synth, transfer
from eoxr.rain.evaluate import scores
from eoxr.rain.radiometers import GMI, AMSR2

QUICK = os.environ.get("EOXR_QUICK") == "1"
SCANS = 48 if QUICK else 128          # scans per synthetic GMI swath (13.2 km apart)
WORKERS = 1 if QUICK else 2           # processes drawing scenes (a few small scenes draw faster than a pool starts)
SEED = 4
REAL = eoxr.sample.real_data_dir()    # the real data folder (setting EOXR_REAL_DATA)"""),
    ("md", """## 0. A GMI swath from the catalog

A user starts from a search: the sample catalog holds a GMI swath as a 1C granule (read by `open_product` as a
real one) with its reference rain. Both retrievals run lazily on it."""),
    ("code", """item = next(iter(eoxr.catalog.search("sample", collections=["eoxr-rain-sample"])))
gmi = eoxr.io.open_product(item.assets["1c"].get_absolute_href(), chunks={"along_track": 32})
reference = xr.open_dataset(item.assets["reference"].get_absolute_href()).load()
small_db = bayes.build("gmi", seeds=range(10_000, 10_006), scans=64, workers=WORKERS)  # a small a-priori database
sample = {m: gmi.rain.retrieve(method=m, surface=reference["surface_type"],
                               **({"database": small_db} if m == "bayes" else {})).compute() for m in ("bayes", "unet")}
fig, axes = plt.subplots(1, 3, figsize=(15, 3.5))
reference["rain_rate"].plot(ax=axes[0], cmap="Blues", vmax=10); axes[0].set_title("reference")
for ax, (m, r) in zip(axes[1:], sample.items()):
    r["rain_rate"].plot(ax=ax, cmap="Blues", vmax=10); ax.set_title(m)
plt.tight_layout()"""),
    ("md", """## 1. The physics: emission at low frequency, scattering at high frequency

Rain emits: over the cold, polarised sea it warms the 10–37 GHz channels and removes their polarisation until
the rain layer is opaque (saturation). Precipitating ice scatters: at 89–183 GHz it reflects the cold sky and
lowers Tb. `eoxr.rain.forward` is a three-slab two-stream model (upper vapour, ice, liquid and gas) over a
Fresnel sea or a vegetated, possibly snow-covered land."""),
    ("code", """rain = np.geomspace(0.05, 60, 40)
ocean = forward.State(surface_temperature=290.0, land_fraction=0.0, tpw=30.0, lwp=0.1 + 0.05 * np.sqrt(rain),
                      rain_rate=rain)
iwp = np.geomspace(0.01, 3, 40)
land = forward.State(surface_temperature=290.0, land_fraction=1.0, tpw=30.0, lwp=0.2, rain_rate=5.0, iwp=iwp)
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for name in ["10.65V", "10.65H", "18.7V", "18.7H", "36.64V", "36.64H"]:
    axes[0].semilogx(rain, forward.channel_tb(GMI.channel(name), ocean, GMI.incidence), label=name)
axes[0].set(xlabel="rain rate [mm h-1]", ylabel="Tb [K]", title="ocean: emission signal")
for name in ["36.64V", "89V", "89H", "166V", "166H", "183.31+-7V"]:
    axes[1].semilogx(iwp, forward.channel_tb(GMI.channel(name), land, GMI.incidence), label=name)
axes[1].set(xlabel="ice water path [kg m-2]", ylabel="Tb [K]", title="land: scattering signal")
for ax in axes: ax.legend(fontsize=8); ax.grid(alpha=0.3)
plt.tight_layout()"""),
    ("md", """## 2. A synthetic GMI swath with a radar-like reference

`synth.scene` draws a 2 km scene (land and sea, temperature, vapour, clouds, stratiform areas and convective
cells, precipitating ice and anvils), observes it with GMI's 13 channels (parallax of the slanted view, each
channel's footprint, NEdT noise) along a swath of 221 pixels, and averages the rain over the 5 km footprint
of the GPM radar as the reference."""),
    ("code", """ds = synth.scene(SEED, "gmi", scans=SCANS)
fig, axes = plt.subplots(1, 5, figsize=(20, 4.2))
for ax, ch in zip(axes, ["10.65H", "36.64V", "89V", "166V"]):
    ds.brightness_temperature.sel(channel=ch).plot(ax=ax, cmap="gray", cbar_kwargs={"label": "Tb [K]"}); ax.set_title(ch)
ds.rain_rate.plot(ax=axes[4], cmap="Blues", vmax=10, cbar_kwargs={"label": "mm h-1"}); axes[4].set_title("reference rain")
plt.tight_layout()
print(f"{float((ds.rain_rate >= 0.1).mean()):.1%} of the swath rains; surface types:",
      dict(zip(*np.unique(ds.surface_type, return_counts=True))))"""),
    ("md", """## 3. Are the synthetic brightness temperatures realistic?

The scene climate was calibrated on the statistics of real GMI observations over the contiguous US (the IPWG
precipitation benchmark, `obs_gmi.nc`). Here the match on scenes it was not tuned on: the ratio of the
synthetic to the real mean and standard deviation per channel, the overlap of the histograms, and the
histograms themselves."""),
    ("code", """n_cal = 8 if QUICK else 32
cal = [s for s in synth.scenes(range(60_000, 60_000 + n_cal), "gmi", scans=24, workers=WORKERS)]
tb = np.concatenate([s.brightness_temperature.values.reshape(-1, 13) for s in cal])
ref = calibration.reference_statistics()
table = calibration.compare(tb, ref)
display(table.round(3))
fig, axes = plt.subplots(1, 4, figsize=(18, 3.4))
for ax, ch in zip(axes, ["10.65H", "36.64V", "89V", "183.31+-3V"]):
    i = GMI.channel_names.index(ch)
    edges = ref["edges"][i]
    ax.stairs(ref["counts"][i] / ref["counts"][i].sum(), edges, label="real (IPWG CONUS)")
    ax.stairs(np.histogram(tb[:, i], edges)[0] / len(tb), edges, label="synthetic")
    ax.set(title=ch, xlabel="Tb [K]"); ax.legend(fontsize=8)
plt.tight_layout()"""),
    ("md", """## 4. Bayesian and U-Net retrievals on held-out swaths

The Bayesian database is built from the training scenes of the shipped network (built and cached on first use;
in quick mode a small database stands in). The network is the shipped `rain-unet-gmi`, trained with
`eoxr train rain` on the same scenes. The test swaths use other seeds."""),
    ("code", """db = small_db if QUICK else None
test = list(synth.scenes([SEED, SEED + 1], "gmi", scans=SCANS, workers=WORKERS))
runs = {m: [t.rain.retrieve(method=m, **({"database": db} if m == "bayes" else {})).load() for t in test]
        for m in ("bayes", "unet")}
table = pd.DataFrame({m: scores(r, [t.rain_rate for t in test], spacing_km=GMI.pixel_spacing) for m, r in runs.items()}).T
table.round(3)"""),
    ("code", """fig, axes = plt.subplots(2, 4, figsize=(20, 8))
t, b, u = test[0], runs["bayes"][0], runs["unet"][0]
maps = [(t.rain_rate, "reference"), (b.rain_rate, "Bayesian"), (u.rain_rate, "U-Net"), (u.rain_probability, "U-Net probability"),
        (b.rain_rate_std, "Bayesian std"), (u.rain_rate_std, "U-Net std")]
for ax, (da, title) in zip(axes.ravel(), maps):
    kw = {"vmax": 1} if "probability" in title else {"vmax": 10}
    da.plot(ax=ax, cmap="Blues", **kw); ax.set_title(title)
ref_all = np.concatenate([x.rain_rate.values.ravel() for x in test])
for ax, m in zip(axes[1, 2:], runs):
    pred = np.concatenate([r.rain_rate.values.ravel() for r in runs[m]])
    ax.hexbin(ref_all + 0.01, pred + 0.01, xscale="log", yscale="log", bins="log", gridsize=40, mincnt=1)
    ax.plot([0.01, 100], [0.01, 100], "k--", lw=0.8)
    ax.set(xlabel="reference [mm h-1]", ylabel=f"{m} [mm h-1]", title=f"{m}: r = {table.loc[m, 'correlation']:.2f}")
plt.tight_layout()"""),
    ("md", """The spread is calibrated when the RMS of `rain_rate_std` equals the RMS error (`spread_skill_ratio` ≈ 1) and
about two thirds of the raining pixels lie within one spread of the reference (`coverage_1sd_rain`). Lazy on
dask: a chunked swath gives a graph at once and the same numbers when computed (the network runs with its
halo, the database is read once per worker)."""),
    ("code", """lazy = test[0].chunk({"along_track": 16}).rain.retrieve(method="unet")
print(lazy.rain_rate.data)
chunk_gap = float(np.nanmax(np.abs(lazy.rain_rate.values - runs["unet"][0].rain_rate.values)))
print(f"chunked vs unchunked: largest difference {chunk_gap:.2g} mm h-1")"""),
    ("md", """## 5. Transfer to AMSR2

AMSR2 has no 166 or 183 GHz channel and coarser low-frequency footprints. `transfer.map_channels` takes, for
each GMI channel, the nearest AMSR2 channel (same polarisation), smooths finer footprints to GMI's and leaves the
missing channels to the network's training mean. The mapped network runs as it is, or is fine-tuned with a few
labelled AMSR2 scenes (the U-Net weights and normalisation as a start)."""),
    ("code", """display(pd.Series(transfer.channel_map("amsr2", "gmi"), name="AMSR2 channel").to_frame().T)
n_pool = 3 if QUICK else 12
pool = list(synth.scenes(range(61_000, 61_000 + n_pool), "amsr2", scans=48, pixels=128, workers=WORKERS))
held = list(synth.scenes([61_500], "amsr2", scans=48, pixels=128, workers=WORKERS))
with tempfile.TemporaryDirectory() as work:
    curve = transfer.label_curve(pool, held, work, fractions=(0.1, 1.0), steps=20 if QUICK else 300)
curve = pd.DataFrame(curve).set_index("label_fraction").drop(columns="checkpoint")
display(curve[["mae_mm_h", "correlation", "hss", "bias_percent"]].round(3))
curve["correlation"].plot(marker="o", xlabel="share of labelled AMSR2 patches (0: mapped GMI network)",
                          ylabel="correlation", title="AMSR2: skill against labels", figsize=(6, 3.5));"""),
    ("md", """## 6. Real data: the GPM radar against a ground radar, and GPROF V7 on IPWG

*This section uses `eoxr.rain.validate` on the real files of the real data folder (`EOXR_REAL_DATA`).* A spaceborne Ku radar swath
(DPR, 2014-12-06) and the Brisbane ground radar volume 1.5 min apart: each DPR near-surface footprint is
matched to the ground radar's bins at the same height (parallax, beam propagation), the ground radar's
reflectivity turned into rain (Z-R). This is the radar-like reference the synthetic study imitates, and its own
error. GPROF V7's published IPWG scores (real GMI over CONUS against gauge-corrected MRMS) give the context of
the synthetic scores above: they are not a like-for-like comparison."""),
    ("code", """from eoxr.rain import validate
case = None if REAL is None else REAL / "dpr_groundradar_brisbane_20141206"
if case is not None and case.exists():
    pairs, gr_scores = validate.groundradar_case(
        case / "2A-CS-151E24S154E30S.GPM.Ku.V7-20170308.20141206-S095002-E095137.004383.V05A.HDF5",
        case / "IDR66_20141206_094829.vol.h5")
    fig, ax = plt.subplots(figsize=(5, 5)); validate.plot_case(pairs, ax=ax)
    gprof = validate.ipwg_baseline(REAL / "ipwg_stats" / "baseline_gprof_v07a_gmi_conus.nc")
    display(pd.DataFrame({"DPR vs ground radar (Brisbane)": gr_scores, "GPROF V7 vs MRMS (IPWG CONUS)": gprof}).loc[
        ["bias_percent", "mae_mm_h", "mse_mm2_h2", "correlation", "pod", "far", "hss"]].round(3))
else:
    print("real data folder absent:", case)"""),
    ("md", """## Key figures

The figures of this run, saved as `figures.json` beside the notebook (the tests hold them to bounds): the
physics signals, the calibration match, both retrievals' scores, the chunked run, the transfer curve and the
real-data match."""),
    ("code", """import json
tb_ocean = forward.channel_tb(GMI.channel("10.65H"), ocean, GMI.incidence)
tb_ice = forward.channel_tb(GMI.channel("89V"), land, GMI.incidence)
figures = {
    "ocean_10H_warming_K": float(tb_ocean[np.searchsorted(rain, 5.0)] - tb_ocean[0]),
    "land_89V_cooling_K": float(tb_ice[0] - tb_ice[-1]),
    "worst_mean_ratio_error": float((table_cal := calibration.compare(tb, ref))["mean_ratio"].sub(1).abs().max()),
    "worst_std_ratio_error": float(table_cal["std_ratio"].sub(1).abs().max()),
    "scores": table[["mae_mm_h", "correlation", "hss", "bias_percent", "spread_skill_ratio"]].to_dict(orient="index"),
    "chunked_vs_unchunked_mm_h": chunk_gap,
    "transfer_correlation": {f"{k:g}": v for k, v in curve["correlation"].items()},
    "groundradar": ({k: gr_scores[k] for k in ("correlation", "hss", "bias_percent")}
                    if case is not None and case.exists() else None),
}
with open("figures.json", "w") as f:
    json.dump(figures, f, indent=1, default=float)
figures"""),
    ("md", """## Take-aways

* The synthetic GMI brightness temperatures reproduce the real per-channel means and spreads over the US (the
  183 GHz channels least well); scores on them measure retrievals in a world whose physics is known.
* The Bayesian retrieval is exact in the limit of no noise and sharpens with every channel, but sees one pixel;
  the U-Net sees the swath. `eoxr bench rain` compares them over held-out seeds, with the targets of the
  workflow and whether each is met.
* Transfer works through the channel mapping: the mapped network runs on AMSR2 out of the box and improves
  with a few labelled scenes."""),
]


NOTEBOOK = Path(__file__).with_name("rain_retrieval.ipynb")


def build():
    return nbbuild.build(CELLS)


if __name__ == "__main__":
    nbbuild.main(CELLS, NOTEBOOK)

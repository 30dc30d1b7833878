"""Build notebooks/no2_emissions.ipynb (without outputs): `python notebooks/build_no2_emissions.py`."""
from pathlib import Path

import nbbuild

CELLS = [
    ("md", """# Daily NOx emissions from Sentinel-5P NO2 columns

`ds.no2.emissions(method=...)` turns tropospheric NO2 columns (`no2_column`, mol m⁻²) and a boundary-layer wind
(`u`, `v`, m s⁻¹) on one grid into a NOx emission map (`emission`, mol m⁻² s⁻¹, NOx counted as NO2):

| method | idea |
|---|---|
| `divergence` | the flux divergence of Beirle et al. (2019, Sci. Adv. 5, eaax9800, doi:10.1126/sciadv.aax9800): at steady state E = L (div(V w) + V / τ), with L = 1.32 the NOx/NO2 ratio and τ the NOx lifetime |
| `smaat-unet` | SmaAt-UNet (Trebing, Stanczyk & Mehrkanoon 2021, Pattern Recognit. Lett. 145, 178-186, doi:10.1016/j.patrec.2021.01.036) trained on transport-model scenes whose emissions are known: the conditional mean emission, as the CNN inversions of Dumont Le Brazidec et al. (2025) |
| `vae` | a conditional variational autoencoder (Kingma & Welling 2014, arXiv:1312.6114): posterior mean (`emission`) and spread (`emission_std`) from decoded latent draws |

The synthetic scenes come from `eoxr.no2.ctm`, a 2-D transport model (flux-limited advection, diffusion,
first-order loss) with point sources, cities with diurnal and weekly cycles and a background, observed as
TROPOMI would (footprint, noise of 0.5-1 × 10¹⁵ molec cm⁻², cloud gaps). The last two sections are real data:
TROPOMI over the Netherlands and Belgium, and OMI over Romania during the spring 2020 lockdown."""),
    ("code", """%matplotlib inline
import json, os, time, warnings
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import xarray as xr
import eoxr
from eoxr.no2 import ctm, open_l3
from eoxr.no2.divergence import NO2_MOLAR_MASS, cell_areas, owned_cells
from eoxr.no2.evaluate import emission_scores

QUICK = os.environ.get("EOXR_QUICK") == "1"
REAL = eoxr.sample.real_data_dir()    # the real data folder (setting EOXR_REAL_DATA)
METHODS = ("divergence", "smaat-unet", "vae")
SOURCE_THRESHOLD = 5e-9               # mol m-2 s-1: smallest true emission of a source's peak cell
NMOL = 1e9                            # maps in nmol m-2 s-1
FIG = {}                              # the key figures of this run, written to figures.json at the end
start = time.perf_counter()"""),
    ("md", """## 0. An S5P-like scene from the catalog

A user starts from a search. The sample catalog holds one S5P-like overpass (64 × 64 cells of 5 km over the
Netherlands, 10 % cloud gaps) as two netCDF assets: the observation (`no2_column`, `u`, `v`) and, because it was
simulated, its truth (`emission`, the noise-free column and the lifetime `tau`). The scene is opened lazily in
chunks; the three methods build their graphs at once and compute together."""),
    ("code", """item = next(iter(eoxr.catalog.search("sample", collections=["eoxr-no2-sample"])))
scene = xr.open_dataset(item.assets["scene"].get_absolute_href(), decode_coords="all", chunks={"y": 32, "x": 32})
truth = xr.open_dataset(item.assets["truth"].get_absolute_href(), decode_coords="all").load()
lifetime_h = float(truth["tau"]) / 3600
print(item.id, item.datetime, scene.rio.crs.to_proj4())
print(f"lifetime of the simulation: {lifetime_h:.1f} h; cloud gaps: {float(scene.no2_column.isnull().mean()):.0%}")
lazy = {m: scene.no2.emissions(method=m, **({"lifetime_h": lifetime_h} if m == "divergence" else {}))
        for m in METHODS}
print(lazy["vae"]["emission"].data)   # a dask graph: nothing has run yet
est = {m: em.compute() for m, em in lazy.items()}"""),
    ("md", """## 1. Maps: the truth and the three estimates

Same colour scale and units for the five emission maps (the point sources saturate it: one cell of 25 km² holds
them). The divergence is NaN on the outer ring (central difference) and under clouds; the networks fill the
gaps from the neighbourhood, and the VAE also gives the spread of its posterior (its calibration is scored by
`eoxr bench no2`)."""),
    ("code", """maps = {"true emission": truth["emission"], "flux divergence": est["divergence"]["emission"],
        "SmaAt-UNet": est["smaat-unet"]["emission"], "VAE posterior mean": est["vae"]["emission"],
        "VAE posterior spread": est["vae"]["emission_std"]}
vmax = NMOL * float(truth["emission"].quantile(0.995))
km = {"x": scene.x / 1e3, "y": scene.y / 1e3}
fig, axes = plt.subplots(1, 5, figsize=(24, 4.2), sharey=True)
for ax, (title, da) in zip(axes, maps.items()):
    im = ax.pcolormesh(km["x"], km["y"], NMOL * da.values, cmap="YlOrRd", vmin=0, vmax=vmax)
    ax.set(title=title, xlabel="x [km]", aspect="equal")
axes[0].set_ylabel("y [km]")
fig.colorbar(im, ax=axes, label="NOx emission (as NO2) [nmol m-2 s-1]", extend="both", shrink=0.9)

observed = scene[["no2_column", "u", "v"]].compute()
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.pcolormesh(km["x"], km["y"], observed["no2_column"].values * 1e6, cmap="viridis",
                   vmax=1e6 * float(observed["no2_column"].quantile(0.99)))
fig.colorbar(im, ax=ax, label="tropospheric NO2 column [µmol m-2]", extend="max")
step = 6
ax.quiver(km["x"][::step], km["y"][::step], observed["u"].values[::step, ::step], observed["v"].values[::step, ::step],
          color="white", scale=120)
ax.set(title="observed NO2 column and wind (white gaps: clouds)", xlabel="x [km]", ylabel="y [km]", aspect="equal");"""),
    ("md", """## 2. Per-source integrated emissions

Each source is a local maximum of the true emission; it owns the cells within 15 km that are nearer to it than
to any other (`eoxr.no2.divergence.owned_cells`). Truth and estimates are integrated over the same cells: those
every method sees (not the divergence's edge ring and cloud gaps). In kg s⁻¹ of NOx counted as NO2
(46.0 g mol⁻¹). The scores below (`emission_scores`) do the same per method, over the cells that method sees."""),
    ("code", """sources = truth.no2.sources(threshold=SOURCE_THRESHOLD)
peaks = [(truth.indexes["y"].get_loc(y), truth.indexes["x"].get_loc(x))
         for y, x in zip(sources["y"].values, sources["x"].values)]
owned = owned_cells(truth["emission"], peaks, radius_km=15.0)
area = cell_areas(truth["emission"]).values
seen = np.logical_and.reduce([np.isfinite(em["emission"].values) for em in est.values()])
whole = [(truth["emission"].values * area)[m].sum() for m in owned]

def kg_s(emission: xr.DataArray, mask: np.ndarray) -> float:
    return float((emission.values * area)[mask & seen].sum()) * NO2_MOLAR_MASS

bars = pd.DataFrame({name: [kg_s(da, m) for m in owned] for name, da in
                     [("truth", truth["emission"])] + [(m, est[m]["emission"]) for m in METHODS]})
bars = bars[[(truth["emission"].values * area)[m & seen].sum() >= 0.9 * w for m, w in zip(owned, whole)]]
ax = bars.plot.bar(figsize=(10, 4), width=0.8)
ax.set(xlabel="source (strongest first)", ylabel="NOx emission (as NO2) [kg s-1]",
       title="integrated over each source's cells seen by every method")
scores = {m: emission_scores(est[m]["emission"], truth["emission"], threshold=SOURCE_THRESHOLD) for m in METHODS}
table = pd.DataFrame(scores).T.drop(columns="source_relative_error")
FIG["sample"] = {m: {k: scores[m][k] for k in ("source_error_median", "source_error_p90", "total_bias_percent",
                                               "sources")} for m in METHODS}
FIG["sample_true_total_kg_s"] = float(bars["truth"].sum())
table"""),
    ("md", """## 3. Averaging over days, and a wrong lifetime

A single overpass is noisy: the divergence amplifies the column noise by about |w| / Δx. Beirle et al. average
over many days. Here a multi-day run of the transport model: the sources and the lifetime of one scene, a new
wind every day (speed 3-8 m s⁻¹, random direction, eddies), observed at 13:30 every day with 10 % cloud gaps.
`ds.no2.emissions(days=N)` averages the daily divergence maps over windows of N overpasses; each window is
scored against the mean true emission of its days. The per-source error falls with N until it reaches the
floor of what averaging cannot remove (footprint smoothing, the cities' diurnal cycle, winds that change
within the lifetime).

The lifetime is the method's main assumption: a lifetime too short by 30 % inflates the sink term V / τ by
43 %, one too long shrinks it by 23 %."""),
    ("code", """GRID = ctm.Grid(ny=48, nx=48) if QUICK else ctm.Grid(ny=64, nx=64)
SEEDS = range(7, 11) if QUICK else range(7, 13)
DAYS = 8
LOOK = ctm.Observation(cloud_fraction=0.1)

def overpasses(seed: int, days: int = DAYS, spinup_h: float = 36.0) -> xr.Dataset:
    \"\"\"Daily overpasses of a multi-day run: scene `seed`'s sources and lifetime, a new wind every day.\"\"\"
    sources, _, chemistry, _ = ctm.draw(seed, GRID)
    emission = sources.emission(GRID)
    column, layers = np.zeros(GRID.shape), []
    for day in range(days):
        rng = np.random.default_rng([seed, 10, day])
        wind = ctm.diurnal_wind(ctm.random_wind(GRID, rng, speed=float(rng.uniform(3, 8))))
        overpass = (day * 24 + LOOK.overpass_hour) * 3600.0
        begin = overpass - (spinup_h if day == 0 else 24) * 3600.0
        column, _ = ctm.simulate(column, GRID, chemistry, wind, emission, start=begin, end=overpass)
        u, v = ctm.cell_winds(*wind(overpass))
        layers.append(ctm.as_dataset(GRID, no2_column=ctm.observe(column, GRID, LOOK, rng), u=u, v=v,
                                     emission=emission(overpass)))
    run = xr.concat(layers, dim=pd.Index(pd.date_range("2021-12-06T13:30", periods=days, freq="D"), name="time"))
    run["no2_column"].attrs["units"] = "mol m-2"
    run["u"].attrs["units"] = run["v"].attrs["units"] = "m s-1"
    return run.assign_attrs(lifetime_h=chemistry.tau_s / 3600)

def window_scores(run: xr.Dataset, days: int, lifetime_factor: float = 1.0) -> list[dict]:
    em = run.no2.emissions(method="divergence", lifetime_h=run.lifetime_h * lifetime_factor, days=days)
    true = run["emission"].coarsen(time=days, boundary="trim").mean()
    return [emission_scores(em["emission"].isel(time=k), true.isel(time=k), threshold=SOURCE_THRESHOLD)
            for k in range(em.sizes["time"])]

runs = [overpasses(seed) for seed in SEEDS]
rows = [{"days": n, "lifetime_factor": f, **s} for run in runs for n in (1, 2, 4, 8)
        for f in ((0.7, 1.0, 1.3) if n == DAYS else (1.0,)) for s in window_scores(run, n, f)]
windows = pd.DataFrame(rows)
errors = windows.explode("source_relative_error").astype({"source_relative_error": float})
errors["abs_error"] = errors["source_relative_error"].abs()
right = errors[errors.lifetime_factor == 1.0]
curve = pd.DataFrame({"median of the windows' median": windows[windows.lifetime_factor == 1.0]
                      .groupby("days")["source_error_median"].median(),
                      "mean": right.groupby("days")["abs_error"].mean(),
                      "90th percentile": right.groupby("days")["abs_error"].quantile(0.9),
                      "sources scored": right.groupby("days").size()})
last = errors[errors.days == DAYS]
lifetime = pd.DataFrame({"per-source error, median (signed)": last.groupby("lifetime_factor")["source_relative_error"].median(),
                         "domain-total bias [%]": windows[windows.days == DAYS].groupby("lifetime_factor")["total_bias_percent"].median()})
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
curve.drop(columns="sources scored").mul(100).plot(ax=axes[0], marker="o", logx=True)
axes[0].minorticks_off()
axes[0].set(xticks=[1, 2, 4, 8], xticklabels=[1, 2, 4, 8], xlabel="overpasses averaged N",
            ylabel="|per-source relative error| [%]", title=f"flux divergence, {len(runs)} multi-day runs")
lifetime.mul({"per-source error, median (signed)": 100, "domain-total bias [%]": 1}).plot.bar(ax=axes[1], rot=0)
axes[1].set(xlabel="lifetime used / true lifetime", ylabel="%", title=f"lifetime wrong by ±30 % (N = {DAYS})")
FIG["days_curve"] = {f"{n}": {"median": float(curve.iloc[i, 0]), "mean": float(curve.iloc[i, 1]),
                              "p90": float(curve.iloc[i, 2])} for i, n in enumerate(curve.index)}
FIG["lifetime"] = {f"{f:g}": {"source_error_signed": float(r.iloc[0]), "total_bias_percent": float(r.iloc[1])}
                   for f, r in lifetime.iterrows()}
display(curve.round(3), lifetime.round(3))"""),
    ("md", """## 4. Real TROPOMI over the Netherlands and Belgium

*Real data from the real data folder (`EOXR_REAL_DATA`).* Three real TROPOMI overpasses (17-18 December 2021)
regridded at 0.1° by HARP (qa ≥ 0.5), read by `eoxr.no2.open_l3` into `no2_column` (mol m⁻²). These files carry
no wind: the user brings one. **Here, as an illustration and not a result, a uniform 5 m s⁻¹ wind from the
south-west and a 4 h lifetime** (winter lifetimes are longer; a real study takes the ERA5 or ECMWF wind of each
overpass at the boundary-layer height). Clouds hid most of the inland Netherlands in all three overpasses
(white). The divergence of a three-overpass mean is noisy and strongest at the edges of the gaps; its hotspots
(the cells above the 98th percentile, marked ×) lie near known NOx sources: the Rhine-Meuse delta south-west of
Rotterdam's port, Ghent, and the Meuse valley from Namur to Liège with its industry and traffic. With an assumed
wind their positions and values are an illustration of the workflow, not emission estimates."""),
    ("code", """tropomi_dir = None if REAL is None else REAL / "tropomi_no2_l3_netherlands_202112"
if tropomi_dir is not None and tropomi_dir.exists():
    print((tropomi_dir / "PROVENANCE.txt").read_text()[:700])
    l3 = xr.concat([open_l3(p) for p in sorted(tropomi_dir.glob("S5P_*_L3__NO2___*.nc"))], dim="time")
    speed, from_deg = 5.0, 225.0        # the user's wind: 5 m s-1 from the south-west (blowing to the north-east)
    wind = {"u": -speed * np.sin(np.deg2rad(from_deg)), "v": -speed * np.cos(np.deg2rad(from_deg))}
    real = l3.assign({k: xr.full_like(l3["no2_column"], w).assign_attrs(units="m s-1") for k, w in wind.items()})
    em_real = real.no2.emissions(method="divergence", lifetime_h=4.0).compute()
    hotspots = em_real.no2.sources(threshold=float(em_real["emission"].quantile(0.98)), radius_km=20.0)
    fig, axes = plt.subplots(1, 2, figsize=(15, 5))
    (l3["no2_column"].mean("time") * 1e6).plot(ax=axes[0], cmap="viridis",
                                               cbar_kwargs={"label": "tropospheric NO2 column [µmol m-2]"})
    (em_real["emission"] * NMOL).plot(ax=axes[1], cmap="RdBu_r", robust=True, center=0,
                                      cbar_kwargs={"label": "NOx emission (as NO2) [nmol m-2 s-1]"})
    for ax in axes:
        ax.scatter(hotspots["lon"], hotspots["lat"], marker="x", color="k", s=60)
        ax.set(xlabel="longitude [°E]", ylabel="latitude [°N]")
    axes[0].set_title("TROPOMI, mean of 3 overpasses, 17-18 Dec 2021")
    axes[1].set_title("flux divergence with an assumed 5 m s-1 SW wind (illustration)")
    axes[1].quiver([3.0], [53.5], [wind["u"]], [wind["v"]], scale=30)
    display(hotspots[["emission", "lat", "lon", "cells"]].to_dataframe().round(3))
    FIG["tropomi"] = {"max_column_mol_m2": float(l3["no2_column"].max()),
                      "median_column_mol_m2": float(l3["no2_column"].median()),
                      "hotspots": [{"lat": float(a), "lon": float(o), "kg_s": float(e)} for a, o, e in
                                   zip(hotspots["lat"].values, hotspots["lon"].values, hotspots["emission"].values)]}
else:
    print("real data folder absent:", tropomi_dir)
    FIG["tropomi"] = None"""),
    ("md", """## 5. Real OMI over Romania: the spring 2020 lockdown

*Real data from the real data folder.* OMI L3 (OMNO2d, 0.25°): the monthly means of January-July 2020 and the
2015-2019 calendar-month climatology. The 2020 file's units attribute says `10^15molec/cm2`, but its values are
already in molec cm⁻²: read literally, a column would be 10³⁰ molecules per cm². `open_l3` reads it by its values
and says so in a warning (shown below). The climatology file holds the cloud-screened *total* column, the 2020
file a column named tropospheric, yet January-February 2020 match the climatology within a few per cent and the
two share their seasonal cycle: read the anomaly as a change of the column, not of the tropospheric column
alone. A monthly anomaly mixes the emission change with the weather of that month; January-February (before the
lockdown, from mid-March to mid-May 2020) show the size of that year-to-year noise."""),
    ("code", """omi_dir = None if REAL is None else REAL / "omi_no2_l3_romania"
if omi_dir is not None and omi_dir.exists():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monthly = open_l3(omi_dir / "OMI-Aura_L3-OMNO2d_monthly.nc")["no2_column"]
    said = [str(w.message) for w in caught if issubclass(w.category, eoxr.errors.EoxrWarning)]
    print("\\n".join(said))
    climatology = open_l3(omi_dir / "OMI-Aura_L3-OMNO2d_ymonmean_2015_2019.nc4")["no2_column"]
    climatology = climatology.assign_coords(time=climatology.time.dt.month).rename(time="month")
    monthly = monthly.assign_coords(time=monthly.time.dt.month).rename(time="month")
    climatology = climatology.assign_coords(y=monthly.y, x=monthly.x)   # one grid, stored in float32 and float64
    change = 100 * (monthly.mean(("y", "x")) / climatology.sel(month=monthly.month).mean(("y", "x")) - 1)
    bucharest = {"y": slice(44.8, 44.1), "x": slice(25.7, 26.5)}
    local = 100 * (monthly.sel(**bucharest).mean(("y", "x"))
                   / climatology.sel(month=monthly.month, **bucharest).mean(("y", "x")) - 1)
    april = monthly.sel(month=4) - climatology.sel(month=4)
    fig, axes = plt.subplots(1, 2, figsize=(15, 4.5))
    (april * 6.02214076e19 / 1e15).plot(ax=axes[0], cmap="RdBu_r", center=0,
                                         cbar_kwargs={"label": "April 2020 - April 2015-19 [1e15 molec cm-2]"})
    axes[0].plot(26.10, 44.43, "k*", ms=12); axes[0].annotate("Bucharest", (26.2, 44.5))
    axes[0].set(title="OMI NO2: April 2020 against the 2015-19 climatology", xlabel="longitude [°E]",
                ylabel="latitude [°N]")
    pd.DataFrame({"domain mean": change.values, "Bucharest (0.7° × 0.8° box)": local.values},
                 index=monthly.month.values).plot.bar(ax=axes[1], rot=0)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[1].set(xlabel="month of 2020", ylabel="change against 2015-19 [%]", title="monthly change")
    FIG["omi"] = {"units_corrected": bool(said), "max_column_mol_m2": float(monthly.max()),
                  "april_domain_change_percent": float(change.sel(month=4)),
                  "april_bucharest_change_percent": float(local.sel(month=4)),
                  "jan_feb_domain_change_percent": [float(change.sel(month=m)) for m in (1, 2)]}
    display(pd.DataFrame({"domain mean [%]": change.values, "Bucharest [%]": local.values},
                         index=pd.Index(monthly.month.values, name="month")).round(1).T)
else:
    print("real data folder absent:", omi_dir)
    FIG["omi"] = None"""),
    ("md", """## Key figures

The figures of this run, saved as `figures.json` beside the notebook (the tests hold them to bounds): each
method's per-source error on the sample scene, the error against the number of overpasses averaged, the effect
of a wrong lifetime, and the real-data figures."""),
    ("code", """FIG["seconds"] = time.perf_counter() - start
with open("figures.json", "w") as f:
    json.dump(FIG, f, indent=1, default=float)
FIG"""),
    ("md", """## Take-aways

* On a single noisy overpass the flux divergence at the right lifetime recovers the strong sources within a few
  per cent once they are integrated over their neighbourhood, but it has no value under clouds and on the edge;
  the networks fill the gaps and the VAE gives a spread; their per-source errors are in the table of section 2. `eoxr bench no2` scores all three over held-out
  simulations, under clouds and with wrong lifetimes, against the workflow's targets.
* Averaging overpasses lowers the divergence's per-source error until a floor set by what the steady-state
  assumption misses; the lifetime is its strongest assumption, above all for the diffuse (background) emission.
* On real TROPOMI columns the method runs as it is, given a wind; with the illustrative wind used here the
  hotspots fall where the known sources are, but their values are not emission estimates.
* OMI shows the spring 2020 drop of NO2 over Romania against 2015-19, once the file's wrong units are read right."""),
]


NOTEBOOK = Path(__file__).with_name("no2_emissions.ipynb")


def build():
    return nbbuild.build(CELLS)


if __name__ == "__main__":
    nbbuild.main(CELLS, NOTEBOOK)

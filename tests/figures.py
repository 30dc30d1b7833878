"""Bounds on the key figures that ``eoxr demo`` (``OUT/metrics.json``) and the notebooks (``figures.json``) record.

Scores against the known truth of the synthetic scenes, and the physical invariants the workflows keep (energy
closure of the urban forward model, conservation of the observed radiance by the LST methods): a physics bug moves
a figure out of its bounds, which a run that only checks for errors and pictures would not see. Bounds hold for the
quick and the full sizes, with room for other seeds' scatter.
"""
import math

# LST methods whose output aggregated back to the observation's grid is the observation (radiance domain)
CONSERVING = ("tsharp", "sisr", "sisr+corr", "disr-single", "disr", "disr+corr", "disr+match", "disr_corrected")


def _finite(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None and math.isfinite(v)}


def check_spine(fig: dict) -> None:
    assert fig["items"] == 3 and fig["epsg"] == 32631, fig
    valid = fig["valid_fraction_red"]
    assert valid[0] == 1.0 and valid[1] < 0.97, valid  # the second date has a cloud, masked
    assert -1.0 <= fig["ndvi_min"] < 0.0 < fig["ndvi_max"] <= 1.0, fig
    means = fig["mean"]
    assert means["nir"] > 2 * means["red"] and 0.02 < means["blue"] < means["green"] < 0.2, means  # vegetated


def check_urban_demo(fig: dict) -> None:
    assert fig["energy_closure_error"] < 1e-9, fig["energy_closure_error"]
    assert 0.1 < fig["albedo"] < 0.3 and 500 < fig["net_shortwave_W_m2"] < 1000, fig
    assert 600 < fig["emitted_longwave_W_m2"] < 850, fig
    assert fig["median_relative_residual"] < 0.03, fig  # the scenes carry 1 % noise
    assert all(0.0 < a < 0.6 for a in fig["element_albedo"].values()), fig["element_albedo"]
    assert all(285 < t < 335 for t in fig["element_temperature_K"].values()), fig["element_temperature_K"]


def check_lst_scores(scores: dict, ceiling_K: float) -> None:
    """``scores``: {method: {"rmse_K", "coarse_consistency_K", ...}} of super-resolution x4 against the truth."""
    rmse = {m: s["rmse_K"] for m, s in scores.items()}
    assert rmse["disr"] < rmse["tsharp"] < rmse["bicubic"] and rmse["disr"] < ceiling_K, rmse
    gaps = {m: s["coarse_consistency_K"] for m, s in scores.items()}
    assert all(gaps[m] < 0.01 for m in CONSERVING if m in gaps), gaps
    assert gaps["bicubic"] > 0.1, gaps  # bicubic does not conserve: the check is not vacuous


def check_lst_demo(fig: dict) -> None:
    check_lst_scores(fig, ceiling_K=1.3)


def check_rain_scores(scores: dict, min_correlation: float) -> None:
    """``scores``: {method: {"mae_mm_h", "correlation", "hss", ...}} of rain retrievals against the reference."""
    for method in ("bayes", "unet"):
        s = scores[method]
        assert s["correlation"] > min_correlation and s["hss"] > 0.35 and s["mae_mm_h"] < 0.4, (method, s)


def check_rain_demo(fig: dict) -> None:
    assert 0.01 < fig["reference_mean_mm_h"] < 2.0, fig  # a few per cent of the swath rains, lognormally
    check_rain_scores(fig, min_correlation=0.5)


def check_no2_demo(fig: dict) -> None:
    # the flux divergence at the simulation's lifetime on one noisy overpass with cloud gaps; a missing NOx/NO2
    # ratio (1.32) alone would make every source 24 % too weak
    assert fig["sources"] >= 2 and 2 <= fig["lifetime_h"] <= 8 and 0 < fig["cloud_fraction"] < 0.5, fig
    assert fig["source_error_median"] < 0.15 and fig["source_error_p90"] < 0.5, fig
    assert abs(fig["total_bias_percent"]) < 25, fig
    assert fig["true_total_kg_s"] > 1.0, fig


def check_pivot_demo(fig: dict) -> None:
    # four sensors fused daily on the sample scene; most days have no clear fine observation of a pixel
    assert fig["days"] == 120 and 0.5 < fig["no_clear_fine_fraction"] < 1.0, fig
    assert fig["reflectance_rmse"] < 0.025 and fig["reflectance_rmse_no_clear_fine"] < 0.025, fig
    assert fig["ndvi_rmse"] < 0.15 and 0 < fig["mean_reflectance_std"] < 0.05, fig


DEMO = {"spine": check_spine, "urban": check_urban_demo, "lst": check_lst_demo, "rain": check_rain_demo,
        "no2": check_no2_demo, "pivot": check_pivot_demo}


def check_urban_notebook(fig: dict) -> None:
    assert fig["energy_closure_error"] < 1e-9, fig["energy_closure_error"]
    r3, rf = _finite(fig["reflectance_rmse"]["3-D"]), _finite(fig["reflectance_rmse"]["flat"])
    assert len(r3) >= 5 and max(r3.values()) < 0.04, r3
    both = set(r3) & set(rf)
    assert sum(r3[e] for e in both) < 0.6 * sum(rf[e] for e in both), (r3, rf)
    albedo, net = fig["albedo_rmse"], fig["net_shortwave_rmse_W_m2"]
    assert albedo["3-D"] < 0.02 and albedo["3-D"] < albedo["flat"] / 3, albedo
    assert net["3-D"] < 40 and net["3-D"] < net["flat"] / 4, net
    temps = _finite(fig["temperature_rmse_K"])
    assert len(temps) >= 3 and max(temps.values()) < 3.5, temps
    assert fig["shift_m"] == [0.0, 0.0] and 1.0 < fig["psf_scale"] < 1.5, fig  # registered; PSF wider than nominal
    found = fig["sample_scene"]  # the image the notebook's search finds, inverted with the city model's rasters
    assert 0.1 < found["albedo"] < 0.3 and 500 < found["net_shortwave_W_m2"] < 1000, found
    assert found["median_relative_residual"] < 0.03, found  # the sample carries 1 % noise


def check_lst_notebook(fig: dict) -> None:
    check_lst_scores(fig["synthetic"], ceiling_K=1.3)
    # the bare DISR network does not conserve (the SISR one starts from bicubic plus conservation, and gives it
    # back exactly where its detail weight is 0)
    assert fig["synthetic"]["disr-raw"]["coarse_consistency_K"] > 0.05, fig["synthetic"]["disr-raw"]
    assert fig["radiance_mean_relative_gap"] < 1e-9, fig["radiance_mean_relative_gap"]  # degrade keeps mean T^4
    energy = fig["detail_energy_250m_K2"]
    assert 1 / 3 < energy["target"] / energy["truth"] < 3, energy
    if fig["real_rmse_K"] is not None:  # real thermal scenes, Wald's protocol on the test blocks
        real = fig["real_rmse_K"]
        assert len(real) == 5 and all(max(r.values()) < 2.0 for r in real.values()), real
        for scene, r in real.items():  # conservation helps; SISR never worse than it (its detail weighed)
            assert r["bicubic-cons"] < r["bicubic"] and r["sisr"] <= 1.001 * r["bicubic-cons"], (scene, r)
        assert sum(r["sisr"] / r["bicubic"] for r in real.values()) / len(real) < 0.96, real
        lodi = real["lodi"]  # a real guide (vegetation cover): DISR well ahead of TsHARP with it
        assert lodi["disr"] < 0.9 * lodi["tsharp"] and lodi["disr"] < lodi["bicubic-cons"], lodi


def check_rain_notebook(fig: dict) -> None:
    # rain warms the polarised sea at 10.65H; ice scattering cools 89V: the forward model's two signals
    assert fig["ocean_10H_warming_K"] > 30 and fig["land_89V_cooling_K"] > 30, fig
    # synthetic GMI against the real IPWG statistics: means within 5 %, spreads within 25 % (8-32 short scenes)
    assert fig["worst_mean_ratio_error"] < 0.05 and fig["worst_std_ratio_error"] < 0.25, fig
    check_rain_scores(fig["scores"], min_correlation=0.6)
    assert all(0.3 < s["spread_skill_ratio"] < 3 for s in fig["scores"].values()), fig["scores"]
    assert fig["chunked_vs_unchunked_mm_h"] < 1e-3, fig["chunked_vs_unchunked_mm_h"]  # the halo makes them equal
    assert all(0.3 < r <= 1 for r in fig["transfer_correlation"].values()), fig["transfer_correlation"]
    if fig["groundradar"] is not None:  # real DPR near-surface rain against the Brisbane ground radar
        assert fig["groundradar"]["correlation"] > 0.7 and fig["groundradar"]["hss"] > 0.5, fig["groundradar"]


def check_no2_notebook(fig: dict) -> None:
    # the sample overpass: the divergence at the true lifetime as in the demo; the networks (trained apart) within
    # a factor that a units or normalisation slip (x1e4, x1.32) would leave
    div = fig["sample"]["divergence"]
    assert div["sources"] >= 2 and div["source_error_median"] < 0.15 and div["source_error_p90"] < 0.5, div
    assert abs(div["total_bias_percent"]) < 25, div
    for method in ("smaat-unet", "vae"):
        s = fig["sample"][method]
        assert s["source_error_median"] < 0.5 and abs(s["total_bias_percent"]) < 50, (method, s)
    assert 1.0 < fig["sample_true_total_kg_s"] < 50, fig["sample_true_total_kg_s"]
    # averaging N overpasses: the noise averages out (mean and tail fall with N) down to a systematic floor
    curve = fig["days_curve"]
    means = [curve[n]["mean"] for n in ("1", "2", "4", "8")]
    assert all(a > b for a, b in zip(means, means[1:])) and curve["1"]["median"] < 0.2, curve
    assert curve["8"]["median"] < 0.85 * curve["1"]["median"] and curve["8"]["p90"] < 0.6 * curve["1"]["p90"], curve
    # a lifetime 30 % short inflates the sink V / tau by 43 %, one 30 % long shrinks it by 23 %: signs and sizes
    life = fig["lifetime"]
    assert abs(life["1"]["source_error_signed"]) < 0.05, life
    assert life["0.7"]["source_error_signed"] > life["1"]["source_error_signed"] + 0.03, life
    assert life["1.3"]["source_error_signed"] < life["1"]["source_error_signed"] - 0.02, life
    assert life["0.7"]["total_bias_percent"] > life["1"]["total_bias_percent"] + 20, life
    assert life["1.3"]["total_bias_percent"] < life["1"]["total_bias_percent"], life
    if fig["tropomi"] is not None:  # real TROPOMI tropospheric columns in mol m-2, a hotspot at Liege
        t = fig["tropomi"]
        assert 1e-4 < t["max_column_mol_m2"] < 1e-3 and 1e-5 < t["median_column_mol_m2"] < 2e-4, t
        assert any(abs(h["lat"] - 50.63) < 0.3 and abs(h["lon"] - 5.57) < 0.3 for h in t["hotspots"]), t
        assert all(0 < h["kg_s"] < 20 for h in t["hotspots"]), t
    if fig["omi"] is not None:  # the mislabelled units read right; the April 2020 drop, none before the lockdown
        o = fig["omi"]
        assert o["units_corrected"] and 2e-5 < o["max_column_mol_m2"] < 1e-3, o
        assert -25 < o["april_domain_change_percent"] < -5 and -25 < o["april_bucharest_change_percent"] < -3, o
        assert all(abs(c) < 8 for c in o["jan_feb_domain_change_percent"]), o


NOTEBOOKS = {"urban_radiative_budget": check_urban_notebook, "lst_superresolution": check_lst_notebook,
             "rain_retrieval": check_rain_notebook, "no2_emissions": check_no2_notebook}

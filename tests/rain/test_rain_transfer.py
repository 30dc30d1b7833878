"""Transfer to another radiometer: channel mapping, footprint matching, laziness, fine-tuning from a GMI network."""
import numpy as np
import pytest
import torch
import xarray as xr
from checks import assert_chunked_equals_unchunked

import eoxr  # noqa: F401
from eoxr.rain import learned, synth, transfer
from eoxr.rain.radiometers import AMSR2, GMI


def test_channels_map_to_the_nearest_frequency():
    amsr2 = transfer.channel_map("amsr2", "gmi")
    assert amsr2["10.65H"] == "10.65H" and amsr2["36.64V"] == "36.5V" and amsr2["89H"] == "89H"
    assert amsr2["166V"] is None and amsr2["183.31+-3V"] is None  # AMSR2 has no 166 / 183 GHz channel
    mhs = transfer.channel_map("mhs", "gmi")
    assert mhs["89V"] == "89QV" and mhs["166V"] == "157QV" and mhs["183.31+-3V"] == "183.31+-3QH"
    assert mhs["10.65V"] is None
    assert transfer.channel_map("atms", "gmi")["183.31+-7V"] == "183.31+-7QH"


def _impulse(sensor, scans=61, pixels=61):
    r = synth.get(sensor)
    tb = np.full((scans, pixels, len(r.channels)), 250.0)
    tb[scans // 2, pixels // 2] += 100.0
    return xr.DataArray(tb, dims=("along_track", "cross_track", "channel"),
                        coords={"channel": r.channel_names})


def _fwhm(profile, spacing):
    p = profile - profile.min()
    return spacing * np.sum(p >= p.max() / 2)


def test_finer_footprints_are_widened_to_the_targets():
    mapped = transfer.map_channels(_impulse("amsr2"), "amsr2", "gmi")
    # AMSR2 89 GHz (5 x 3 km) is finer than GMI's (7.2 x 4.4 km): widened to it, within a pixel
    along = mapped.sel(channel="89V").values[:, 30]
    assert _fwhm(along, AMSR2.scan_spacing) >= _fwhm(_impulse("amsr2").values[:, 30, 12], AMSR2.scan_spacing)
    sigma = transfer._extra_sigma(AMSR2.channel("89V"), GMI.channel("89V"), AMSR2)
    assert sigma[0] > 0 and sigma[1] > 0
    # AMSR2 10.65 GHz (42 x 24 km) is coarser than GMI's: left as it is
    np.testing.assert_array_equal(mapped.sel(channel="10.65V").values, _impulse("amsr2").sel(channel="10.65V").values)
    assert np.isnan(mapped.sel(channel="166V").values).all()
    assert "166V<-none" in mapped.attrs["channel_map"] and list(mapped.channel.values) == GMI.channel_names


def test_mapping_is_lazy_and_chunked_equals_unchunked():
    scene = synth.scene(801, "amsr2", scans=24, pixels=40)["brightness_temperature"]

    def run(tb):
        return transfer.map_channels(tb, "amsr2", "gmi")

    assert_chunked_equals_unchunked(run, scene, [{"along_track": 7, "cross_track": 9}], rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    gmi = list(synth.scenes(range(810, 813), "gmi", scans=24, pixels=64))
    path = tmp_path_factory.mktemp("transfer") / "gmi.ckpt"
    learned.fit(gmi, path, epochs=1, width=4, depth=2, patch={"y": 16, "x": 32}, stride={"y": 8, "x": 16},
                validation=None, device="cpu")
    return path


def test_a_transferred_network_starts_as_its_source(source):
    """Before any step, the network for AMSR2, fed AMSR2 data in their own normalisation, is the source network
    fed them in its (GMI) normalisation: the input map carries one onto the other."""
    from eoxr import ml
    from eoxr.ml import checkpoint

    amsr2 = list(synth.scenes(range(820, 822), "amsr2", scans=24, pixels=64))
    images = learned.training_images([transfer.mapped_scene(d) for d in amsr2])
    stats = ml.patches(images, [learned.INPUT_TB, learned.INPUT_SURFACE], learned.TARGET,
                       size={"y": 16, "x": 32}).statistics()
    src = checkpoint.load(source)
    tuned = learned.network(stats, src).eval()  # the source's architecture
    x = np.concatenate([images[learned.INPUT_TB].values, images[learned.INPUT_SURFACE].values], axis=1)[:1]

    def normalised(norm):
        mean = np.concatenate([norm[learned.INPUT_TB]["mean"], norm[learned.INPUT_SURFACE]["mean"]])
        std = np.concatenate([norm[learned.INPUT_TB]["std"], norm[learned.INPUT_SURFACE]["std"]])
        return torch.from_numpy(np.nan_to_num((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32))

    with torch.no_grad():
        a = tuned.physical(normalised(stats))
        b = src.build_model().physical(normalised(src.config["normalisation"]))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_fine_tuned_network_maps_amsr2_swaths_itself(source, tmp_path):
    from eoxr.ml import checkpoint

    amsr2 = list(synth.scenes(range(830, 832), "amsr2", scans=24, pixels=64))
    path = tmp_path / "amsr2.ckpt"
    fit = transfer.fine_tune(amsr2, path, init=source, fraction=0.5, steps=4, patch={"y": 16, "x": 32},
                             stride={"y": 8, "x": 16}, width=4, depth=2, device="cpu")
    meta = checkpoint.load(path).config["metadata"]
    assert meta["sensor"] == "amsr2" and meta["layout"] == "gmi" and meta["label_fraction"] == 0.5
    assert len(fit.log) >= 1
    out = amsr2[0].rain.retrieve(method="unet", model=path, device="cpu")
    assert np.isfinite(out["rain_rate"].values).all() and out.attrs["history"].count("rain.retrieve[unet]") == 1

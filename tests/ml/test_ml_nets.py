"""Shared networks: parameter counts against the published ones, shapes, registry, receptive fields."""
import pytest

torch = pytest.importorskip("torch")

from eoxr import ml  # noqa: E402
from eoxr.errors import CheckpointError  # noqa: E402


def test_smaat_unet_has_a_quarter_of_unet_parameters():
    # Trebing et al. (2021), table 1: U-Net 17.27 M, SmaAt-UNet 4.03 M parameters (12 input frames, width 64)
    unet = ml.nets.UNet(in_channels=12, out_channels=1, width=64, depth=4, upsample="bilinear")
    smaat = ml.nets.SmaAtUNet(in_channels=12, out_channels=1, width=64, depth=4)
    n_unet, n_smaat = ml.nets.count_parameters(unet), ml.nets.count_parameters(smaat)
    assert abs(n_unet - 17.27e6) / 17.27e6 < 0.01
    assert abs(n_smaat - 4.03e6) / 4.03e6 < 0.02
    assert 0.2 < n_smaat / n_unet < 0.3


@pytest.mark.parametrize("width,depth", [(8, 1), (16, 3)])
def test_unet_parameter_count_grows_with_width_and_depth(width, depth):
    small = ml.nets.count_parameters(ml.nets.UNet(in_channels=2, width=width, depth=depth))
    wider = ml.nets.count_parameters(ml.nets.UNet(in_channels=2, width=2 * width, depth=depth))
    deeper = ml.nets.count_parameters(ml.nets.UNet(in_channels=2, width=width, depth=depth + 1))
    assert 3.5 < wider / small < 4.1  # convolutions dominate: parameters scale with width squared
    assert deeper > 3 * small


@pytest.mark.parametrize("name,kwargs", [
    ("UNet", {"width": 4, "depth": 3}),
    ("UNet", {"width": 4, "depth": 2, "upsample": "bilinear"}),
    ("SmaAtUNet", {"width": 8, "depth": 3}),
    ("ConvVAE", {"width": 4, "depth": 2, "latent_channels": 3}),
])
@pytest.mark.parametrize("hw", [(32, 32), (37, 50)])
def test_forward_shape_any_size(name, kwargs, hw):
    model = ml.nets.build(name, in_channels=3, out_channels=2, seed=0, **kwargs).eval()
    out = model(torch.randn(2, 3, *hw))
    if name == "ConvVAE":
        out, mu, logvar = out
        lat = model.latent_shape(*hw)
        assert mu.shape == logvar.shape == (2, 3, *lat)
        draws = model.sample(torch.randn(2, 3, *hw), torch.randn(5, 2, 3, *lat))
        assert draws.shape == (5, 2, 2, *hw)
    assert out.shape == (2, 2, *hw)
    assert torch.isfinite(out).all()


def test_build_is_seeded_and_records_config():
    a = ml.nets.build("UNet", in_channels=2, width=4, depth=1, seed=3)
    b = ml.nets.build("UNet", in_channels=2, width=4, depth=1, seed=3)
    c = ml.nets.build("UNet", in_channels=2, width=4, depth=1, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    cfg = ml.nets.arch_config(a)
    assert cfg["name"] == "UNet" and cfg["kwargs"]["width"] == 4 and cfg["kwargs"]["in_channels"] == 2
    rebuilt = ml.nets.build(cfg["name"], **cfg["kwargs"])
    assert ml.nets.count_parameters(rebuilt) == ml.nets.count_parameters(a)


def test_register_domain_network_and_errors():
    @ml.nets.register("testdomain.Tiny")
    class Tiny(torch.nn.Module):
        def __init__(self, in_channels=1, out_channels=1, scale=2.0, **extra):
            super().__init__()
            self.conv = torch.nn.Conv2d(in_channels, out_channels, 3, padding=1)

        def forward(self, x):
            return self.conv(x)

    t = ml.nets.build("testdomain.Tiny", in_channels=2, scale=3.0, note="x")
    assert ml.nets.arch_config(t)["kwargs"] == {"in_channels": 2, "out_channels": 1, "scale": 3.0, "note": "x"}
    assert "testdomain.Tiny" in ml.nets.registered()
    # empirical receptive field of one 3x3 convolution: 3 pixels, plus the align margin (1 on each side)
    assert ml.nets.receptive_field(t) == 3 + 2
    with pytest.raises(CheckpointError, match="not JSON"):
        ml.nets.arch_config(Tiny(note=object()))
    with pytest.raises(CheckpointError, match="no network registered"):
        ml.nets.build("nodomain.Missing")
    with pytest.raises(CheckpointError, match="not a registered architecture"):
        ml.nets.arch_config(torch.nn.Conv2d(1, 1, 3))


@pytest.mark.parametrize("name,kwargs", [
    ("UNet", {"depth": 2}), ("SmaAtUNet", {"depth": 2}), ("ConvVAE", {"depth": 2}),
])
def test_declared_receptive_field_covers_measured_one(name, kwargs):
    model = ml.nets.build(name, in_channels=1, width=4, seed=0, **kwargs).eval()
    declared = ml.nets.receptive_field(model)
    size = 2 * declared + 16
    reach = torch.zeros(size, size, dtype=torch.bool)
    for _ in range(2):
        x = torch.randn(1, 1, size, size, requires_grad=True)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out[..., size // 2, size // 2].sum().backward()
        reach |= x.grad[0, 0] != 0
    rows = torch.nonzero(reach.any(dim=1)).flatten()
    assert rows.numel() > 0
    # every pixel that influences the centre lies within half the declared field of it
    assert int((rows - size // 2).abs().max()) <= declared // 2
    assert int(rows.max() - rows.min()) + 1 > declared // 2  # and the declared field is not wildly loose

"""MultiMAE: shapes, masked-mean latent (an absent sensor changes nothing), registry rebuild, locality."""
import pytest

torch = pytest.importorskip("torch")

from eoxr.ml import nets  # noqa: E402
from eoxr.pivot.model import MultiMAE  # noqa: E402

SENSORS = {"s2": [12, 2], "s1": [4, 2]}
HEADS = {"s2": 6, "s1": 2}


def net(seed=0):
    return nets.build("pivot.MultiMAE", seed=seed, sensors=SENSORS, heads=HEADS, latent=5, width=8).eval()


def inputs(seed=0, s1_present=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 20, 16, 16, generator=g)
    x[:, 12:14] = 1.0  # s2 observed on both days
    x[:, 18:20] = 1.0 if s1_present else 0.0
    return x


def test_output_layout_heads_then_latent():
    model = net()
    out = model(inputs())
    assert out.shape == (2, 6 + 2 + 5, 16, 16)
    assert model.in_channels == 20 and model.out_channels == 13
    torch.testing.assert_close(out[:, 8:], model.encode(inputs()))


def test_an_absent_sensor_changes_nothing():
    model = net()
    a, b = inputs(s1_present=False), inputs(s1_present=False)
    b[:, 14:18] = torch.randn(2, 4, 16, 16) * 10  # s1 values without a single observation mask
    with torch.no_grad():
        torch.testing.assert_close(model(a), model(b))
        only_s2 = nets.build("pivot.MultiMAE", sensors={"s2": [12, 2]}, heads=HEADS, latent=5, width=8).eval()
        only_s2.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("encoders.s1")})
        torch.testing.assert_close(model(a), only_s2(a[:, :14]))


def test_a_present_sensor_changes_the_latent():
    model = net()
    a, b = inputs(), inputs()
    b[:, 14:18] += 5.0
    with torch.no_grad():
        assert not torch.allclose(model.encode(a), model.encode(b))


def test_output_depends_only_on_the_declared_receptive_field():
    model = net()
    x = inputs()
    x.requires_grad_(True)
    model(x)[0, :, 8, 8].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)) > 0).flatten()
    assert int(rows.max() - rows.min()) + 1 == MultiMAE.receptive_field


def test_rebuilt_from_its_recorded_config():
    model = net()
    cfg = nets.arch_config(model)
    again = nets.build(cfg["name"], **cfg["kwargs"])
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again.eval()(inputs()), model(inputs()))

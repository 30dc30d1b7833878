"""A multimodal masked autoencoder: one encoder per sensor into a shared latent, one decoder per output.

The input is one tensor ``(batch, channels, H, W)`` that holds, sensor after sensor, that sensor's value
channels then its mask channels (1 where the value was observed, 0 where it is missing or hidden); the layout
is declared by name in ``sensors`` (``{"s2": [values, masks], ...}``, in the tensor's order). Each sensor's
encoder (two 3 x 3 convolutions and a 1 x 1 projection) maps its channels to ``latent`` features; the shared
latent of a pixel is the mean of the encodings of the sensors that observed it at least once (a masked mean),
so a sensor without any observation changes nothing, and the model works with any subset of sensors. Each
decoder (a 3 x 3 then a 1 x 1 convolution) maps the shared latent to one output (``heads``: ``{"s2": 6, ...}``).
The forward pass returns the heads' outputs then the latent along the channels.

Training hides observations (the masked-autoencoder objective of He et al. 2022, CVPR,
doi:10.1109/CVPR52688.2022.01553, here over sensors and days as in MultiMAE, Bachmann et al. 2022, ECCV,
doi:10.1007/978-3-031-19836-6_20) and asks every head to reconstruct what its sensor saw; see
:mod:`eoxr.pivot.learned`. Everything is local (receptive field 7 pixels), so halo prediction over chunks equals
one pass over the whole array.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ParameterError
from ..ml.nets import register


def _encoder(cin: int, width: int, latent: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.GELU(),
                         nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, latent, 1))


def _decoder(latent: int, width: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(latent, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, cout, 1))


@register("pivot.MultiMAE")
class MultiMAE(nn.Module):
    """Per-sensor encoders, a masked-mean shared latent, per-output decoders (see the module docstring).

    Parameters
    ----------
    sensors : dict
        ``{name: [value channels, mask channels]}`` in the order of the input tensor.
    heads : dict
        ``{name: output channels}`` in the order of the output tensor.
    latent, width : int
        Latent features (the embedding) and hidden channels of the encoders and decoders.
    """

    receptive_field = 7  # two 3 x 3 convolutions in the encoder, one in the decoder
    align = 1

    def __init__(self, sensors: dict | None = None, heads: dict | None = None, latent: int = 16, width: int = 32):
        super().__init__()
        if not sensors or not heads:
            raise ParameterError("MultiMAE needs sensors={'s2': [values, masks], ...} and heads={'s2': 6, ...}")
        bad = {k: v for k, v in sensors.items() if len(v) != 2 or v[1] < 1 or v[0] < 1}
        if bad:
            raise ParameterError(f"sensors {bad}: each needs [value channels >= 1, mask channels >= 1]")
        self.sensors = {k: (int(v[0]), int(v[1])) for k, v in sensors.items()}
        self.heads = {k: int(v) for k, v in heads.items()}
        self.latent = latent
        self.in_channels = sum(v + m for v, m in self.sensors.values())
        self.out_channels = sum(self.heads.values()) + latent
        self.encoders = nn.ModuleDict({k: _encoder(v + m, width, latent) for k, (v, m) in self.sensors.items()})
        self.decoders = nn.ModuleDict({k: _decoder(latent, width, c) for k, c in self.heads.items()})

    def split(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{sensor: (values, masks)}`` of an input tensor."""
        out, start = {}, 0
        for name, (nv, nm) in self.sensors.items():
            out[name] = (x[:, start:start + nv], x[:, start + nv:start + nv + nm])
            start += nv + nm
        return out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The shared latent ``(batch, latent, H, W)``: the mean of the encodings of the sensors present."""
        total = torch.zeros((x.shape[0], self.latent, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        count = torch.zeros((x.shape[0], 1, *x.shape[-2:]), dtype=x.dtype, device=x.device)
        for name, (values, masks) in self.split(x).items():
            present = (masks > 0.5).any(dim=1, keepdim=True).to(x.dtype)
            total = total + present * self.encoders[name](torch.cat([values, masks], dim=1))
            count = count + present
        return total / count.clamp(min=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encode(x)
        return torch.cat([self.decoders[name](z) for name in self.heads] + [z], dim=1)

"""Residual CNN for LST super-resolution on the fine grid (imports torch: load lazily).

The network sees the bicubic-upsampled LST (channel 0, K) and optionally fine guides (NDVI, reflectance,
emissivity; channels 1..). It predicts a residual added to the upsampled LST, as in VDSR (Kim, Lee & Lee
2016, CVPR, doi:10.1109/CVPR.2016.182) and the residual LST super-resolution networks of Nguyen, Tian, Vo,
Michel, Corpetti & Granero-Belinchon (2022, "Convolutional neural network modeling for land surface
temperature super-resolution", EUSIPCO 2022).

Inputs are made translation-invariant in temperature: the LST enters as its local anomaly (LST minus a
``pool`` x ``pool`` moving mean) divided by ``t_scale`` K, so the model trained on one climate applies to
another. Guides enter standardised (fixed ``guide_mean``/``guide_std`` from training) and as local anomalies.
Everything is local (no global pooling, no batch statistics), so halo prediction over chunks equals one
pass over the whole image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ml import nets


def _local_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    pad = size // 2
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad), mode="replicate"), size, stride=1)


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c1 = nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate")
        self.c2 = nn.Conv2d(width, width, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(x))))


@nets.register("lst.ResidualSR")
class ResidualSR(nn.Module):
    """LST (K) on the fine grid = upsampled LST + t_scale * CNN(local anomalies, guides).

    in_channels: 1 (single image, SISR) or 1 + number of guides (dual image, DISR).
    width, blocks: feature channels and residual blocks (each two 3x3 convolutions).
    pool: size (fine pixels) of the moving mean that defines the local anomalies.
    t_scale: temperature scale (K) of the anomalies. guide_mean, guide_std: per-guide standardisation.
    gain, offset: initial values of the learned affine map from the input LST to the output's units
        (when input and target are standardised with different statistics: gain = std_in / std_out,
        offset = (mean_in - mean_out) / std_out).
    """

    def __init__(self, in_channels: int = 1, width: int = 24, blocks: int = 4, pool: int = 9,
                 t_scale: float = 5.0, guide_mean: list | None = None, guide_std: list | None = None,
                 gain: float = 1.0, offset: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        self.pool = pool
        self.t_scale = t_scale
        n_guides = in_channels - 1
        gm = guide_mean if guide_mean is not None else [0.0] * n_guides
        gs = guide_std if guide_std is not None else [1.0] * n_guides
        self.register_buffer("guide_mean", torch.tensor(gm, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("guide_std", torch.tensor(gs, dtype=torch.float32).view(1, -1, 1, 1))
        features = 1 + 2 * n_guides
        self.head = nn.Conv2d(features, width, 3, padding=1, padding_mode="replicate")
        self.body = nn.Sequential(*[_Block(width) for _ in range(blocks)])
        self.tail = nn.Conv2d(width, 1, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.tail.weight)  # start as the identity: output = upsampled LST
        nn.init.zeros_(self.tail.bias)
        self.gain = nn.Parameter(torch.tensor(float(gain)))
        self.offset = nn.Parameter(torch.tensor(float(offset)))
        self.receptive_field = 2 * (pool // 2 + 2 + 2 * blocks) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x[:, :1]
        feats = [(t - _local_mean(t, self.pool)) / self.t_scale]
        if x.shape[1] > 1:
            g = (x[:, 1:] - self.guide_mean) / self.guide_std
            feats += [g, g - _local_mean(g, self.pool)]
        h = self.body(self.head(torch.cat(feats, dim=1)))
        return self.gain * t + self.offset + self.t_scale * self.tail(F.relu(h))

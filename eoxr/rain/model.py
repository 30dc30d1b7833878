"""The rain U-Net: rain rate, its spread and the probability of rain from a swath image (imports torch).

A U-Net (:class:`eoxr.ml.nets.UNet`, Ronneberger et al. 2015) sees every channel's brightness temperature and
the surface type over a neighbourhood of the swath, so it can use what a pixel-by-pixel retrieval cannot: the
shape of rain systems, the low-frequency footprints blurred over their neighbours, the ice displaced from the
rain it falls from (the approach of LATMOS's DRAIN and of GPROF-NN, Pfreundschuh, Brown, Kummerow, Eriksson &
Norrestad 2022, AMT 15, 5033-5060, doi:10.5194/amt-15-5033-2022). Three heads give, in physical units:

- the rain rate (mm h-1, softplus: never negative), trained by the squared error: the conditional mean;
- its spread (mm h-1), trained by the Gaussian negative log-likelihood of the rain around the (fixed) mean:
  the conditional standard deviation, floored at 0.01 mm h-1;
- the probability of rain >= 0.1 mm h-1 (sigmoid), trained by the binary cross-entropy.

:func:`eoxr.ml.train` feeds inputs and targets normalised with the training data's statistics; the network
undoes the target normalisation inside its heads and applies it again at the end (``target_mean``,
``target_std``), so :func:`eoxr.ml.predict` returns physical values. ``input_gain``/``input_offset`` map
the inputs' normalisation onto the one the U-Net learned with: identity when trained from scratch, the
source sensor's when a network is fine-tuned on another radiometer (:mod:`eoxr.rain.transfer`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ml import nets

SPREAD_FLOOR = 0.01  # mm h-1
RAIN_THRESHOLD = 0.1  # mm h-1
LOSS_WEIGHTS = {"mean": 1.0, "spread": 0.1, "probability": 0.3}
INITIAL_BIAS = [-3.0, -1.0, -2.5]  # raw rate, spread and probability heads


@nets.register("rain.RainUNet")
class RainUNet(nn.Module):
    """U-Net with rain-rate, spread and probability heads; see the module docstring.

    in_channels: brightness temperatures + surface classes. target_mean, target_std: the normalisation of
    the three targets (rain rate, rain rate, rain flag) that :func:`eoxr.ml.train` applies. input_gain,
    input_offset: per input channel, x_unet = gain x + offset (default identity). rate_scale (mm h-1): the
    unit of the rate and spread heads (the training rain's standard deviation; kept when fine-tuning, so the
    heads mean the same). norm: the U-Net's normalisation layers ("batch" or None).
    """

    def __init__(self, in_channels: int = 17, width: int = 16, depth: int = 2, target_mean: list | None = None,
                 target_std: list | None = None, input_gain: list | None = None, input_offset: list | None = None,
                 rate_scale: float = 1.0, norm: str | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.rate_scale = float(rate_scale)
        self.unet = nets.UNet(in_channels=in_channels, out_channels=3, width=width, depth=depth, norm=norm)
        self.register_buffer("target_mean", torch.tensor(target_mean or [0.0, 0.0, 0.0]).view(1, 3, 1, 1))
        self.register_buffer("target_std", torch.tensor(target_std or [1.0, 1.0, 1.0]).view(1, 3, 1, 1))
        self.register_buffer("gain", torch.tensor(input_gain or [1.0] * in_channels).view(1, -1, 1, 1))
        self.register_buffer("offset", torch.tensor(input_offset or [0.0] * in_channels).view(1, -1, 1, 1))
        with torch.no_grad():  # start dry: little rain, a small probability (most pixels do not rain)
            self.unet.head.bias.copy_(torch.tensor(INITIAL_BIAS))

    @property
    def receptive_field(self) -> int:
        return self.unet.receptive_field

    @property
    def align(self) -> int:
        return self.unet.align

    def physical(self, x: torch.Tensor) -> torch.Tensor:
        """Rain rate (mm h-1), spread (mm h-1) and probability ``(batch, 3, H, W)`` of normalised inputs ``x``."""
        raw = self.unet(x * self.gain + self.offset)
        rate = F.softplus(raw[:, :1]) * self.rate_scale  # raw outputs stay O(1)
        spread = F.softplus(raw[:, 1:2]) * self.rate_scale + SPREAD_FLOOR
        return torch.cat([rate, spread, torch.sigmoid(raw[:, 2:])], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.physical(x) - self.target_mean) / self.target_std

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared error of the mean + Gaussian NLL of the spread + cross-entropy of the probability, on the
        pixels with a reference (``out``, ``target`` normalised as :func:`eoxr.ml.train` gives them)."""
        phys = out * self.target_std + self.target_mean
        truth = target * self.target_std + self.target_mean
        ok = torch.isfinite(truth[:, 0])
        scale = self.target_std[0, 0, 0, 0]
        rate, spread, prob = phys[:, 0][ok], phys[:, 1][ok], phys[:, 2][ok]
        rain = truth[:, 0][ok]
        mse = torch.mean(((rate - rain) / scale) ** 2)
        z = (rain - rate.detach()) / spread
        nll = torch.mean(torch.log(spread / scale) + 0.5 * z**2)
        bce = F.binary_cross_entropy(prob.clamp(1e-6, 1 - 1e-6), (rain >= RAIN_THRESHOLD).float())
        w = LOSS_WEIGHTS
        return w["mean"] * mse + w["spread"] * nll + w["probability"] * bce

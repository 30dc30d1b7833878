"""Shared networks (U-Net, SmaAt-UNet, convolutional VAE) and the architecture registry.

Every architecture is rebuilt at predict time from the JSON config stored in the checkpoint: the
``register(name)`` class decorator records the keyword arguments each instance was built with, and
``build(name, **kwargs)`` makes a new instance. Domains register their own networks the same way
(``@ml.nets.register("lst.ResidualSR")`` in ``eoxr/lst/model.py``).

All networks here are fully convolutional and local: the output at a pixel depends only on inputs within
``receptive_field`` pixels, so halo prediction over chunks equals one forward over the whole array. They pad
their input at the bottom/right to a multiple of ``align`` (2**depth, the pooling factor) and crop back.
Normalisation layers are BatchNorm (pointwise at inference); nothing pools over the whole image.

References:
- Ronneberger, Fischer, Brox (2015) U-Net: convolutional networks for biomedical image segmentation,
  MICCAI, doi:10.1007/978-3-319-24574-4_28.
- Trebing, Stanczyk, Mehrkanoon (2021) SmaAt-UNet: precipitation nowcasting using a small attention-UNet
  architecture, Pattern Recognition Letters 145, 178-186, doi:10.1016/j.patrec.2021.01.036.
- Woo, Park, Lee, Kweon (2018) CBAM: convolutional block attention module, ECCV,
  doi:10.1007/978-3-030-01234-2_1.
- Kingma, Welling (2014) Auto-encoding variational Bayes, ICLR, arXiv:1312.6114.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ParameterError

_REGISTRY: dict[str, type] = {}


def register(name: str):
    """Class decorator: register an ``nn.Module`` subclass under ``name`` and record its init kwargs.

    The recorded kwargs (``model.arch_config``) must be JSON values: they are written into checkpoints.
    """

    def deco(cls):
        init = cls.__init__
        sig = inspect.signature(init)

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            params = {}
            for key, value in list(bound.arguments.items())[1:]:
                if sig.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                    params.update(value)
                elif sig.parameters[key].kind is inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        raise ParameterError(f"{name}: registered networks take keyword arguments only; pass "
                                             f"nets.build({name!r}, in_channels=..., width=...)")
                else:
                    params[key] = value
            init(self, *args, **kwargs)
            # the outermost registered class runs last and wins, so subclasses record their own name
            object.__setattr__(self, "_eoxr_arch", {"name": name, "module": cls.__module__, "kwargs": params})

        cls.__init__ = __init__
        cls.arch_name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def registered() -> list[str]:
    """Names of the architectures known to this process."""
    return sorted(_REGISTRY)


def build(name: str, module: str | None = None, seed: int | None = None, **kwargs) -> nn.Module:
    """Build the architecture registered as ``name``; ``module`` is imported first if it is not registered yet.

    ``seed`` makes the initial weights reproducible without touching the global torch RNG.
    """
    if name not in _REGISTRY:
        candidates = [module] if module else []
        if "." in name:  # "lst.ResidualSR" lives in eoxr/lst/model.py
            candidates.append(f"eoxr.{name.split('.')[0]}.model")
        for mod in candidates:
            try:
                importlib.import_module(mod)
            except ImportError:
                continue
            if name in _REGISTRY:
                break
    if name not in _REGISTRY:
        raise CheckpointError(
            f"no network registered as {name!r}; known: {registered()}. Import the module that defines it "
            f"(decorated with @eoxr.ml.nets.register({name!r})) before loading the checkpoint."
        )
    cls = _REGISTRY[name]
    if seed is None:
        return cls(**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(**kwargs)


def arch_config(model: nn.Module) -> dict:
    """``{"name", "module", "kwargs"}`` of a registered network, checked to be JSON-serialisable."""
    cfg = getattr(model, "_eoxr_arch", None)
    if cfg is None:
        raise CheckpointError(
            f"{type(model).__name__} is not a registered architecture, so a checkpoint could not rebuild it; "
            "decorate the class with @eoxr.ml.nets.register('domain.Name')."
        )
    try:
        json.dumps(cfg)
    except TypeError as err:
        raise CheckpointError(
            f"{cfg['name']} was built with arguments that are not JSON values ({err}); pass plain numbers, "
            "strings, lists or dicts so the checkpoint can rebuild it."
        ) from None
    return json.loads(json.dumps(cfg))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(model: nn.Module, size: int = 64) -> int:
    """Width in pixels of the input window one output pixel depends on.

    Uses the ``receptive_field`` attribute when the class declares one (all networks here do, computed
    from their layers); otherwise measures it from the gradient of the centre output pixel on random inputs
    of ``size`` x ``size`` and adds the network's ``align`` as a margin (max-pooling routes gradients to one
    pixel of each window, so the measurement can fall short by up to that).
    """
    declared = getattr(model, "receptive_field", None)
    if declared is not None:
        return int(declared)
    align = int(getattr(model, "align", 1))
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    in_ch = getattr(model, "in_channels", None) or (param.shape[1] if param is not None and param.dim() == 4 else 1)
    reach = torch.zeros(size, size, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        x = torch.randn(1, in_ch, size, size, generator=gen, requires_grad=True)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out[..., size // 2, size // 2].sum().backward()
        reach |= x.grad.abs().sum(dim=(0, 1)) > 0
    model.train(was_training)
    rows = torch.nonzero(reach.any(dim=1)).flatten()
    cols = torch.nonzero(reach.any(dim=0)).flatten()
    if rows.numel() == 0:
        return 1
    extent = max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
    if extent >= size:
        raise CheckpointError(
            f"{type(model).__name__}: receptive field reaches the {size}-pixel probe's edges; declare a "
            "`receptive_field` class attribute or pass halo= to predict."
        )
    return extent + 2 * align


class _RF:
    """Receptive field arithmetic along the deepest path: r grows by (k-1)*jump for each k x k layer."""

    def __init__(self):
        self.r, self.jump = 1, 1

    def conv(self, k: int, n: int = 1):
        self.r += n * (k - 1) * self.jump

    def down(self):  # 2x2 pooling with stride 2
        self.r += self.jump
        self.jump *= 2

    def up(self, k: int = 1):  # nearest/transposed (k=1) or bilinear (k=3) upsampling by 2
        self.r += (k - 1) * self.jump
        self.jump //= 2


class _UShaped:
    """Encoder pass, ``align`` and ``receptive_field`` of a U-shaped net with ``depth`` 2x2 poolings and two 3x3
    convolutions per level, on the way down, at the bottleneck and on the way up."""

    depth: int

    def _up_kernel(self) -> int:
        """Kernel of the upsampling by 2: 1 for transposed/nearest, 3 for bilinear."""
        return 1

    def _bottleneck_kernels(self) -> tuple[int, ...]:
        """Kernels of the extra layers after the bottleneck's double convolution."""
        return ()

    def _encoder_features(self, x):
        """Output of each encoder level of ``self.down``, with 2x2 max-pooling between levels."""
        features = []
        for level, block in enumerate(self.down):
            if level:
                x = F.max_pool2d(x, 2)
            x = block(x)
            features.append(x)
        return features

    @property
    def align(self) -> int:
        """Input sizes are padded to a multiple of this (pixels)."""
        return 2**self.depth

    @property
    def receptive_field(self) -> int:
        """Width in pixels of the input window one output pixel depends on (deepest path)."""
        rf = _RF()
        for _ in range(self.depth):
            rf.conv(3, 2)
            rf.down()
        rf.conv(3, 2)
        for k in self._bottleneck_kernels():
            rf.conv(k)
        for _ in range(self.depth):
            rf.up(self._up_kernel())
            rf.conv(3, 2)
        return rf.r


def _pad_to(x: torch.Tensor, align: int) -> tuple[torch.Tensor, int, int]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % align, (-w) % align
    if ph or pw:
        # replicate is local: an edge tile sees the same padding as the whole array at that edge
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, h, w


def _norm(kind: str | None, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind in (None, "none"):
        return nn.Identity()
    raise ParameterError(f"norm must be 'batch' or None, not {kind!r}: group and layer norms pool over the image, "
                         "which halo prediction cannot reproduce chunk by chunk")


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str | None, mid: int | None = None):
        bias = norm in (None, "none")
        mid = mid or cout
        super().__init__(
            nn.Conv2d(cin, mid, 3, padding=1, bias=bias), _norm(norm, mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 3, padding=1, bias=bias), _norm(norm, cout), nn.ReLU(inplace=True),
        )


@register("UNet")
class UNet(_UShaped, nn.Module):
    """U-Net (Ronneberger et al. 2015) with ``depth`` poolings and ``width`` channels at full resolution.

    Input ``(batch, in_channels, H, W)`` in normalised units, output ``(batch, out_channels, H, W)``.
    Any H, W works (padded internally to a multiple of ``2**depth``). ``upsample="transpose"`` uses 2x2
    transposed convolutions; ``"bilinear"`` uses bilinear upsampling with a halved bottleneck (the U-Net
    that Trebing et al. 2021 compare SmaAt-UNet with).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 3,
                 norm: str | None = "batch", upsample: str = "transpose"):
        super().__init__()
        if depth < 0 or width < 1:
            raise ParameterError(f"UNet needs depth >= 0 and width >= 1, not depth={depth}, width={width}; "
                                 "e.g. depth=3, width=32")
        if upsample not in ("transpose", "bilinear"):
            raise ParameterError(f"upsample must be 'transpose' or 'bilinear', not {upsample!r}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.upsample = upsample
        widths = [width * 2**level for level in range(depth + 1)]
        if upsample == "bilinear" and depth:
            widths[depth] //= 2
        self.down = nn.ModuleList(
            [_DoubleConv(in_channels, widths[0], norm)]
            + [_DoubleConv(widths[lv - 1], widths[lv], norm) for lv in range(1, depth + 1)]
        )
        if upsample == "transpose":
            self.up = nn.ModuleList(
                [nn.ConvTranspose2d(widths[lv + 1], widths[lv], 2, stride=2) for lv in range(depth)]
            )
            self.dec = nn.ModuleList([_DoubleConv(2 * widths[lv], widths[lv], norm) for lv in range(depth)])
        else:
            dec_out = [widths[0]] + [widths[lv] // 2 for lv in range(1, depth)]
            dec_in = [widths[lv] + (widths[depth] if lv == depth - 1 else dec_out[lv + 1]) for lv in range(depth)]
            self.up = nn.ModuleList([nn.Upsample(scale_factor=2, mode="bilinear") for _ in range(depth)])
            self.dec = nn.ModuleList(
                [_DoubleConv(dec_in[lv], dec_out[lv], norm, mid=dec_in[lv] // 2) for lv in range(depth)]
            )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def _up_kernel(self) -> int:
        return 3 if self.upsample == "bilinear" else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, h, w = _pad_to(x, self.align)
        skips = self._encoder_features(x)
        x = skips[-1]
        for level in reversed(range(self.depth)):
            x = self.up[level](x)
            x = self.dec[level](torch.cat([skips[level], x], dim=1))
        return self.head(x)[..., :h, :w]


class _DSConv(nn.Sequential):
    """Depthwise-separable 3x3 convolution: depthwise (kernels_per_layer per channel) then 1x1 pointwise."""

    def __init__(self, cin: int, cout: int, kernels_per_layer: int = 2):
        super().__init__(
            nn.Conv2d(cin, cin * kernels_per_layer, 3, padding=1, groups=cin),
            nn.Conv2d(cin * kernels_per_layer, cout, 1),
        )


class _DoubleConvDS(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str | None, kernels_per_layer: int = 2, mid: int | None = None):
        mid = mid or cout
        super().__init__(
            _DSConv(cin, mid, kernels_per_layer), _norm(norm, mid), nn.ReLU(inplace=True),
            _DSConv(mid, cout, kernels_per_layer), _norm(norm, cout), nn.ReLU(inplace=True),
        )


class _CBAM(nn.Module):
    """Convolutional block attention (Woo et al. 2018): channel attention, then 7x7 spatial attention.

    The channel attention pools over a ``window`` x ``window`` neighbourhood rather than the whole image, so
    the block stays local and tiled prediction equals whole-image prediction.
    """

    def __init__(self, channels: int, reduction: int = 16, window: int = 7):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.window = window
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, p = self.window, self.window // 2
        avg = F.avg_pool2d(x, k, stride=1, padding=p, count_include_pad=False)
        mx = F.max_pool2d(x, k, stride=1, padding=p)
        x = x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(s))


@register("SmaAtUNet")
class SmaAtUNet(_UShaped, nn.Module):
    """SmaAt-UNet (Trebing et al. 2021): U-Net with depthwise-separable convolutions, CBAM attention on the
    skip connections and bilinear upsampling; about a quarter of a same-width U-Net's parameters.

    Input ``(batch, in_channels, H, W)``, output ``(batch, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 4,
                 kernels_per_layer: int = 2, reduction: int = 16, attention_window: int = 7,
                 norm: str | None = "batch"):
        super().__init__()
        if depth < 1:
            raise ParameterError(f"SmaAtUNet needs depth >= 1, not {depth}; e.g. depth=4")
        if attention_window % 2 != 1:
            raise ParameterError(f"attention_window must be odd (centred on the pixel), not {attention_window}; "
                                 "e.g. 7")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.attention_window = attention_window
        widths = [width * 2**level for level in range(depth + 1)]
        widths[depth] //= 2  # bilinear upsampling keeps channels: halve the bottleneck as in the paper
        kpl = kernels_per_layer
        self.down = nn.ModuleList(
            [_DoubleConvDS(in_channels, widths[0], norm, kpl)]
            + [_DoubleConvDS(widths[lv - 1], widths[lv], norm, kpl) for lv in range(1, depth + 1)]
        )
        self.att = nn.ModuleList([_CBAM(c, reduction, attention_window) for c in widths])
        dec_out = [widths[0]] + [widths[lv] // 2 for lv in range(1, depth)]
        dec_in = [widths[lv] + (widths[depth] if lv == depth - 1 else dec_out[lv + 1]) for lv in range(depth)]
        self.dec = nn.ModuleList(
            [_DoubleConvDS(dec_in[lv], dec_out[lv], norm, kpl, mid=dec_in[lv] // 2) for lv in range(depth)]
        )
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def _up_kernel(self) -> int:
        return 3  # bilinear

    def _bottleneck_kernels(self) -> tuple[int, ...]:
        return (self.attention_window, 7)  # CBAM: windowed channel attention, then 7x7 spatial attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, h, w = _pad_to(x, self.align)
        skips = [attend(f) for attend, f in zip(self.att, self._encoder_features(x))]
        x = skips[-1]
        for level in reversed(range(self.depth)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self.dec[level](torch.cat([skips[level], x], dim=1))
        return self.head(x)[..., :h, :w]


class VAEOutput(NamedTuple):
    """ConvVAE forward: prediction (normalised target units) and the latent Gaussian's mean and log-variance."""

    out: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor


@register("ConvVAE")
class ConvVAE(_UShaped, nn.Module):
    """Conditional convolutional VAE (Kingma & Welling 2014) for a target map given input maps.

    An encoder (U-Net encoder) maps the inputs to a spatial latent Gaussian (``latent_channels`` maps at
    1/2**depth resolution): ``forward`` returns :class:`VAEOutput` (prediction, mu, logvar). In training
    z is sampled with the reparameterisation trick; in eval z = mu. ``sample(x, noise)`` decodes several z
    draws for uncertainty. ``training_loss`` adds ``beta`` x the KL divergence to the reconstruction loss.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 32, depth: int = 3,
                 latent_channels: int = 8, beta: float = 1e-3, norm: str | None = "batch"):
        super().__init__()
        if depth < 1:
            raise ParameterError(f"ConvVAE needs depth >= 1, not {depth}; e.g. depth=3")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.latent_channels, self.beta = latent_channels, beta
        widths = [width * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList(
            [_DoubleConv(in_channels, widths[0], norm)]
            + [_DoubleConv(widths[lv - 1], widths[lv], norm) for lv in range(1, depth + 1)]
        )
        self.to_mu = nn.Conv2d(widths[depth], latent_channels, 1)
        self.to_logvar = nn.Conv2d(widths[depth], latent_channels, 1)
        self.from_latent = nn.Sequential(nn.Conv2d(latent_channels, widths[depth], 1), nn.ReLU(inplace=True))
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[lv + 1], widths[lv], 2, stride=2) for lv in range(depth)])
        self.dec = nn.ModuleList([_DoubleConv(2 * widths[lv], widths[lv], norm) for lv in range(depth)])
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def latent_shape(self, h: int, w: int) -> tuple[int, int]:
        """Latent grid size for an ``h`` x ``w`` input."""
        return math.ceil(h / self.align), math.ceil(w / self.align)

    def _encode(self, x):
        skips = self._encoder_features(x)
        x = skips[-1]
        return skips, self.to_mu(x), self.to_logvar(x).clamp(-20.0, 10.0)

    def _decode(self, z, skips, h, w):
        x = self.from_latent(z)
        for level in reversed(range(self.depth)):
            x = self.up[level](x)
            x = self.dec[level](torch.cat([skips[level], x], dim=1))
        return self.head(x)[..., :h, :w]

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> VAEOutput:
        x, h, w = _pad_to(x, self.align)
        skips, mu, logvar = self._encode(x)
        if noise is None and self.training:
            noise = torch.randn_like(mu)
        z = mu if noise is None else mu + torch.exp(0.5 * logvar) * noise
        return VAEOutput(self._decode(z, skips, h, w), mu, logvar)

    @torch.no_grad()
    def sample(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Decode one output per standard-normal ``noise`` draw ``(n, batch, latent_channels, *latent_shape)``;
        returns ``(n, batch, out_channels, H, W)``."""
        x, h, w = _pad_to(x, self.align)
        skips, mu, logvar = self._encode(x)
        std = torch.exp(0.5 * logvar)
        return torch.stack([self._decode(mu + std * eps, skips, h, w) for eps in noise])

    def training_loss(self, output: VAEOutput, target: torch.Tensor, reconstruction) -> torch.Tensor:
        """Reconstruction loss + beta * KL(q(z|x) || N(0, 1)) averaged over latent elements."""
        kl = -0.5 * torch.mean(1 + output.logvar - output.mu.pow(2) - output.logvar.exp())
        return reconstruction(output.out, target) + self.beta * kl

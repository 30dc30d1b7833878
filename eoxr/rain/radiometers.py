"""Channel tables of the GPM constellation radiometers used for precipitation: GMI, AMSR2, SSMIS, ATMS, MHS.

Each channel has its centre frequency (GHz), polarisation (``V``/``H``; ``QV``/``QH`` for the quasi-vertical
and quasi-horizontal channels of cross-track sounders, whose polarisation rotates with the scan angle), the
double-sideband offset of the 183.31 GHz water-vapour channels (GHz), the half-power footprint along the look
direction and across it (km) and the noise-equivalent temperature difference (NEdT, K). Footprints of the
cross-track sounders are their nadir values; the scan geometry (incidence angle, swath sampling) is the
radiometer's. Sounding channels in the 50-60 GHz oxygen band are left out: they see temperature, not rain.

Sources (nominal pre-launch or specification values; on-orbit NEdT are often lower):

- GMI: Draper, Newell, Wentz, Krimchansky & Skofronick-Jackson (2015), "The Global Precipitation Measurement
  (GPM) Microwave Imager (GMI): instrument overview and early on-orbit performance", IEEE JSTARS 8(7),
  3452-3462, doi:10.1109/JSTARS.2015.2403303.
- AMSR2: Imaoka, Kachi, Fujii, Murakami, Hori, Ono, Igarashi, Nakagawa, Oki, Honda & Shimoda (2010), "Global
  Change Observation Mission (GCOM) for monitoring carbon, water cycles, and climate change", Proc. IEEE 98(5),
  717-734, doi:10.1109/JPROC.2010.2043918.
- SSMIS: Kunkee, Poe, Boucher, Swadley, Hong, Wessel & Uliana (2008), "Design and evaluation of the first
  Special Sensor Microwave Imager/Sounder", IEEE TGRS 46(4), 863-883, doi:10.1109/TGRS.2008.917980.
- ATMS: Weng, Zou, Wang, Yang & Goldberg (2012), "Introduction to Suomi national polar-orbiting partnership
  advanced technology microwave sounder for numerical weather prediction and tropical cyclone applications",
  JGR 117, D19112, doi:10.1029/2012JD018144.
- MHS: Bonsignori (2007), "The Microwave Humidity Sounder (MHS): in-orbit performance assessment", Proc. SPIE
  6744, doi:10.1117/12.737986.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError


@dataclass(frozen=True)
class Channel:
    """One radiometer channel: frequency (GHz), polarisation, sideband offset (GHz), footprint (km), NEdT (K)."""

    frequency: float
    polarization: str
    offset: float
    footprint_along: float
    footprint_cross: float
    nedt: float

    @property
    def name(self) -> str:
        """The channel label used by :func:`eoxr.io.open_product` for GMI: ``"89V"``, ``"183.31+-3V"``."""
        side = f"+-{self.offset:g}" if self.offset else ""
        return f"{self.frequency:g}{side}{self.polarization}"


@dataclass(frozen=True)
class Radiometer:
    """A radiometer: its channels and scan geometry.

    ``scan``: ``"conical"`` (constant ``incidence`` angle, degrees) or ``"cross-track"`` (``incidence`` is the
    largest scan angle, degrees; the incidence grows from nadir to the swath edge). ``scan_spacing`` and
    ``pixel_spacing`` (km) are the distances between scans and between pixels of a scan at the swath centre;
    ``pixels`` the pixels per scan.
    """

    name: str
    platform: str
    channels: tuple[Channel, ...]
    scan: str
    incidence: float
    pixels: int
    scan_spacing: float
    pixel_spacing: float
    source: str

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]

    @property
    def frequencies(self) -> np.ndarray:
        return np.array([c.frequency for c in self.channels])

    @property
    def nedt(self) -> np.ndarray:
        return np.array([c.nedt for c in self.channels])

    def channel(self, name: str) -> Channel:
        for c in self.channels:
            if c.name == name:
                return c
        raise ParameterError(f"{self.name} has no channel {name!r}; its channels are {self.channel_names}")

    def incidence_angles(self) -> np.ndarray:
        """Earth incidence angle (degrees) of each pixel of a scan."""
        if self.scan == "conical":
            return np.full(self.pixels, self.incidence)
        scan = np.linspace(-self.incidence, self.incidence, self.pixels)
        # the ray meets the curved Earth steeper than it leaves the satellite (833 km altitude)
        ratio = (6371.0 + 833.0) / 6371.0
        return np.degrees(np.arcsin(np.clip(ratio * np.sin(np.radians(np.abs(scan))), -1.0, 1.0)))

    def scan_angles(self) -> np.ndarray:
        """Scan angle of each pixel (degrees from nadir, signed): the rotation of QV/QH polarisation."""
        if self.scan == "conical":
            return np.zeros(self.pixels)
        return np.linspace(-self.incidence, self.incidence, self.pixels)


def _ch(freq, pol, along, cross, nedt, offset=0.0) -> Channel:
    return Channel(float(freq), pol, float(offset), float(along), float(cross), float(nedt))


GMI = Radiometer(
    "gmi", "GPM Core Observatory",
    (
        _ch(10.65, "V", 32.2, 19.4, 0.96), _ch(10.65, "H", 32.2, 19.4, 0.96),
        _ch(18.7, "V", 18.3, 11.2, 0.84), _ch(18.7, "H", 18.3, 11.2, 0.84),
        _ch(23.8, "V", 15.0, 9.2, 1.05),
        _ch(36.64, "V", 15.0, 8.6, 0.65), _ch(36.64, "H", 15.0, 8.6, 0.65),
        _ch(89.0, "V", 7.2, 4.4, 0.57), _ch(89.0, "H", 7.2, 4.4, 0.57),
        _ch(166.0, "V", 6.3, 4.1, 1.5), _ch(166.0, "H", 6.3, 4.1, 1.5),
        _ch(183.31, "V", 6.3, 4.1, 1.5, offset=3.0), _ch(183.31, "V", 6.3, 4.1, 1.5, offset=7.0),
    ),
    scan="conical", incidence=52.8, pixels=221, scan_spacing=13.2, pixel_spacing=4.0,
    source="Draper et al. (2015), doi:10.1109/JSTARS.2015.2403303",
)

AMSR2 = Radiometer(
    "amsr2", "GCOM-W",
    (
        _ch(6.925, "V", 62.0, 35.0, 0.34), _ch(6.925, "H", 62.0, 35.0, 0.34),
        _ch(7.3, "V", 58.0, 34.0, 0.43), _ch(7.3, "H", 58.0, 34.0, 0.43),
        _ch(10.65, "V", 42.0, 24.0, 0.70), _ch(10.65, "H", 42.0, 24.0, 0.70),
        _ch(18.7, "V", 22.0, 14.0, 0.70), _ch(18.7, "H", 22.0, 14.0, 0.70),
        _ch(23.8, "V", 26.0, 15.0, 0.60), _ch(23.8, "H", 26.0, 15.0, 0.60),
        _ch(36.5, "V", 12.0, 7.0, 0.70), _ch(36.5, "H", 12.0, 7.0, 0.70),
        _ch(89.0, "V", 5.0, 3.0, 1.20), _ch(89.0, "H", 5.0, 3.0, 1.20),
    ),
    scan="conical", incidence=55.0, pixels=243, scan_spacing=10.0, pixel_spacing=6.0,
    source="Imaoka et al. (2010), doi:10.1109/JPROC.2010.2043918",
)

SSMIS = Radiometer(
    "ssmis", "DMSP F16-F18",
    (
        _ch(19.35, "V", 73.0, 47.0, 0.35), _ch(19.35, "H", 73.0, 47.0, 0.35),
        _ch(22.235, "V", 73.0, 47.0, 0.45),
        _ch(37.0, "V", 41.0, 31.0, 0.22), _ch(37.0, "H", 41.0, 31.0, 0.22),
        _ch(91.655, "V", 14.0, 13.0, 0.19), _ch(91.655, "H", 14.0, 13.0, 0.19),
        _ch(150.0, "H", 14.0, 13.0, 0.53),
        _ch(183.31, "H", 14.0, 13.0, 0.38, offset=1.0), _ch(183.31, "H", 14.0, 13.0, 0.39, offset=3.0),
        _ch(183.31, "H", 14.0, 13.0, 0.56, offset=6.6),
    ),
    scan="conical", incidence=53.1, pixels=90, scan_spacing=12.5, pixel_spacing=19.0,
    source="Kunkee et al. (2008), doi:10.1109/TGRS.2008.917980",
)

ATMS = Radiometer(
    "atms", "Suomi NPP / NOAA-20",
    (
        _ch(23.8, "QV", 75.0, 75.0, 0.9), _ch(31.4, "QV", 75.0, 75.0, 0.9),
        _ch(88.2, "QV", 32.0, 32.0, 0.5), _ch(165.5, "QH", 16.0, 16.0, 0.6),
        _ch(183.31, "QH", 16.0, 16.0, 0.8, offset=7.0), _ch(183.31, "QH", 16.0, 16.0, 0.8, offset=4.5),
        _ch(183.31, "QH", 16.0, 16.0, 0.8, offset=3.0), _ch(183.31, "QH", 16.0, 16.0, 0.8, offset=1.8),
        _ch(183.31, "QH", 16.0, 16.0, 0.9, offset=1.0),
    ),
    scan="cross-track", incidence=52.7, pixels=96, scan_spacing=16.0, pixel_spacing=16.0,
    source="Weng et al. (2012), doi:10.1029/2012JD018144",
)

MHS = Radiometer(
    "mhs", "MetOp / NOAA-19",
    (
        _ch(89.0, "QV", 16.0, 16.0, 0.22), _ch(157.0, "QV", 16.0, 16.0, 0.34),
        _ch(183.31, "QH", 16.0, 16.0, 0.51, offset=1.0), _ch(183.31, "QH", 16.0, 16.0, 0.40, offset=3.0),
        _ch(190.31, "QV", 16.0, 16.0, 0.46),
    ),
    scan="cross-track", incidence=49.44, pixels=90, scan_spacing=16.5, pixel_spacing=16.0,
    source="Bonsignori (2007), doi:10.1117/12.737986",
)

RADIOMETERS = {r.name: r for r in (GMI, AMSR2, SSMIS, ATMS, MHS)}


def get(sensor: str | Radiometer) -> Radiometer:
    """The :class:`Radiometer` called ``sensor`` (case-insensitive); :class:`ParameterError` naming the known ones."""
    if isinstance(sensor, Radiometer):
        return sensor
    key = str(sensor).lower().replace("-", "")
    if key not in RADIOMETERS:
        raise ParameterError(f"unknown sensor {sensor!r}; eoxr.rain knows {sorted(RADIOMETERS)}: pass one of them "
                             "as sensor=, or a Radiometer of your own from eoxr.rain.radiometers")
    return RADIOMETERS[key]

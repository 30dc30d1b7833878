"""The MODIS sinusoidal tile grid and the HDF-EOS ``StructMetadata`` that describes a file's grids.

Grid definition: Wolfe, Roy & Vermote (1998), "MODIS land data storage, gridding, and compositing
methodology: Level 2 grid", IEEE TGRS 36(4), 1324-1338, doi:10.1109/36.701082. The sinusoidal
projection is on a sphere of radius 6371007.181 m; tiles are 10 deg x 10 deg at the equator,
36 x 18 of them, numbered h (0..35, west to east) and v (0..17, north to south).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ...errors import ReadError

SPHERE_RADIUS_M = 6371007.181
#: proj string of the MODIS sinusoidal projection (pyproj / rioxarray accept it as a CRS).
MODIS_SINUSOIDAL = f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={SPHERE_RADIUS_M} +units=m +no_defs"
#: Width and height of one tile in metres: the globe's half circumference split into 18 rows.
TILE_SIZE_M = np.pi * SPHERE_RADIUS_M / 18.0
#: x of the grid's western edge and y of its northern edge (tile h0v0 upper-left corner), metres.
GRID_ORIGIN_M = (-np.pi * SPHERE_RADIUS_M, np.pi * SPHERE_RADIUS_M / 2.0)


@dataclass
class GridInfo:
    """One GRID of an HDF-EOS file as its ``StructMetadata`` declares it."""

    name: str
    xdim: int
    ydim: int
    upper_left: tuple[float, float]
    lower_right: tuple[float, float]
    projection: str
    proj_params: tuple[float, ...] = ()
    fields: list[str] = field(default_factory=list)

    @property
    def pixel_size(self) -> tuple[float, float]:
        """(dx, dy) in the grid's units; dy is negative when rows run north to south."""
        dx = (self.lower_right[0] - self.upper_left[0]) / self.xdim
        dy = (self.lower_right[1] - self.upper_left[1]) / self.ydim
        return dx, dy

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(x, y)`` (1-D, length xdim and ydim) in the grid's units."""
        dx, dy = self.pixel_size
        x = self.upper_left[0] + (np.arange(self.xdim) + 0.5) * dx
        y = self.upper_left[1] + (np.arange(self.ydim) + 0.5) * dy
        return x, y


def _tuple(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.strip().strip("()").split(",") if v.strip())


def parse_struct_metadata(text: str, path: str = "") -> dict[str, GridInfo]:
    """Grids of an HDF-EOS ``StructMetadata.0`` text, by ``GridName``, in file order."""
    grids: dict[str, GridInfo] = {}
    blocks = re.findall(r"GROUP=GRID_\d+(.*?)END_GROUP=GRID_\d+", text, flags=re.S)
    for block in blocks:
        values = dict(re.findall(r"^\s*(\w+)=(.*?)\s*$", block, flags=re.M))
        try:
            grid = GridInfo(
                name=values["GridName"].strip('"'),
                xdim=int(values["XDim"]),
                ydim=int(values["YDim"]),
                upper_left=_tuple(values["UpperLeftPointMtrs"])[:2],
                lower_right=_tuple(values["LowerRightMtrs"])[:2],
                projection=values.get("Projection", ""),
                proj_params=_tuple(values["ProjParams"]) if "ProjParams" in values else (),
                fields=[f.strip('"') for f in re.findall(r'DataFieldName=("[^"]*")', block)],
            )
        except (KeyError, ValueError) as exc:
            raise ReadError(
                f"{path}: StructMetadata.0 GRID block lacks or garbles {exc}; the file is not a valid "
                "HDF-EOS grid file. Re-download it from the archive (LP DAAC / LAADS)."
            ) from exc
        grids[grid.name] = grid
    return grids


def tile_upper_left(h: int, v: int) -> tuple[float, float]:
    """Upper-left corner (x, y) in metres of MODIS tile ``h``/``v`` on the sinusoidal grid."""
    return GRID_ORIGIN_M[0] + h * TILE_SIZE_M, GRID_ORIGIN_M[1] - v * TILE_SIZE_M


def tile_of(x: float, y: float) -> tuple[int, int]:
    """MODIS tile (h, v) that contains the sinusoidal point (x, y) in metres."""
    h = int(np.floor((x - GRID_ORIGIN_M[0]) / TILE_SIZE_M))
    v = int(np.floor((GRID_ORIGIN_M[1] - y) / TILE_SIZE_M))
    return h, v


def dms_packed_to_degrees(value: float) -> float:
    """HDF-EOS packed DMS (DDDMMMSSS.SS, as GCTP_GEO grids store corners) to decimal degrees."""
    sign = -1.0 if value < 0 else 1.0
    value = abs(value)
    degrees = np.floor(value / 1e6)
    minutes = np.floor((value - degrees * 1e6) / 1e3)
    seconds = value - degrees * 1e6 - minutes * 1e3
    return sign * (degrees + minutes / 60.0 + seconds / 3600.0)

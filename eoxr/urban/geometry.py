"""Facet geometry of a 2.5-D city on a regular grid: normals, walls, horizons, shadows, sky view and visibility.

Grid convention: row 0 is the northern edge (north-up raster), columns grow eastward, cell size ``res`` m.
Vectors are (east, north, up). Azimuths are degrees clockwise from north.

Facets. A cell is a roof/ground facet whose normal comes from the DSM gradient, or a wall: a cell whose DSM
drops by more than ``wall_min_drop`` m to a 4-neighbour. A wall cell stands for a vertical facet of height
``drop`` along one cell edge, facing the lower neighbours; its area per cell footprint is ``drop / res`` and
its rays start from the face (half a cell toward the normal) at mid height. The cell's top stays a horizontal
facet of the building (the "cap" layer of :mod:`eoxr.urban.city`: ``facets`` with no cell allowed to be a wall).
Gradients of non-wall cells use the minmod of the one-sided differences so that cells beside a wall stay flat.

Horizons. Along azimuth phi each cell marches outward (``step`` cells apart; for the sky view the steps grow
by ``growth`` (3 %) of the distance) and
keeps the largest elevation tangent (z_j - z_i) / d_ij of the DSM, nearest-cell sampling, clipped at the grid
edge (the city continues as its border).

Partial wall shading. A point at height h on a wall's face sees a source of elevation tangent T when
z_j - h < T d_j for every DSM sample j along the source azimuth, i.e. h > max_j (z_j - T d_j); the lit (or seen)
fraction of the wall is the part of its height above that level. A binary test from the mid height would flip
a whole wall between lit and shaded when a street is a fraction of a cell wider or narrower, so that the
absorbed sunlight of a narrow canyon would jump with the grid on which the city is drawn.

Sub-cell shading. A roof or ground facet is lit over the part of its footprint beyond the shadow's edge: the
test above from the ray origins of its 2 x 2 sub-points (:data:`SUBCELLS`), each lit over the part of its quarter
cell that the source clears, the clearance height varying along the source's azimuth by its elevation tangent
per metre (a linear ramp across the quarter cell's extent along the azimuth). Cells lit or shaded whole would
move the edge of every shadow to a cell edge, and the sunlight a street receives with the grid the city is drawn
on; the sum over the facets of area x lit cosine then comes to within a fraction of a per cent of the beam on the
footprint.

Sky view factor: the cosine-weighted fraction of the sky seen by a facet of slope S and aspect A, with H(phi)
the zenith angle of the visible-sky limit (horizon or the facet's own plane, whichever is higher):

    SVF = 1/(2 pi) Int_0^{2 pi} [cos S sin^2 H + sin S cos(phi - A) (H - sin H cos H)] dphi

evaluated with the midpoint rule over ``n_azimuths``. For a horizontal facet this is the mean of cos^2 of the
horizon elevation; at the floor centre of an infinite canyon (walls of height h, width w) it tends to cos(beta)
with tan(beta) = 2 h / w (Oke 1988, Energy and Buildings 11, 103-113), and a vertical wall in the open gives 1/2.
"""
from __future__ import annotations

import numpy as np


def _minmod(a, b):
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


def facets(dsm: np.ndarray, res: float, wall_min_drop: float = 2.0, allowed: np.ndarray | None = None
           ) -> dict[str, np.ndarray]:
    """Unit normals (3, ny, nx), facet area per cell footprint, wall mask and drop (m), ray origin height and
    ray origin offset (2, ny, nx) in cells (east, north). ``allowed``: cells that may become walls (default all;
    e.g. building cells only, so that tree crowns keep gradient normals)."""
    z = np.asarray(dsm, dtype=float)
    p = np.pad(z, 1, mode="edge")
    centre = p[1:-1, 1:-1]
    # differences toward east, west, north, south (positive = neighbour lower)
    drops = {
        (1.0, 0.0): centre - p[1:-1, 2:],
        (-1.0, 0.0): centre - p[1:-1, :-2],
        (0.0, 1.0): centre - p[:-2, 1:-1],
        (0.0, -1.0): centre - p[2:, 1:-1],
    }
    drop = np.max(np.stack(list(drops.values())), axis=0)
    wall = drop > wall_min_drop
    if allowed is not None:
        wall &= allowed
    ne = np.zeros_like(z)
    nn = np.zeros_like(z)
    for (ue, un), d in drops.items():
        w = np.where(d > wall_min_drop, d, 0.0)
        ne += w * ue
        nn += w * un
    hn = np.hypot(ne, nn)
    # a wall dropping equally on opposite sides (a one-cell-wide spine) faces its first lower neighbour
    flat = wall & (hn < 1e-9)
    if flat.any():
        for (ue, un), d in drops.items():
            m = flat & (d > wall_min_drop)
            ne[m], nn[m] = ue, un
            flat &= ~m
        hn = np.hypot(ne, nn)
    hn = np.where(hn > 0, hn, 1.0)
    dzdx = _minmod((p[1:-1, 2:] - centre) / res, (centre - p[1:-1, :-2]) / res)
    dzdy = _minmod((p[:-2, 1:-1] - centre) / res, (centre - p[2:, 1:-1]) / res)
    norm = np.sqrt(1 + dzdx**2 + dzdy**2)
    normal = np.stack([-dzdx / norm, -dzdy / norm, 1 / norm])
    normal = np.where(wall, np.stack([ne / hn, nn / hn, np.zeros_like(z)]), normal)
    area = np.where(wall, drop / res, norm)
    z0 = np.where(wall, z - drop / 2, z)
    offset = np.where(wall, 0.5 * np.stack([ne / hn, nn / hn]), 0.0)
    return {"normal": normal, "area": area, "wall": wall, "drop": np.where(wall, drop, 0.0), "z0": z0,
            "offset": offset}


def march_distances(max_dist_cells: float, step: float = 0.25, growth: float = 0.0) -> np.ndarray:
    """Sample distances (cells): ``step`` apart, growing by ``growth`` of the distance once that is larger."""
    t, out = step, []
    while t <= max_dist_cells:
        out.append(t)
        t += max(step, growth * t)
    return np.array(out)


def _max_along(z: np.ndarray, fac: dict, azimuth_deg: float, dists: np.ndarray, base, scale, shift,
               only: np.ndarray | None = None, origin: tuple[float, float] | None = None) -> np.ndarray:
    """March from each facet's ray origin along ``azimuth_deg`` and keep, per facet, the largest
    ``(zs - base) * scale(t) + shift(t)`` over the sample distances t in ``dists`` (cells), zs being the DSM at the
    sample (nearest cell; beyond the grid edge its border cell: the city continues as its border) and ``base`` a
    per-cell array or None (0); a sample in the facet's own cell does not count. ``only``: just these cells
    (bool grid; -inf elsewhere), each gathered. ``origin`` (east, north; cells): every ray starts that far from
    its cell's centre, walls' too (none gathered): a sub-point of the cell's footprint.

    A facet on its cell's centre samples the DSM shifted by one offset per distance: a view into the DSM padded
    with its border, several times faster than gathering cell by cell. Walls, whose rays start off-centre, are
    gathered on their own. Rounding is half up, the same for every cell."""
    ny, nx = z.shape
    az = np.radians(azimuth_deg)
    de, dn = np.sin(az), np.cos(az)
    off = fac["offset"]
    oe, on = origin or (0.0, 0.0)
    wi = np.flatnonzero(off.any(0) if only is None else only)  # gathered: off-centre ray origins (walls)
    wi = wi[:0] if origin is not None else wi
    wr = wi // nx - off[1].ravel()[wi]
    wc = wi % nx + off[0].ravel()[wi]
    base_w = 0.0 if base is None else base.ravel()[wi]
    pad = int(np.ceil(dists.max())) + 1 if len(dists) else 0
    zp = np.pad(z, pad, mode="edge")
    zf = z.ravel()
    best = np.full(z.shape, -np.inf)
    best_w = np.full(len(wi), -np.inf)
    buf = np.empty(z.shape)
    steps = [(int(np.floor(0.5 - on - t * dn)), int(np.floor(0.5 + oe + t * de)), scale(t), shift(t)) for t in dists]
    for dr, dc, sc, sh in steps if only is None else []:
        if not (dr or dc):
            continue
        view = zp[pad + dr:pad + dr + ny, pad + dc:pad + dc + nx]
        if base is None:
            np.multiply(view, sc, out=buf)
        else:
            np.subtract(view, base, out=buf)
            buf *= sc
        if sh:
            buf += sh
        np.maximum(best, buf, out=best)
    own_r, own_c = wi // nx, wi % nx
    for t, (_, _, sc, sh) in zip(dists, steps if len(wi) else []):
        r, c = np.floor(wr + (0.5 - t * dn)).astype(np.intp), np.floor(wc + (0.5 + t * de)).astype(np.intp)
        zs = zf[np.clip(r, 0, ny - 1) * nx + np.clip(c, 0, nx - 1)]
        zs[(r == own_r) & (c == own_c)] = -np.inf
        np.maximum(best_w, (zs - base_w) * sc + sh, out=best_w)
    best.ravel()[wi] = best_w
    return best


def horizon_tangent(dsm: np.ndarray, res: float, fac: dict, azimuth_deg: float, max_dist: float,
                    step: float = 0.25, growth: float = 0.0, only: np.ndarray | None = None) -> np.ndarray:
    """Largest elevation tangent of the DSM seen from each facet's ray origin along ``azimuth_deg`` (``only``:
    just these cells, see :func:`_max_along`)."""
    z = np.asarray(dsm, dtype=float)
    return _max_along(z, fac, azimuth_deg, march_distances(max_dist / res, step, growth), fac["z0"],
                      lambda t: 1.0 / (t * res), lambda t: 0.0, only)


def _slope_aspect(normal):
    slope = np.arccos(np.clip(normal[2], -1, 1))
    aspect = np.arctan2(normal[0], normal[1])  # azimuth of the normal's horizontal part
    return slope, aspect


def sky_view_factor(dsm: np.ndarray, res: float, fac: dict, n_azimuths: int = 16, max_dist: float | None = None,
                    step: float = 0.25, growth: float = 0.03) -> np.ndarray:
    """Cosine-weighted sky view factor of every facet (1 for an open horizontal plane), see module doc."""
    return sky_view_from_sums([sky_view_sum(dsm, res, fac, n_azimuths, range(n_azimuths), max_dist, step, growth)],
                              n_azimuths)


def sky_view_from_sums(sums, n_azimuths: int) -> np.ndarray:
    """The sky view factor from :func:`sky_view_sum` of disjoint sectors covering all ``n_azimuths``."""
    return np.clip(sum(sums) / n_azimuths, 0.0, 1.0)


def sky_view_sum(dsm: np.ndarray, res: float, fac: dict, n_azimuths: int, sectors, max_dist: float | None = None,
                 step: float = 0.25, growth: float = 0.03, only: np.ndarray | None = None) -> np.ndarray:
    """The sky view factor's sum over the azimuth ``sectors`` (indices < ``n_azimuths``): sums over disjoint
    sectors add up, so the horizon marches can run in parallel tasks (:func:`sky_view_from_sums`). ``only``:
    just these cells (bool grid; 0 elsewhere), e.g. the few caps of wall cells."""
    z = np.asarray(dsm, dtype=float)
    if max_dist is None:
        max_dist = max(6.0 * float(np.ptp(z)), 2 * res)
    cells = np.arange(z.size) if only is None else np.flatnonzero(only)
    slope, aspect = (v.ravel()[cells] for v in _slope_aspect(fac["normal"]))
    level = slope == 0.0  # most cells (ground, flat roofs): cos^2 of the horizon elevation, no trigonometry
    lc, sc = cells[level], cells[~level]
    slope, aspect = slope[~level], aspect[~level]
    total = np.zeros(z.size)
    for k in sectors:
        phi = 2 * np.pi * (k + 0.5) / n_azimuths
        # the ground beyond the DSM is a level plane: horizons never sink below the horizontal
        tangent = np.maximum(horizon_tangent(z, res, fac, np.degrees(phi), max_dist, step, growth, only).ravel(), 0.0)
        total[lc] += 1.0 / (1.0 + tangent[lc] ** 2)
        elev = np.arctan(tangent[sc])
        plane = np.arctan(-np.tan(np.minimum(slope, np.pi / 2 - 1e-9)) * np.cos(phi - aspect))
        plane = np.where(slope >= np.pi / 2 - 1e-6, np.where(np.cos(phi - aspect) > 0, -np.pi / 2, np.pi / 2), plane)
        h = np.pi / 2 - np.maximum(elev, plane)
        h = np.clip(h, 0.0, np.pi)
        total[sc] += (np.cos(slope) * np.sin(h) ** 2
                      + np.sin(slope) * np.cos(phi - aspect) * (h - np.sin(h) * np.cos(h)))
    return total.reshape(z.shape)


def direction(zenith_deg: float, azimuth_deg: float) -> np.ndarray:
    """Unit vector (east, north, up) toward a source at the given zenith and azimuth."""
    t, a = np.radians(zenith_deg), np.radians(azimuth_deg)
    return np.array([np.sin(t) * np.sin(a), np.sin(t) * np.cos(a), np.cos(t)])


# the sub-points of a cell's footprint (east, north; cells) whose sunlit parts make a roof or ground facet's
SUBCELLS = ((-0.25, 0.25), (0.25, 0.25), (-0.25, -0.25), (0.25, -0.25))


def _max_dist(dsm, zenith_deg, res):
    return max(float(np.ptp(dsm)) * np.tan(np.radians(min(zenith_deg, 85.0))) * 1.05 + 2 * res, 2 * res)


def clear_fraction(dsm: np.ndarray, res: float, fac: dict, azimuth_deg: float, zenith_deg: float) -> np.ndarray:
    """Fraction of each facet that sees a source at (zenith, azimuth) past the DSM: for a roof/ground facet the
    part of its footprint beyond the shadow's edge (see module doc: sub-cell shading), for a wall the lit part of
    its height (partial wall shading)."""
    z = np.asarray(dsm, dtype=float)
    tan_elev = 1.0 / np.tan(np.radians(zenith_deg)) if zenith_deg > 0 else np.inf
    if not np.isfinite(tan_elev):
        return np.ones(z.shape)
    dists = march_distances(_max_dist(z, zenith_deg, res) / res, 0.25)
    drop = fac["drop"]
    walls = drop > 0

    def clear_from(**kw):  # the lowest height on a vertical line from which the source clears every DSM sample
        return _max_along(z, fac, azimuth_deg, dists, None, lambda t: 1.0, lambda t: -tan_elev * t * res, **kw)

    # a quarter cell's footprint spans this much height of the source's rays along its azimuth
    a = np.radians(azimuth_deg)
    ramp = tan_elev * res / 2 * (abs(np.sin(a)) + abs(np.cos(a)))
    flat = np.mean([np.clip(0.5 + (fac["z0"] - clear_from(origin=o)) / ramp, 0.0, 1.0) for o in SUBCELLS], axis=0)
    if not walls.any():
        return flat
    wall_part = np.clip((fac["z0"] + drop / 2 - clear_from(only=walls)) / np.where(walls, drop, 1.0), 0.0, 1.0)
    return np.where(walls, wall_part, flat)


def incidence_cosine(fac: dict, zenith_deg: float, azimuth_deg: float) -> np.ndarray:
    """cos(incidence) of a source at (zenith, azimuth) on each facet, 0 where the facet faces away from it."""
    return np.maximum(np.tensordot(direction(zenith_deg, azimuth_deg), fac["normal"], axes=1), 0.0)


def sunlit_cosine(dsm: np.ndarray, res: float, fac: dict, sun_zenith: float, sun_azimuth: float) -> np.ndarray:
    """cos(incidence) of the direct beam on each facet times its sunlit fraction (0 where self-shadowed or
    cast-shadowed by the DSM; the sunlit part of the footprint, or of a wall's height)."""
    return incidence_cosine(fac, sun_zenith, sun_azimuth) * clear_fraction(dsm, res, fac, sun_azimuth, sun_zenith)


def view_weight(dsm: np.ndarray, res: float, fac: dict, view_zenith: float, view_azimuth: float) -> np.ndarray:
    """Ground-projected area of each facet that the sensor sees, per cell footprint.

    A facet of area A (per footprint) and normal n seen along v projects to A max(n.v, 0) / cos(view zenith) of
    ground: 1 for an unoccluded flat cell, drop/res * tan(vz) cos(dphi) for a wall, times its unoccluded
    fraction (for walls the part of their height the sensor sees).
    """
    v = direction(view_zenith, view_azimuth)
    cos_v = np.maximum(np.tensordot(v, fac["normal"], axes=1), 0.0)
    w = fac["area"] * cos_v / v[2]
    if view_zenith <= 0.0:
        return w
    return w * clear_fraction(dsm, res, fac, view_azimuth, view_zenith)

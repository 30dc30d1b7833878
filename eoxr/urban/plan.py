"""The feature plan of an inversion: which geometric features of the city it needs, and the tasks that make them.

The solvers compare the image with the element form of the forward model, whose geometric features per sensor
pixel (:func:`.forward.features`) come from the city's radiative fields (horizons, sky view, shadows, view). A
*recipe* names each feature the inversion needs (key -> weighting, PSF, split into sunlit and shaded parts, feature
name): the reflective solver's ``a, g, s, cg, cs``, the thermal solver's ``Ta, Ts, Tc`` (parts split), and the
budgets' area features ``A...`` (no PSF). Features of one weighting, PSF and split are computed together.

On numpy input everything is computed at once. Over Dask the city enters the graph once (on a distributed
client: installed on every worker once per client, :mod:`.shipping`), then its horizons (:data:`SVF_TASKS`
sector tasks, unless the city or every worker's copy holds them already: a time series over one city), then the
features by tiles: one per row chunk of the image and run of column chunks at least
:data:`.tiles.MIN_TILE_PX` wide (its margin, the PSF's and the bounces' reach, a small share of it); the work is
shared out over the workers, and each chunk's inversion waits only for the tiles its window overlaps
(:func:`.tiles.stack_run`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from .atmosphere import Geometry
from .city import CoarseGrid
from .forward import features
from .shipping import city_for_graph, resolve
from .tiles import MIN_TILE_PX, halo_ready, tile_edges

SVF_TASKS = 4  # azimuth sectors of the sky view factor computed in parallel over Dask
# the reflective features' precision: float32's relative 1e-6 lies far below any radiance noise, in about half the
# time of float64; the thermal inversion, whose temperatures and emissivities trade off, turns that round-off into
# mK (6 mK on a noise-free test scene): its features stay float64
REFLECTIVE_FEATURE_DTYPE = np.float32
REFLECTIVE_FEATURES = ("a", "g", "s", "cg", "cs")
THERMAL_FEATURES = ("Ta", "Ts", "Tc", "TAa")
SHORTWAVE_AREA_FEATURES = ("Aa", "Ag", "As", "Acg", "Acs", "Acb")


def feature_recipes(psf, reflective: bool, thermal: bool, budget: bool) -> dict[str, tuple]:
    """The features an inversion needs: key -> (weight, psf, split_lit, feature name) (see module doc)."""
    recipes = {}
    if reflective:
        recipes.update({k: ("view", psf, False, k) for k in REFLECTIVE_FEATURES})
        if budget:
            recipes.update({"A" + k: ("area", 0.0, False, k) for k in ("a", "g", "s", "cg", "cs", "cb")})
    if thermal:
        recipes.update({"T" + k: ("view", psf, True, k) for k in ("a", "s", "c")})
        recipes["TAa"] = ("area", 0.0, True, "a")
    return recipes


@dataclass(frozen=True)
class TileFeatures:
    """A feature tile's task: every feature of ``recipes`` for the pixels of rows [r0, r1) and columns [c0, c1)
    of ``grid`` (None: all), {recipe key: array}, from a city (or a :class:`.shipping.CityRef` to the worker's
    copy) and its fields (None: the city's own, cached or computed; else fields computed in other tasks, kept in
    this worker's copy so that later calls over the city skip them)."""

    recipes: dict
    grid: CoarseGrid
    geom: Geometry
    n_azimuths: int
    bounce_radius: float
    flat: bool

    def __call__(self, city, fields, rows, cols) -> dict[str, np.ndarray]:
        city = resolve(city)
        if fields is None:
            fields = city.fields(self.geom, self.n_azimuths)
        else:
            city.adopt_fields(self.geom, self.n_azimuths, fields)
        mu_s = float(np.cos(np.radians(self.geom.sun_zenith)))
        groups = {}
        for k, (weight, psf, split, _) in self.recipes.items():
            groups.setdefault((weight, psf, split), []).append(k)
        out = {}
        for (weight, psf, split), keys in groups.items():
            ft = features(city, fields, self.grid, psf, self.bounce_radius, weight, flat=self.flat, mu_s=mu_s,
                          split_lit=split, only=tuple(self.recipes[k][3] for k in keys), rows=rows, cols=cols,
                          dtype=np.float64 if split else REFLECTIVE_FEATURE_DTYPE)  # split: thermal recipes
            out.update({k: ft[self.recipes[k][3]] for k in keys})
        return out


def feature_parts(city, tile: TileFeatures, data, h: int, lazy: bool) -> dict[str, tuple]:
    """Every recipe's part for :func:`.tiles.stack_run`, ``(sources, name, col_edges)``: computed now for numpy
    ``data`` (the image), or as tile tasks of the image's chunks (halo ``h``) for Dask ``data`` (see module doc)."""
    if not lazy:
        whole = tile(city, city.fields(tile.geom, tile.n_azimuths), None, None)
        return {k: ([[whole]], k, None) for k in tile.recipes}
    import dask

    dcity = city_for_graph(city)
    fields = _fields_in_graph(city, dcity, tile.geom, tile.n_azimuths)
    chunks = halo_ready(data, h).chunks
    rows = np.cumsum((0,) + chunks[1])
    cols = tile_edges(chunks[2], MIN_TILE_PX)
    tiles = [[dask.delayed(tile, pure=False)(dcity, fields, (int(r0), int(r1)), (int(c0), int(c1)))
              for c0, c1 in zip(cols[:-1], cols[1:])] for r0, r1 in zip(rows[:-1], rows[1:])]
    return {k: (tiles, k, cols) for k in tile.recipes}


def _fields_in_graph(city, dcity, geom: Geometry, n_azimuths: int):
    """None where the city here, or every worker's copy, holds the horizons (each tile task then reads its own
    copy's fields, adding the sun and view of this scene); else the task that computes the fields from the
    horizon marches (the costliest part) in :data:`SVF_TASKS` parallel sector tasks."""
    import dask

    from .city import City
    from .shipping import CityRef, copies_where

    def on_every_worker():  # a small query to the workers, only when the city here lacks the fields
        holders, n_workers = copies_where(dcity, partial(City.has_sky_view, n_azimuths=n_azimuths))
        return 0 < len(holders) == n_workers

    if city.has_fields(geom, n_azimuths) or (isinstance(dcity, CityRef) and on_every_worker()):
        return None
    sectors = [tuple(int(k) for k in sec)
               for sec in np.array_split(np.arange(n_azimuths), min(SVF_TASKS, n_azimuths))]
    sums = [dask.delayed(sky_view_sum, pure=False)(dcity, n_azimuths, sec) for sec in sectors]
    return dask.delayed(fields_from_sums, pure=False)(dcity, geom, n_azimuths, sums, sectors)


def sky_view_sum(city, n_azimuths, sectors):
    """The sky view sum of ``sectors``; None where the worker's copy holds the horizons of an earlier call (a
    copy that holds them skips its own march)."""
    city = resolve(city)
    return None if city.has_sky_view(n_azimuths) else city.sky_view_sum(n_azimuths, sectors)


def fields_from_sums(city, geom, n_azimuths, sums, sectors):
    """The city's fields from the sector sums of :func:`sky_view_sum`; sectors left out (their task ran on a
    worker whose copy holds the horizons) are computed here unless this copy holds them too."""
    city = resolve(city)
    if not city.has_sky_view(n_azimuths):
        sums = [city.sky_view_sum(n_azimuths, sec) if s is None else s for s, sec in zip(sums, sectors)]
    return city.fields(geom, n_azimuths, sums)

"""The 2.5-D city model: a DSM (m) and an element class map on one fine grid with a CRS.

Elements are named classes (roof, wall, road, tree, grass, water, soil, ...). Walls are derived from the DSM
(building cells that drop by more than ``wall_min_drop`` m to a neighbour, see :mod:`eoxr.urban.geometry`) and get
the element "wall" unless the class raster marks them already. Only classes named in ``wall_sources`` carry walls:
a tree crown's edge is not a wall, at any grid resolution.

Facet layers. A wall cell holds two facets: its wall (layer 0: a vertical facet of height ``drop`` along the cell
edge) and its horizontal top of the building's class (layer 1, the "cap"). Without the cap every wall cell would
remove a ring one cell wide from the roofs in plan view, so that roof area and the sun it absorbs would shrink
with the cell size (a 2 m grid loses twice the roof area of a 1 m grid). Per-cell properties and the fields of
:meth:`City.fields` therefore carry a layer axis of length 2 before (y, x); ``layers`` (2, ny, nx) gives the
element of each facet, ``present`` (2, ny, nx) which facets exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import CRSError, GridError, MissingVariableError, NoDataError
from . import geometry as geo
from .atmosphere import Geometry

ELEMENTS = ("roof", "wall", "road", "tree", "grass", "water", "soil")


@dataclass(frozen=True)
class CoarseGrid:
    """Where a sensor grid sits on the city grid: ``factor`` fine cells per pixel, first fine row/col."""

    factor: int
    row0: int
    col0: int
    ny: int
    nx: int

    def block_sum(self, field: np.ndarray) -> np.ndarray:
        f = self.factor
        sub = field[..., self.row0:self.row0 + self.ny * f, self.col0:self.col0 + self.nx * f]
        return sub.reshape(*sub.shape[:-2], self.ny, f, self.nx, f).sum(axis=(-3, -1))


def _geometry_key(geom: Geometry) -> tuple:
    return (geom.sun_zenith, geom.sun_azimuth, geom.view_zenith, geom.view_azimuth)


class City:
    """A city model: ``dsm`` (m) and ``element`` (index into ``names``) on a north-up grid of cell ``res`` m.

    Cells of a class in ``wall_sources`` (default "roof"; ``None``: every class) that drop by more than
    ``wall_min_drop`` m to a neighbour become "wall" facets; a city without those classes has no walls.
    """

    def __init__(self, dsm: xr.DataArray, element: xr.DataArray, names: list[str], wall_min_drop: float = 2.0,
                 ground_element: xr.DataArray | None = None, wall_sources: tuple[str, ...] | None = ("roof",)):
        for da, what in ((dsm, "dsm"), (element, "element")):
            if "y" not in da.dims or "x" not in da.dims:
                raise MissingVariableError(f"city {what} needs dims ('y', 'x'), has {da.dims}")
        if dsm.shape != element.shape:
            raise GridError(f"city dsm {dsm.shape} and element map {element.shape} differ: put both on one grid")
        if dsm.rio.crs is None:
            raise CRSError("the city DSM has no CRS: set one with dsm.rio.write_crs('EPSG:....')")
        x, y = dsm.x.values, dsm.y.values
        dx, dy = np.diff(x), np.diff(y)
        if len(x) < 2 or len(y) < 2 or not (np.allclose(dx, dx[0]) and np.allclose(dy, -dx[0])):
            raise GridError("the city grid must be regular, square and north-up (x increasing, y decreasing)")
        self.res = float(dx[0])
        self.crs = dsm.rio.crs
        self.x, self.y = x, y
        self.names = list(names)
        self.wall_min_drop = float(wall_min_drop)
        z = np.asarray(dsm.values, dtype=float)
        if not np.isfinite(z).all():
            raise NoDataError("the city DSM has NaN cells: fill them (e.g. dsm.rio.interpolate_na()) first")
        el = np.asarray(element.values).astype(np.int16)
        self.ground = el.copy() if ground_element is None else np.asarray(ground_element.values).astype(np.int16)
        # walls rise from building cells only: tree crowns keep gradient normals and their plan area
        self.wall_sources = None if wall_sources is None else tuple(wall_sources)
        self.dsm = z
        self._cache: dict = {}
        if self.facets["wall"].any():
            if "wall" not in self.names:
                self.names.append("wall")
            el = np.where(self.facets["wall"], self.names.index("wall"), el)
        if el.min() < 0 or el.max() >= len(self.names):
            raise GridError(f"element indices span {el.min()}..{el.max()} but {len(self.names)} names are given")
        counts = np.bincount(el.ravel(), minlength=len(self.names))
        empty = [n for n, c in zip(self.names, counts) if c == 0]
        if empty:
            raise NoDataError(f"element class(es) {empty} have no cell in the city model; drop them from "
                              f"element_names (present: {[n for n, c in zip(self.names, counts) if c]})")
        self.element = el
        # the top of every wall cell stays a horizontal facet of its building class (see module doc)
        cap = self.facets["wall"] & (self.ground != self.names.index("wall")) if self.facets["wall"].any() else \
            np.zeros(el.shape, bool)
        self.layers = np.stack([el, np.where(cap, self.ground, el)]).astype(np.int16)
        self.present = np.stack([np.ones(el.shape, bool), cap])

    @property
    def facets(self) -> dict[str, np.ndarray]:
        """Facet geometry of the DSM (:func:`.geometry.facets`): derived on first use, and again after
        unpickling (it is cheap to derive and several times the DSM's size, so Dask tasks do not ship it)."""
        if "facets" not in self._cache:
            src = None if self.wall_sources is None else np.isin(
                self.ground, [self.names.index(n) for n in self.wall_sources if n in self.names])
            self._cache["facets"] = geo.facets(self.dsm, self.res, self.wall_min_drop, src)
        return self._cache["facets"]

    _UNSHIPPED = ("facets", "caps")  # cached, but not pickled

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {k: v for k, v in self._cache.items() if k not in self._UNSHIPPED}
        return state

    @property
    def shipped_cache(self) -> frozenset:
        """Keys of the cached fields a pickled copy carries (a copy made earlier lacks the ones added since)."""
        return frozenset(self._cache) - set(self._UNSHIPPED)

    # --- constructors -------------------------------------------------------------------------------------
    @classmethod
    def from_dataset(cls, ds: xr.Dataset, element_names: dict[int, str] | None = None,
                     wall_min_drop: float = 2.0) -> "City":
        """From a Dataset with ``dsm`` (m) and ``element`` (integer codes); ``element_names`` maps code -> name
        (default: ``ds.element.attrs['element_names']`` as a list indexed by code)."""
        for v in ("dsm", "element"):
            if v not in ds:
                raise MissingVariableError(f"city dataset lacks {v!r}; it has {sorted(map(str, ds.data_vars))}")
        dsm = ds["dsm"]
        if dsm.rio.crs is None and ds.rio.crs is not None:
            dsm = dsm.rio.write_crs(ds.rio.crs)
        codes = np.asarray(ds["element"].values)
        if element_names is None:
            names = ds["element"].attrs.get("element_names")
            if names is None:
                raise MissingVariableError("pass element_names={code: name} (the element map has no "
                                           "'element_names' attribute)")
            if isinstance(names, str):
                names = names.split(",")
            element_names = dict(enumerate(names))
        names = list(dict.fromkeys(element_names.values()))
        index = np.full(codes.shape, -1, np.int16)
        for code, name in element_names.items():
            index[codes == code] = names.index(name)
        if (index < 0).any():
            bad = sorted(set(np.unique(codes[index < 0]).tolist()))
            raise GridError(f"element codes {bad} have no name in element_names {element_names}; add them")
        return cls(dsm, ds["element"].copy(data=index), names, wall_min_drop)

    @classmethod
    def from_rasters(cls, dsm: str | Path | xr.DataArray | None = None,
                     elements: str | Path | xr.DataArray | None = None, element_names: dict[int, str] | None = None,
                     wall_min_drop: float = 2.0, *, dem=None, ndsm=None, canopy=None, res: float | None = None,
                     building_height: float = 2.5, tree_height: float = 2.0, ground: str = "road") -> "City":
        """From rasters (GeoTIFF paths or DataArrays): heights as a DSM (m) with classes ``elements`` (codes,
        named by ``element_names``) or a DEM, or as an nDSM (``ndsm``, heights above the ground) with an optional
        DEM; a canopy height model (``canopy``, m above the ground) for trees; classes from the land cover or,
        without one, from thresholds (``building_height``, ``tree_height``, the ``ground`` element). ``res`` (m):
        resample every raster onto one square grid of that cell. See :mod:`.rasters`, e.g. for Bilbao's PNOA
        LiDAR heights ``City.from_rasters(ndsm="BDSM.tif", canopy="CDSM.tif", dem="DEM.tif", res=2.5)``."""
        from .rasters import city_rasters

        z, el, names = city_rasters(dsm, elements, element_names, dem=dem, ndsm=ndsm, canopy=canopy, res=res,
                                    building_height=building_height, tree_height=tree_height, ground=ground)
        return cls.from_dataset(xr.Dataset({"dsm": z, "element": el}).rio.write_crs(z.rio.crs), names, wall_min_drop)

    def to_dataset(self) -> xr.Dataset:
        ds = xr.Dataset(
            {"dsm": (("y", "x"), self.dsm, {"units": "m", "long_name": "surface height"}),
             # the classes before walls: loading derives the walls (and their caps) again from the DSM
             "element": (("y", "x"), self.ground, {"units": "1", "long_name": "urban element index",
                                                  "element_names": ",".join(self.names)})},
            coords={"y": self.y, "x": self.x})
        return ds.rio.write_crs(self.crs)

    def crop(self, bounds: tuple[float, float, float, float]) -> "City":
        """The city inside ``bounds`` (left, bottom, right, top; the cells whose centres lie inside), without the
        classes that have no cell there (walls are derived again from the cropped DSM)."""
        left, bottom, right, top = bounds
        ds = self.to_dataset()
        ds = ds.isel(x=np.flatnonzero((self.x > left) & (self.x < right)),
                     y=np.flatnonzero((self.y > bottom) & (self.y < top)))
        if ds.sizes["x"] < 2 or ds.sizes["y"] < 2:
            raise GridError(f"the bounds {bounds} hold under 2 x 2 cells of the city {self.bounds}: pass bounds "
                            "inside it")
        codes = np.unique(ds["element"].values).tolist()
        return City.from_dataset(ds, {c: self.names[c] for c in codes}, self.wall_min_drop)

    def coarsen(self, factor: int) -> "City":
        """The same city on a grid ``factor`` times coarser: majority class of the non-wall classes (ties to
        the higher surface), mean height of the cells of that class (walls are derived again from the new DSM)."""
        f = int(factor)
        ny, nx = (self.dsm.shape[0] // f) * f, (self.dsm.shape[1] // f) * f
        g = self.ground[:ny, :nx].reshape(ny // f, f, nx // f, f).transpose(0, 2, 1, 3).reshape(ny // f, nx // f, -1)
        z = self.dsm[:ny, :nx].reshape(ny // f, f, nx // f, f).transpose(0, 2, 1, 3).reshape(ny // f, nx // f, -1)
        nn = len(self.names)
        counts = np.stack([(g == k).sum(-1) for k in range(nn)], -1)
        # a tie goes to the class of the block's highest cell among the tied classes: the same for every block
        # along a straight edge (edges stay straight: no notches, no spurious walls), whatever the class order;
        # chosen over the north-west cell and the lowest cell (which shift or shrink buildings) on the net shortwave
        # of coarsened benchmark cities (seeds 4-6, 8, 9) against their fine originals
        # (a street one coarse cell wide split 1:1 closes: reopened as a one-cell slot it strayed further from the
        # fine net shortwave of two blocks 1 m apart, 168 vs 66 W m-2 in the worst 10 m pixel)
        tied = np.take_along_axis(counts == counts.max(-1, keepdims=True), g.astype(np.intp), -1)
        top = np.where(tied, z, -np.inf).argmax(-1)
        mode = np.take_along_axis(g, top[..., None], -1)[..., 0]
        sel = g == mode[..., None]
        zc = (z * sel).sum(-1) / sel.sum(-1)
        x = self.x[:nx].reshape(-1, f).mean(1)
        y = self.y[:ny].reshape(-1, f).mean(1)
        dsm = xr.DataArray(zc, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(self.crs)
        el = xr.DataArray(mode.astype(np.int16), dims=("y", "x"), coords={"y": y, "x": x})
        names = list(self.names)
        if "wall" in names:  # walls are derived again; they must not stay a class of their own
            mode = np.where(mode == names.index("wall"), names.index("roof") if "roof" in names else mode, mode)
        # drop classes that vanish at the coarser grid, keeping index order
        present = sorted(set(np.unique(mode).tolist()))
        remap = {old: new for new, old in enumerate(present)}
        el = el.copy(data=np.vectorize(remap.get)(mode).astype(np.int16))
        return City(dsm, el, [names[k] for k in present], self.wall_min_drop, wall_sources=self.wall_sources)

    # --- grids ----------------------------------------------------------------------------------------------
    @property
    def bounds(self) -> tuple[float, float, float, float]:
        h = self.res / 2
        return (self.x[0] - h, self.y[-1] - h, self.x[-1] + h, self.y[0] + h)

    def check_crs(self, obj: xr.DataArray | xr.Dataset) -> None:
        """Raise an error that says how to fix it unless ``obj`` is in the city's CRS."""
        crs = obj.rio.crs
        if crs is None:
            raise CRSError("the image has no CRS: set it with ds.rio.write_crs(...) (the city is in "
                           f"{self.crs})")
        if crs != self.crs:
            raise CRSError(f"image CRS {crs} differs from the city CRS {self.crs}: reproject the city model "
                           "(city rasters .rio.reproject) or the image so both share one CRS")

    def grid_for(self, obj: xr.DataArray | xr.Dataset) -> CoarseGrid:
        """Locate a sensor grid (``x``/``y`` pixel centres, a CRS) on the city grid; errors say how to fix it."""
        self.check_crs(obj)
        x, y = np.asarray(obj.x.values, float), np.asarray(obj.y.values, float)
        if len(x) < 2 or len(y) < 2:
            raise GridError("the image needs at least 2 x 2 pixels")
        px = float(x[1] - x[0])
        if not np.isclose(float(y[0] - y[1]), px):
            raise GridError("the image grid must be square and north-up (x increasing, y decreasing)")
        factor = px / self.res
        if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
            raise GridError(f"image pixel {px} m is not a whole multiple of the city cell {self.res} m: resample "
                            "the city model to a cell size that divides the pixel")
        f = int(round(factor))
        left, top = x[0] - px / 2, y[0] + px / 2
        c0 = (left - self.bounds[0]) / self.res
        r0 = (self.bounds[3] - top) / self.res
        if abs(c0 - round(c0)) > 1e-6 or abs(r0 - round(r0)) > 1e-6:
            raise GridError("image pixel edges do not fall on city cell edges: shift the city grid or the image")
        g = CoarseGrid(f, int(round(r0)), int(round(c0)), len(y), len(x))
        if g.row0 < 0 or g.col0 < 0 or g.row0 + g.ny * f > len(self.y) or g.col0 + g.nx * f > len(self.x):
            ib = (left, y[-1] - px / 2, x[-1] + px / 2, top)
            raise GridError(f"the city grid {tuple(round(v, 2) for v in self.bounds)} does not cover the image "
                            f"{tuple(round(v, 2) for v in ib)}: clip the image to the city "
                            "(ds.rio.clip_box(*city.bounds)) or extend the city model")
        return g

    def sensor_coords(self, pixel_size: float, margin_px: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates of a sensor grid of ``pixel_size`` m aligned on the city's top-left corner."""
        f = int(round(pixel_size / self.res))
        nx = len(self.x) // f - 2 * margin_px
        ny = len(self.y) // f - 2 * margin_px
        left, top = self.bounds[0] + margin_px * pixel_size, self.bounds[3] - margin_px * pixel_size
        return top - (np.arange(ny) + 0.5) * pixel_size, left + (np.arange(nx) + 0.5) * pixel_size

    # --- geometry ---------------------------------------------------------------------------------------------
    def _layered(self, fn, restrict: bool = False) -> np.ndarray:
        """``fn(facets)`` for the main facets and the caps of wall cells: (2, ny, nx), 0 where no cap.
        ``restrict``: ``fn(facets, only)`` computes just the cells ``only`` (None: all), so that the caps' layer
        costs in proportion to its few cells."""
        cap = self.present[1]
        main = fn(self.facets, None) if restrict else fn(self.facets)
        if not cap.any():
            return np.stack([main, np.zeros(cap.shape)])
        if "caps" not in self._cache:  # the same DSM without walls: horizontal tops at the building edge
            self._cache["caps"] = geo.facets(self.dsm, self.res, self.wall_min_drop, np.zeros(cap.shape, bool))
        caps = fn(self._cache["caps"], cap) if restrict else fn(self._cache["caps"])
        return np.stack([main, np.where(cap, caps, 0.0)])

    def sky_view_sum(self, n_azimuths: int, sectors) -> np.ndarray:
        """Per facet layer (2, ny, nx), the sky view factor's sum over azimuth ``sectors`` (see
        :func:`.geometry.sky_view_sum`): sectors computed apart (in parallel tasks) go to ``fields(svf_sums=)``."""
        return self._layered(lambda f, only: geo.sky_view_sum(self.dsm, self.res, f, n_azimuths, sectors, only=only),
                             restrict=True)

    def has_sky_view(self, n_azimuths: int = 16) -> bool:
        """Whether the sky view factor (the costliest field; it does not depend on the geometry) is cached."""
        return ("svf", n_azimuths) in self._cache

    def adopt_fields(self, geom: Geometry, n_azimuths: int, fields: dict) -> None:
        """Cache ``fields`` (:meth:`fields` of a copy of this city, e.g. computed on another Dask worker) where
        this copy has none yet."""
        self._cache.setdefault(("svf", n_azimuths), fields["svf"])
        self._cache.setdefault(_geometry_key(geom), (fields["mu_sun"], fields["lit"], fields["view"]))
        self._cache.setdefault("area", fields["area"])

    def has_fields(self, geom: Geometry, n_azimuths: int = 16) -> bool:
        """Whether :meth:`fields` for this geometry is cached (then it costs nothing)."""
        return ("svf", n_azimuths) in self._cache and _geometry_key(geom) in self._cache

    def fields(self, geom: Geometry, n_azimuths: int = 16, svf_sums=None) -> dict[str, np.ndarray]:
        """Fine-grid radiative geometry per facet layer (2, ny, nx), see module doc: ``mu_sun`` (lit cos
        incidence), ``lit`` (the sunlit share of the facet), ``svf``, ``view`` (seen projected area per cell),
        ``area`` (facet area per cell footprint), ``element``. Cached per geometry. ``svf_sums``: :meth:`sky_view_sum` of disjoint sectors covering all
        ``n_azimuths`` azimuths, computed elsewhere."""
        z, r = self.dsm, self.res
        key = ("svf", n_azimuths)
        if key not in self._cache:
            sums = [self.sky_view_sum(n_azimuths, range(n_azimuths))] if svf_sums is None else svf_sums
            self._cache[key] = geo.sky_view_from_sums(sums, n_azimuths)
        gkey = _geometry_key(geom)
        if gkey not in self._cache:
            clear = self._layered(lambda f: geo.clear_fraction(z, r, f, geom.sun_azimuth, geom.sun_zenith))
            cos_i = self._layered(lambda f: geo.incidence_cosine(f, geom.sun_zenith, geom.sun_azimuth))
            self._cache[gkey] = (cos_i * clear, np.where(cos_i > 0, clear, 0.0),
                                 self._layered(lambda f: geo.view_weight(z, r, f, geom.view_zenith, geom.view_azimuth)))
        mu, lit, view = self._cache[gkey]
        if "area" not in self._cache:
            self._cache["area"] = self._layered(lambda f: f["area"])
        return {"mu_sun": mu, "lit": lit, "svf": self._cache[key], "view": view, "area": self._cache["area"],
                "element": self.layers}

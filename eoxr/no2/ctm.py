"""A 2-D chemistry-transport model of tropospheric NO2 columns, the synthetic truth of the no2 workflow.

The column ``C`` (mol m-2) of NO2 obeys

    dC/dt + div(u C) = div(K grad C) + E / L - C / tau

with ``u`` the boundary-layer wind (m s-1), ``K`` the horizontal diffusivity (50-500 m2 s-1), ``E`` the NOx
emission (mol m-2 s-1), ``L`` the NOx/NO2 column ratio (about 1.32) and ``tau`` the NOx lifetime (2-8 h).

Numerics, on a staggered C-grid (winds on the cell faces, columns at the centres):

- advection in flux form, split by dimension, with van Leer's flux limiter (van Leer 1974, J. Comput. Phys.,
  doi:10.1016/0021-9991(74)90019-9): second order where the field is smooth, no new extrema near a source;
- explicit diffusion, in flux form too, so mass moves between cells and is never created;
- emission and first-order loss integrated exactly over half steps around the transport (Strang splitting),
  so a steady state is second order in the time step;
- every step is split into the fewest sub-steps that keep the Courant number below ``cfl`` and the diffusion
  number below 1/4; more than ``max_substeps`` is refused (:class:`~eoxr.errors.StabilityError`).

Boundaries are ``"periodic"``, ``"closed"`` (no flux through the walls: the mass changes only by emission and
loss, to round-off) or ``"open"`` (clean air flows in, the column flows out).

Scenes (:func:`scene`, :func:`scenes`) draw point sources (0.1-2 kg s-1 of NOx as NO2), cities (Gaussian area
sources with diurnal and weekly cycles) and a background, a wind (smooth random, rotating, with a diurnal
cycle), a lifetime and a diffusivity from their seed, run the model from an empty domain to the overpass
time and sample it as TROPOMI does: footprint smoothing, noise (0.5-1e15 molec cm-2) and cloud gaps.
:func:`scenes` builds one Dask task per scene, so thousands can be drawn on a cluster.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr
from scipy import ndimage

from ..attrs import cf, georeference, stamp
from ..errors import ParameterError, StabilityError
from ..units import AVOGADRO

BOUNDARIES = ("periodic", "closed", "open")
NO2_MOLAR_MASS = 0.0460055  # kg mol-1: NOx emissions are counted as NO2
NOX_TO_NO2 = 1.32  # NOx/NO2 column ratio L of Beirle et al. (2019)
CFL = 0.5  # Courant limit of one split advection step (the limited scheme is positive up to 1/2)
DIFFUSION_LIMIT = 0.25  # K dt / dx2 of explicit 2-D diffusion
MOLEC_CM2 = 1e4 / AVOGADRO  # mol m-2 per molec cm-2

#: (u faces (ny, nx + 1), v faces (ny + 1, nx)) in m s-1 at time t (s)
Wind = Callable[[float], tuple[np.ndarray, np.ndarray]]
#: NOx emission (ny, nx) in mol m-2 s-1 at time t (s)
Emission = Callable[[float], np.ndarray]


@dataclass(frozen=True)
class Grid:
    """The model domain: ``ny`` x ``nx`` square cells of ``dx`` metres, and what its boundary does."""

    ny: int = 64
    nx: int = 64
    dx: float = 5000.0
    boundary: str = "open"

    def __post_init__(self):
        if self.boundary not in BOUNDARIES:
            raise ParameterError(f"boundary={self.boundary!r} is not one of {BOUNDARIES}: pick one of them")
        if self.ny < 3 or self.nx < 3 or not self.dx > 0:
            raise ParameterError(f"a grid of {self.ny} x {self.nx} cells of {self.dx} m cannot be simulated: "
                                 "use at least 3 x 3 cells of a positive size")

    @property
    def shape(self) -> tuple[int, int]:
        return self.ny, self.nx

    @property
    def cell_area(self) -> float:
        return self.dx * self.dx

    def mass(self, column: np.ndarray) -> float:
        """Moles of NO2 in the domain."""
        return float(column.sum() * self.cell_area)


@dataclass(frozen=True)
class Chemistry:
    """Lifetime ``tau_s`` (s), NOx/NO2 ratio and horizontal diffusivity (m2 s-1) of a simulation."""

    tau_s: float = 4 * 3600.0
    nox_to_no2: float = NOX_TO_NO2
    diffusivity: float = 100.0

    def __post_init__(self):
        if not (self.tau_s > 0 and self.nox_to_no2 > 0 and self.diffusivity >= 0):
            raise ParameterError(f"lifetime {self.tau_s} s, NOx/NO2 ratio {self.nox_to_no2} and diffusivity "
                                 f"{self.diffusivity} m2 s-1: lifetime and ratio must be positive, the "
                                 "diffusivity not negative")


@dataclass
class Budget:
    """Moles of NO2 emitted, lost to chemistry and carried out through the boundary during a simulation."""

    initial: float
    final: float = 0.0
    emitted: float = 0.0
    lost: float = 0.0
    outflow: float = 0.0

    @property
    def residual(self) -> float:
        """Final - initial - (emitted - lost - outflow): zero to round-off for a conservative model."""
        return self.final - self.initial - (self.emitted - self.lost - self.outflow)


# --- transport -----------------------------------------------------------------------------------------------


def _pad_x(c: np.ndarray, boundary: str, width: int = 2) -> np.ndarray:
    """``c`` with ``width`` ghost cells on both x sides: wrapped (periodic), else clean air (zero)."""
    mode = {"mode": "wrap"} if boundary == "periodic" else {"mode": "constant", "constant_values": 0.0}
    return np.pad(c, ((0, 0), (width, width)), **mode)


def _van_leer(upwind_step: np.ndarray, downwind_step: np.ndarray) -> np.ndarray:
    """van Leer's limited difference: the harmonic mean of two steps of one sign, else zero."""
    product = upwind_step * downwind_step
    total = upwind_step + downwind_step
    return np.divide(2.0 * product, total, out=np.zeros_like(total), where=product > 0)


def advective_flux_x(c: np.ndarray, u: np.ndarray, dt: float, dx: float, boundary: str) -> np.ndarray:
    """Flux (mol m-1 s-1) through the ``nx + 1`` x faces of columns ``c`` in wind ``u`` (on those faces).

    The face value is the upwind cell plus half its limited slope, shortened by the Courant number
    (the Lax-Wendroff correction, limited): second order in smooth regions, upwind at extrema.
    """
    p = _pad_x(c, boundary)
    left, right = p[:, 1:-2], p[:, 2:-1]  # the two cells of each face
    far_left, far_right = p[:, :-3], p[:, 3:]
    positive = u >= 0
    upwind = np.where(positive, left, right)
    downwind = np.where(positive, right, left)
    behind = np.where(positive, far_left, far_right)
    courant = np.abs(u) * dt / dx
    face = upwind + 0.5 * (1.0 - courant) * _van_leer(upwind - behind, downwind - upwind)
    flux = u * face
    return _close(flux, boundary)


def diffusive_flux_x(c: np.ndarray, diffusivity: float, dx: float, boundary: str) -> np.ndarray:
    """Fickian flux (mol m-1 s-1) through the x faces; none through the domain's edges unless periodic."""
    p = _pad_x(c, boundary, width=1)
    flux = -diffusivity * (p[:, 1:] - p[:, :-1]) / dx
    if boundary != "periodic":
        flux[:, [0, -1]] = 0.0
    return _close(flux, boundary)


def _close(flux: np.ndarray, boundary: str) -> np.ndarray:
    """Fluxes through the edges as the boundary wants: one face when periodic, none when closed."""
    if boundary == "periodic":
        flux[:, -1] = flux[:, 0]
    elif boundary == "closed":
        flux[:, [0, -1]] = 0.0
    return flux


def _transport_x(c: np.ndarray, u: np.ndarray, dt: float, grid: Grid, diffusivity: float):
    """One x step of advection and diffusion: the new columns and the moles that left through the edges."""
    flux = advective_flux_x(c, u, dt, grid.dx, grid.boundary) + diffusive_flux_x(c, diffusivity, grid.dx,
                                                                                  grid.boundary)
    out = c - dt / grid.dx * (flux[:, 1:] - flux[:, :-1])
    outflow = dt * grid.dx * float((flux[:, -1] - flux[:, 0]).sum()) if grid.boundary == "open" else 0.0
    return out, outflow


def transport(c: np.ndarray, u: np.ndarray, v: np.ndarray, dt: float, grid: Grid, diffusivity: float,
              order: int = 0):
    """Advect and diffuse ``c`` for ``dt`` seconds, x then y (``order`` odd: y then x, to alternate splitting).

    Returns the new columns and the moles carried out of an open domain.
    """
    def along_y(a, step_dt):
        out, lost = _transport_x(a.T, v.T, step_dt, grid, diffusivity)
        return out.T, lost

    def along_x(a, step_dt):
        return _transport_x(a, u, step_dt, grid, diffusivity)

    first, second = (along_x, along_y) if order % 2 == 0 else (along_y, along_x)
    c, out1 = first(c, dt)
    c, out2 = second(c, dt)
    return c, out1 + out2


def substeps(u: np.ndarray, v: np.ndarray, dt: float, grid: Grid, diffusivity: float, cfl: float = CFL) -> int:
    """The fewest sub-steps of ``dt`` whose Courant number stays below ``cfl`` and diffusion number below 1/4."""
    speed = max(float(np.abs(u).max(initial=0.0)), float(np.abs(v).max(initial=0.0)))
    if not (math.isfinite(speed) and math.isfinite(dt)):
        raise ParameterError(f"wind speed {speed} m s-1 and step {dt} s: both must be finite")
    courant = speed * dt / grid.dx
    diffusion = diffusivity * dt / grid.dx ** 2
    return max(1, math.ceil(courant / cfl - 1e-12), math.ceil(diffusion / DIFFUSION_LIMIT - 1e-12))


# --- simulation ----------------------------------------------------------------------------------------------


def _checked_substeps(n: int, dt: float, max_substeps: int, u, v, grid: Grid, cfl: float) -> int:
    if n > max_substeps:
        speed = max(float(np.abs(u).max()), float(np.abs(v).max()))
        raise StabilityError(
            f"a step of {dt:g} s in winds up to {speed:.3g} m s-1 on {grid.dx:g} m cells needs {n} sub-steps "
            f"(Courant number {speed * dt / grid.dx:.3g}, limit {cfl}), more than max_substeps={max_substeps}: "
            f"take steps of at most {max_substeps * cfl * grid.dx / max(speed, 1e-12):.0f} s or raise max_substeps")
    return n


def simulate(column: np.ndarray, grid: Grid, chemistry: Chemistry, wind: Wind, emission: Emission, *,
             start: float, end: float, dt: float = 600.0, max_substeps: int = 64,
             cfl: float = CFL) -> tuple[np.ndarray, Budget]:
    """Integrate the NO2 columns ``column`` (mol m-2) from time ``start`` to ``end`` (s).

    Parameters
    ----------
    column : numpy.ndarray
        NO2 columns (mol m-2) of the ``grid`` at ``start``.
    grid, chemistry : Grid, Chemistry
        The domain and the lifetime, NOx/NO2 ratio and diffusivity.
    wind : callable
        ``wind(t) -> (u, v)``: m s-1 on the x faces (ny, nx + 1) and y faces (ny + 1, nx), held over a step.
    emission : callable
        ``emission(t) -> E``: NOx emission (mol m-2 s-1) on the grid, held over a step.
    start, end : float
        Times (s; 0 is a Monday, 00:00 local time).
    dt : float
        The outer step (s); each is split into the sub-steps that stability needs (:func:`substeps`).
    max_substeps : int
        More sub-steps than this in one step raise :class:`~eoxr.errors.StabilityError`.
    cfl : float
        Courant limit of a sub-step (at most 0.5, where the limited scheme stays positive).

    Returns
    -------
    column : numpy.ndarray
        The columns at ``end``.
    budget : Budget
        Moles emitted, lost and carried out: ``budget.residual`` is the model's conservation error.
    """
    if not 0 < cfl <= CFL:
        raise ParameterError(f"cfl={cfl} is outside (0, {CFL}]: the limited scheme needs Courant numbers <= {CFL}")
    if not (dt > 0 and end >= start):
        raise ParameterError(f"dt={dt} s from {start} s to {end} s: use a positive step and end >= start")
    c = np.array(column, dtype=np.float64)
    if c.shape != grid.shape:
        raise ParameterError(f"columns of shape {c.shape} on a grid of {grid.shape}: pass one value per cell")
    budget = Budget(initial=grid.mass(c))
    t, step = float(start), 0
    while t < end - 1e-9:
        h = min(dt, end - t)
        u, v = wind(t)
        e = emission(t) / chemistry.nox_to_no2
        n = _checked_substeps(substeps(u, v, h, grid, chemistry.diffusivity, cfl), h, max_substeps, u, v, grid, cfl)
        for _ in range(n):
            c = _substep(c, u, v, e, h / n, grid, chemistry, budget, step)
            step += 1
        t += h
    budget.final = grid.mass(c)
    return c, budget


def _substep(c, u, v, production, dt, grid: Grid, chemistry: Chemistry, budget: Budget, step: int):
    """Chemistry for ``dt / 2``, transport for ``dt``, chemistry for ``dt / 2`` (Strang splitting: a steady
    state is second order in ``dt``, not first); the budget follows each term."""
    c = _chemistry(c, production, dt / 2, grid, chemistry, budget)
    c, outflow = transport(c, u, v, dt, grid, chemistry.diffusivity, order=step)
    budget.outflow += outflow
    return _chemistry(c, production, dt / 2, grid, chemistry, budget)


def _chemistry(c, production, dt, grid: Grid, chemistry: Chemistry, budget: Budget):
    """The exact solution of dC/dt = P - C / tau over ``dt``, P the NO2 production (mol m-2 s-1)."""
    gained = -math.expm1(-dt / chemistry.tau_s)  # 1 - exp(-dt / tau), accurate for dt << tau
    out = c * (1.0 - gained) + production * chemistry.tau_s * gained
    emitted = dt * grid.mass(production)
    budget.emitted += emitted
    budget.lost += grid.mass(c) + emitted - grid.mass(out)
    return out


# --- winds ---------------------------------------------------------------------------------------------------


def winds_from_streamfunction(psi: np.ndarray, dx: float) -> tuple[np.ndarray, np.ndarray]:
    """Face winds (m s-1) of a streamfunction on the cell corners (ny + 1, nx + 1), m2 s-1.

    u = -dpsi/dy on x faces, v = dpsi/dx on y faces: the discrete divergence is zero in every cell.
    """
    u = -(psi[1:, :] - psi[:-1, :]) / dx
    v = (psi[:, 1:] - psi[:, :-1]) / dx
    return u, v


def uniform_wind(grid: Grid, speed: float, direction_deg: float = 270.0) -> Wind:
    """A steady, uniform wind of ``speed`` m s-1 from ``direction_deg`` (meteorological: 270 blows eastward)."""
    rad = math.radians(direction_deg)
    u = np.full((grid.ny, grid.nx + 1), -speed * math.sin(rad))
    v = np.full((grid.ny + 1, grid.nx), -speed * math.cos(rad))
    return lambda t: (u, v)


def _corner_coordinates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Corner positions (m) from the domain centre, (ny + 1, nx + 1) each."""
    y = (np.arange(grid.ny + 1) - grid.ny / 2) * grid.dx
    x = (np.arange(grid.nx + 1) - grid.nx / 2) * grid.dx
    return np.meshgrid(y, x, indexing="ij")


def rotating_wind(grid: Grid, period_s: float) -> Wind:
    """Solid-body rotation about the domain centre, one turn per ``period_s`` (non-divergent, steady)."""
    y, x = _corner_coordinates(grid)
    omega = 2 * math.pi / period_s
    u, v = winds_from_streamfunction(-0.5 * omega * (x ** 2 + y ** 2), grid.dx)
    return lambda t: (u, v)


def smooth_noise(shape: tuple[int, int], scale_cells: float, rng: np.random.Generator) -> np.ndarray:
    """A random field of zero mean and unit standard deviation, smooth over ``scale_cells`` cells."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), scale_cells, mode="wrap")
    return (field - field.mean()) / max(field.std(), 1e-12)


def random_wind(grid: Grid, rng: np.random.Generator, speed: float = 5.0, eddy_speed: float = 2.0,
                scale_cells: float = 8.0) -> Wind:
    """A mean wind of ``speed`` m s-1 from a random direction plus smooth non-divergent eddies (steady)."""
    psi = smooth_noise((grid.ny + 1, grid.nx + 1), scale_cells, rng) * eddy_speed * scale_cells * grid.dx
    u_eddy, v_eddy = winds_from_streamfunction(psi, grid.dx)
    u_mean, v_mean = uniform_wind(grid, speed, float(rng.uniform(0, 360)))(0.0)
    u, v = u_mean + u_eddy, v_mean + v_eddy
    return lambda t: (u, v)


def diurnal_wind(wind: Wind, amplitude: float = 0.3, peak_hour: float = 15.0) -> Wind:
    """``wind`` scaled by 1 + ``amplitude`` cos(2 pi (hour - peak_hour) / 24): a stronger afternoon mixed layer."""
    def at(t: float):
        u, v = wind(t)
        factor = 1.0 + amplitude * math.cos(2 * math.pi * (local_hour(t) - peak_hour) / 24.0)
        return u * factor, v * factor
    return at


def cell_winds(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face winds averaged to the cell centres (ny, nx)."""
    return 0.5 * (u[:, 1:] + u[:, :-1]), 0.5 * (v[1:, :] + v[:-1, :])


# --- emissions -----------------------------------------------------------------------------------------------


def local_hour(t: float) -> float:
    return (t / 3600.0) % 24.0


def weekday(t: float) -> int:
    """0 (Monday) to 6 (Sunday)."""
    return int(t // 86400.0) % 7


def diurnal_factor(hour: float) -> float:
    """Traffic-like daily cycle of mean one: low at night, morning and evening peaks."""
    return 1.0 + 0.5 * math.sin(2 * math.pi * (hour - 6.0) / 24.0) + 0.25 * math.cos(4 * math.pi * (hour - 8.0) / 24.0)


#: weekday factors of mean one: less on Saturday and Sunday
WEEKLY = np.array([1.08, 1.08, 1.08, 1.08, 1.08, 0.88, 0.72])


@dataclass(frozen=True)
class Sources:
    """NOx sources of a scene: points ``(row, col, kg s-1)``, cities ``(row, col, radius in cells, kg s-1)``
    whose emission follows :func:`diurnal_factor` and :data:`WEEKLY`, and a uniform ``background``
    (mol m-2 s-1)."""

    points: Sequence[tuple[int, int, float]] = ()
    cities: Sequence[tuple[float, float, float, float]] = ()
    background: float = 0.0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def _maps(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """(steady, cyclic) emission maps (mol m-2 s-1) at a mean hour."""
        if grid not in self._cache:
            self._check_inside(grid)
            self._cache[grid] = (self._point_map(grid) + self.background, self._city_map(grid))
        return self._cache[grid]

    def _check_inside(self, grid: Grid) -> None:
        outside = [s[:2] for s in (*self.points, *self.cities)
                   if not (0 <= s[0] < grid.ny and 0 <= s[1] < grid.nx)]
        if outside:
            raise ParameterError(f"sources at (row, col) {outside} lie outside the {grid.ny} x {grid.nx} grid: "
                                 "place them on it or enlarge the grid")

    def _point_map(self, grid: Grid) -> np.ndarray:
        out = np.zeros(grid.shape)
        for row, col, kg_s in self.points:
            out[int(row), int(col)] += kg_s / NO2_MOLAR_MASS / grid.cell_area
        return out

    def _city_map(self, grid: Grid) -> np.ndarray:
        rows, cols = np.indices(grid.shape)
        out = np.zeros(grid.shape)
        for row, col, radius, kg_s in self.cities:
            shape = np.exp(-0.5 * ((rows - row) ** 2 + (cols - col) ** 2) / radius ** 2)
            out += kg_s / NO2_MOLAR_MASS * shape / (shape.sum() * grid.cell_area)
        return out

    def emission(self, grid: Grid) -> Emission:
        """``E(t)`` (mol m-2 s-1) on ``grid``."""
        steady, cyclic = self._maps(grid)
        return lambda t: steady + cyclic * (diurnal_factor(local_hour(t)) * WEEKLY[weekday(t)])

    def mean_emission(self, grid: Grid) -> np.ndarray:
        """The emission averaged over a week (mol m-2 s-1)."""
        steady, cyclic = self._maps(grid)
        return steady + cyclic


# --- scenes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """TROPOMI-like sampling: overpass hour, noise (molec cm-2), cloud fraction and footprint FWHM (m)."""

    overpass_hour: float = 13.5
    noise_molec_cm2: tuple[float, float] = (0.5e15, 1e15)
    cloud_fraction: float = 0.0
    footprint_m: float = 5500.0

    def __post_init__(self):
        if not 0 <= self.cloud_fraction < 1:
            raise ParameterError(f"cloud_fraction={self.cloud_fraction} is outside [0, 1): a scene needs "
                                 "some clear cells")


def draw(seed: int, grid: Grid) -> tuple[Sources, Wind, Chemistry, dict]:
    """The sources, wind and chemistry of scene ``seed`` (all change with the seed), and what was drawn."""
    rng = np.random.default_rng([seed, 2])
    margin = 4
    n_points, n_cities = int(rng.integers(2, 7)), int(rng.integers(1, 4))
    points = [(int(rng.integers(margin, grid.ny - margin)), int(rng.integers(margin, grid.nx - margin)),
               float(rng.uniform(0.1, 2.0))) for _ in range(n_points)]
    cities = [(float(rng.uniform(margin, grid.ny - margin)), float(rng.uniform(margin, grid.nx - margin)),
               float(rng.uniform(1.0, 3.0)), float(rng.uniform(0.5, 5.0))) for _ in range(n_cities)]
    background = float(rng.uniform(0.5, 2.0)) * 1e-10  # mol m-2 s-1: about 0.1 kg s-1 per 5000 km2
    sources = Sources(points=points, cities=cities, background=background)
    chemistry = Chemistry(tau_s=float(rng.uniform(2, 8)) * 3600, diffusivity=float(rng.uniform(50, 500)))
    kind = ("random", "rotating", "random")[int(rng.integers(0, 3))]
    speed = float(rng.uniform(2.0, 8.0))
    if kind == "rotating":
        base = rotating_wind(grid, period_s=2 * math.pi * grid.nx * grid.dx / 2 / speed)
    else:
        base = random_wind(grid, rng, speed=speed)
    wind = diurnal_wind(base, amplitude=float(rng.uniform(0.0, 0.4)))
    drawn = {"wind": kind, "speed_m_s": speed, "tau_h": chemistry.tau_s / 3600,
             "diffusivity_m2_s": chemistry.diffusivity, "day": int(rng.integers(0, 7))}
    return sources, wind, chemistry, drawn


def observe(column: np.ndarray, grid: Grid, observation: Observation, rng: np.random.Generator) -> np.ndarray:
    """The column as a TROPOMI overpass sees it: footprint-smoothed, noisy, NaN under clouds (mol m-2)."""
    sigma = observation.footprint_m / (2 * math.sqrt(2 * math.log(2))) / grid.dx
    seen = ndimage.gaussian_filter(column, sigma, mode="nearest") if sigma > 0 else column.copy()
    noise = rng.uniform(*observation.noise_molec_cm2) * MOLEC_CM2
    seen = seen + noise * rng.standard_normal(grid.shape)
    if observation.cloud_fraction > 0:
        clouds = smooth_noise(grid.shape, 3.0, rng)
        seen[clouds > np.quantile(clouds, 1 - observation.cloud_fraction)] = np.nan
    return seen


def _scene_arrays(seed: int, grid: Grid, observation: Observation, spinup_h: float) -> dict:
    """Every array of scene ``seed`` (numpy): the truth, the observation and the winds at the overpass."""
    sources, wind, chemistry, drawn = draw(seed, grid)
    overpass = drawn["day"] * 86400.0 + observation.overpass_hour * 3600.0
    emission = sources.emission(grid)
    column, _ = simulate(np.zeros(grid.shape), grid, chemistry, wind, emission,
                         start=overpass - spinup_h * 3600.0, end=overpass)
    u, v = cell_winds(*wind(overpass))
    seen = observe(column, grid, observation, np.random.default_rng([seed, 3]))
    return {"no2_column": seen, "no2_column_true": column, "emission": emission(overpass), "u": u, "v": v,
            "tau": np.array([chemistry.tau_s])}


_VARIABLES = {  # name: (units, long_name)
    "no2_column": ("mol m-2", "tropospheric NO2 column as observed (footprint, noise, cloud gaps)"),
    "no2_column_true": ("mol m-2", "tropospheric NO2 column simulated at the overpass"),
    "emission": ("mol m-2 s-1", "NOx emission (as NO2) at the overpass"),
    "u": ("m s-1", "eastward boundary-layer wind"),
    "v": ("m s-1", "northward boundary-layer wind"),
}


def _coords(grid: Grid) -> dict:
    centres = (np.arange(grid.nx) + 0.5) * grid.dx
    return {"y": ((np.arange(grid.ny) + 0.5) * grid.dx)[::-1], "x": centres}


def _finish(ds: xr.Dataset, grid: Grid, observation: Observation, seeds) -> xr.Dataset:
    for name, (units, long_name) in _VARIABLES.items():
        ds[name] = cf(ds[name], units, long_name)
    ds["tau"] = cf(ds["tau"], "s", "NOx lifetime of the simulation")
    ds = georeference(ds, crs=SCENE_CRS)
    return stamp(ds, "no2.ctm.scenes", made_from=[], seeds=list(seeds), grid=str(grid),
                 observation=str(observation))


#: a local equidistant projection (metres) over the Netherlands, where the scenes are placed
SCENE_CRS = "+proj=aeqd +lat_0=52 +lon_0=5 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def scene(seed: int, grid: Grid = Grid(), observation: Observation = Observation(), *,
          spinup_h: float = 36.0) -> xr.Dataset:
    """Scene ``seed`` as a Dataset (numpy): ``no2_column`` (observed), ``no2_column_true``, ``emission``,
    ``u``, ``v`` at the overpass and the lifetime ``tau``.

    Examples
    --------
    >>> ds = scene(0, Grid(ny=24, nx=24), spinup_h=6)
    >>> ds["no2_column"].attrs["units"], ds["emission"].attrs["units"]
    ('mol m-2', 'mol m-2 s-1')
    """
    arrays = _scene_arrays(seed, grid, observation, spinup_h)
    ds = as_dataset(grid, **{name: arrays[name] for name in _VARIABLES}).assign(tau=arrays["tau"][0])
    return _finish(ds, grid, observation, [seed])


def as_dataset(grid: Grid, **fields: np.ndarray) -> xr.Dataset:
    """Model fields (rows from south to north) as a Dataset on (y, x), north up, in metres of :data:`SCENE_CRS`.

    Examples
    --------
    >>> grid = Grid(ny=3, nx=4)
    >>> ds = as_dataset(grid, no2_column=np.zeros(grid.shape))
    >>> ds["no2_column"].dims, bool(ds.y[0] > ds.y[-1])
    (('y', 'x'), True)
    """
    ds = xr.Dataset({name: (("y", "x"), np.asarray(a)[::-1]) for name, a in fields.items()}, coords=_coords(grid))
    return georeference(ds, crs=SCENE_CRS)


def scenes(seeds: Sequence[int], grid: Grid = Grid(), observation: Observation = Observation(), *,
           spinup_h: float = 36.0) -> xr.Dataset:
    """The scenes ``seeds`` along dimension ``scene``, lazy: one Dask task simulates each scene.

    Examples
    --------
    >>> ds = scenes([0, 1], Grid(ny=24, nx=24), spinup_h=6)
    >>> ds["no2_column"].dims, ds["no2_column"].chunks[0]
    (('scene', 'y', 'x'), (1, 1))
    """
    import dask
    import dask.array as dsa

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ParameterError("no seed given: pass at least one seed to draw a scene")
    make = dask.delayed(_scene_arrays, pure=True)
    tasks = [make(s, grid, observation, spinup_h) for s in seeds]

    def stacked(name: str, shape: tuple):
        return dsa.stack([dsa.from_delayed(task[name], shape, dtype=np.float64) for task in tasks])

    variables = {name: (("scene", "y", "x"), stacked(name, grid.shape)[:, ::-1]) for name in _VARIABLES}
    ds = xr.Dataset(variables, coords={**_coords(grid), "scene": seeds})
    ds["tau"] = ("scene", dsa.concatenate([dsa.from_delayed(task["tau"], (1,), dtype=np.float64) for task in tasks]))
    return _finish(ds, grid, observation, seeds)

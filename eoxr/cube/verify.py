"""``verify``: is a cube complete? Every chunk of every variable present and decodable, the arrays on disk
those the metadata commits, coordinates readable and ordered, no interrupted change pending.

A missing chunk reads as fill values (NaN) and a deleted array disappears or reads as NaN, silently: only a
check like this one tells. eoxr writes every chunk, fill values included (``write_empty_chunks``), so any
absent chunk inside the committed shape is a loss (or a template region not filled yet).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import CubeCorruptError, CubeError
from .journal import _pending
from .paths import _Location, _location
from .policy import ZARR_FORMAT

SHOWN = 5  # chunk keys listed per problem


@dataclass
class CubeReport:
    """What :func:`verify` found: ``problems`` (one sentence each, with the fix), and what it checked."""

    path: str
    problems: list[str] = field(default_factory=list)
    variables: int = 0
    chunks: int = 0
    decoded: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        checked = f"{self.variables} arrays, {self.chunks} chunks {'decoded' if self.decoded else 'present'}"
        if self.ok:
            return f"{self.path}: complete ({checked})."
        lines = "\n".join(f"- {p}" for p in self.problems)
        return f"{self.path}: {len(self.problems)} problem(s) ({checked}):\n{lines}"

    def raise_if_broken(self) -> CubeReport:
        if not self.ok:
            raise CubeCorruptError(str(self))
        return self


def verify(path, *, storage_options: dict | None = None, decode: bool = True) -> CubeReport:
    """Check that the cube at ``path`` is complete; return a :class:`CubeReport` (``report.ok``,
    ``report.problems``; ``report.raise_if_broken()`` raises :class:`~eoxr.errors.CubeCorruptError`).

    Checks: no interrupted append or write pending (its journal); every array the cube's committed
    (consolidated) metadata lists has its own ``zarr.json`` with the same shape; every chunk inside that
    shape is stored and, with ``decode=True`` (default; it reads the whole cube), decodes; the coordinates
    open and every index is unique and increasing. ``decode=False`` only lists the chunks.
    """
    location = _location(path, storage_options)
    report = CubeReport(location.name, decoded=decode)
    journal = _pending(location)
    if journal is not None:
        report.problems.append(
            f"an interrupted {journal['op']} (by {journal['holder']}) is pending: readers see the cube as before "
            "it; any eoxr write to the cube undoes it (or finishes a replacement): run that write again.")
    if not location.is_cube():
        report.problems.append("no Zarr v3 cube there (no zarr.json): write it (eoxr.cube.write) or restore it.")
        return report
    for name, arr in _committed(location).items():
        report.variables += 1
        _check_array(location, name, arr, report, decode)
    _check_coordinates(location, report)
    return report


def _committed(location: _Location) -> dict:
    """``{name: zarr array}`` as the cube's committed metadata lists them (its arrays' own without it)."""
    import zarr

    group = zarr.open_group(location.store(read_only=True), mode="r", zarr_format=ZARR_FORMAT)
    return dict(group.arrays())


def _check_array(location: _Location, name: str, arr, report: CubeReport, decode: bool) -> None:
    own = location.read(f"{location.root}/{name}/zarr.json")
    if own is None:
        report.problems.append(f"variable {name!r} is gone (its zarr.json is missing; its chunks read as fill "
                               "values): restore it from a copy, or write the cube again.")
        return
    import json

    shape = json.loads(own).get("shape")
    if list(shape) != list(arr.shape):
        report.problems.append(f"variable {name!r} has shape {tuple(shape)} on disk but {arr.shape} committed: a "
                               "change was interrupted; any eoxr write to the cube puts it back.")
    stored = _stored_keys(location, name)
    missing, broken = [], []
    for coords in itertools.product(*(range(n) for n in arr.cdata_shape)):
        key = arr.metadata.encode_chunk_key(coords)
        report.chunks += 1
        if key not in stored:
            missing.append(f"{name}/{key}")
        elif decode:
            try:
                np.asarray(arr.get_block_selection(coords))
            except Exception as exc:  # noqa: BLE001 - a codec's error of any kind means the chunk is damaged
                broken.append(f"{name}/{key} ({type(exc).__name__}: {exc})")
    if missing:
        report.problems.append(f"variable {name!r}: {len(missing)} of {arr.nchunks} chunks missing "
                               f"({', '.join(missing[:SHOWN])}{', ...' if len(missing) > SHOWN else ''}); they "
                               "read as fill values (NaN). Write those parts again (eoxr.cube.write(ds, path, "
                               "region=...)).")
    if broken:
        report.problems.append(f"variable {name!r}: {len(broken)} chunks cannot be decoded "
                               f"({'; '.join(broken[:SHOWN])}{'; ...' if len(broken) > SHOWN else ''}). Restore "
                               "them from a copy or write those parts again (eoxr.cube.write(ds, path, region=...)).")


def _stored_keys(location: _Location, name: str) -> set[str]:
    prefix = f"{location.root}/{name}/"
    location.fs.invalidate_cache(prefix)
    try:
        return {p[len(prefix):] for p in location.fs.find(prefix)}
    except FileNotFoundError:
        return set()


def _check_coordinates(location: _Location, report: CubeReport) -> None:
    from .open import _open_committed

    try:
        ds = _open_committed(location)
    except CubeError as exc:
        report.problems.append(f"the cube does not open: {exc}")
        return
    for dim, index in ds.indexes.items():
        if index.has_duplicates or not (index.is_monotonic_increasing or index.is_monotonic_decreasing):
            report.problems.append(f"coordinate {dim!r} is not unique and ordered: rewrite the cube from a sorted, "
                                   f"deduplicated dataset (ds.sortby('{dim}').drop_duplicates('{dim}')).")

"""Readers for both engines whose failures raise :class:`ReadError` naming the item id and href, and
the ``read_ok`` flags of ``on_error='nodata'``."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr
from odc.loader._rio import RioDriver, RioReader
from stackstac.rio_reader import AutoParallelRioReader

from ..errors import ReadError


def _read_error(href: str, item_id: str | None, band: str | None, err: BaseException) -> ReadError:
    return ReadError(
        f"could not read band {band!r} of item {item_id!r} from {href}: {err}. Check that the href exists "
        "and is readable (signed URL not expired, credentials, network); load(..., on_error='nodata') "
        "fills unreadable assets with NaN and flags them in the variable 'read_ok' instead."
    )


def _probe(href: str, options: dict) -> np.ndarray:
    """0-d bool array: True when the asset at ``href`` opens (used for the ``read_ok`` flag)."""
    import rasterio

    try:
        with rasterio.Env(**options), rasterio.open(href) as src:
            src.profile  # noqa: B018  (header parsed)
        ok = True
    except Exception:  # any failure to open means the asset is not readable
        ok = False
    return np.asarray(ok)


class NamedRioReader(AutoParallelRioReader):
    """stackstac reader whose failures raise :class:`ReadError` naming the item id and href.

    ``where`` maps each href to ``(item id, band name)``; stackstac raises a bare RuntimeError
    ("Error opening '<href>'") inside the graph, which names the file but not the item.
    """

    def __init__(self, *, where: Mapping[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        # Keep only this asset's entry: readers are pickled one per asset into the graph.
        where = where or {}
        self.where = {self.url: where[self.url]} if self.url in where else {}

    def read(self, window, **kwargs):
        try:
            return super().read(window, **kwargs)
        except Exception as err:
            item_id, band = self.where.get(self.url, (None, None))
            failure = _read_error(self.url, item_id, band, err)
        # Raised outside the except block: no chained rasterio exception, which may not unpickle
        # when a distributed worker sends the error back (it would arrive as a bare Exception).
        raise failure

    def __getstate__(self):
        return {**super().__getstate__(), "where": self.where}

    def __setstate__(self, state):
        self.__init__(**state)


class NamedOdcReader(RioReader):
    """odc-stac reader whose failures raise :class:`ReadError` naming the item id and href."""

    def __init__(self, src, ctx, where: Mapping[str, tuple[str, str]]):
        super().__init__(src, ctx)
        self._where = where

    def read(self, cfg, dst_geobox, *, dst=None, selection=None):
        try:
            return super().read(cfg, dst_geobox, dst=dst, selection=selection)
        except Exception as err:
            item_id, band = self._where.get(self._src.uri, (None, None))
            failure = _read_error(self._src.uri, item_id, band, err)
        raise failure  # outside the except block, see NamedRioReader.read


class NamedOdcDriver(RioDriver):
    """odc-stac reader driver that carries ``options`` (GDAL settings) into every task of the graph."""

    def __init__(self, options: Mapping[str, Any], where: Mapping[str, tuple[str, str]]):
        super().__init__()
        self.options = dict(options)
        self.where = dict(where)

    def capture_env(self) -> dict[str, Any]:
        env = super().capture_env()
        env.update(self.options)
        return env

    def open(self, src, ctx):
        return NamedOdcReader(src, ctx, self.where)


def with_read_flags(ds, names, engine_items, options):
    """Add ``read_ok(time, band)`` from one lazy header read per asset and NaN the failed ones."""
    import dask
    import dask.array as da

    rows = []
    for d in engine_items:
        cells = [da.from_delayed(dask.delayed(_probe, pure=True)(d["assets"][n]["href"], options),
                                 shape=(), dtype=bool) for n in names]
        rows.append(da.stack(cells))
    flags = xr.DataArray(da.stack(rows), dims=("time", "band"),
                         coords={"time": ds["time"], "band": list(names)})
    ds = ds.copy()
    for name in names:
        ds[name] = ds[name].where(flags.sel(band=name, drop=True)).assign_attrs(ds[name].attrs)
    ds["read_ok"] = flags.assign_attrs(
        units="1", long_name="asset of this band and time step could be read (False: filled with NaN)"
    )
    return ds

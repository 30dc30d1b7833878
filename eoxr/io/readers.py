"""Readers for both engines whose failures raise :class:`ReadError` naming the item id and href, retry dropped
connections (:mod:`.retry`), and with ``on_error='nodata'`` mark the windows they could not read, from which
:func:`read_failures` makes the ``read_ok`` flags: the flags record what was read, not what could be opened."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from odc.loader._rio import RioDriver, RioReader
from stackstac.rio_reader import AutoParallelRioReader

from ..errors import ReadError, redact
from .retry import ReadRetry

logger = logging.getLogger(__name__)

#: What a reader returns for a window it could not read with ``on_error='nodata'``: a normal float that no
#: file of integers holds and no physical quantity takes (-1.5 * 2**-126, exact in float32 and float64). Not
#: NaN: stackstac treats an all-NaN window as empty and would drop the mark.
READ_FAILED = -1.5 * 2.0**-126


def _read_error(href: str, item_id: str | None, band: str | None, err: BaseException, retry: ReadRetry) -> ReadError:
    text = str(err)
    if "timed out" in text.lower():
        hint = ("the server did not answer in time: raise GDAL_HTTP_TIMEOUT (seconds per request) or "
                "GDAL_HTTP_MAX_RETRY with load(..., gdal_env={...}) for a slow server, or check the network")
    else:
        hint = ("check that the href exists and is readable (signed URL not expired, credentials, network; "
                f"dropped connections were tried {retry.attempts} times)")
    return ReadError(
        f"could not read band {band!r} of item {item_id!r} from {href}: {text}. To fix: {hint}; "
        "load(..., on_error='nodata') fills unreadable assets with NaN and flags them in the variable "
        "'read_ok' instead."
    )


def _failed_window(href: str, item_id: str | None, band: str | None, err: BaseException, shape, dtype) -> np.ndarray:
    """The :data:`READ_FAILED` window that stands for a failed read with ``on_error='nodata'``."""
    logger.warning("could not read band %r of item %r from %s: %s; its pixels are NaN and read_ok is False",
                   band, item_id, redact(href), redact(err))
    return np.full(shape, READ_FAILED, dtype=dtype)


class NamedRioReader(AutoParallelRioReader):
    """stackstac reader whose failures raise :class:`ReadError` naming the item id and href.

    ``where`` maps each href to ``(item id, band name)``; stackstac raises a bare RuntimeError
    ("Error opening '<href>'") inside the graph, which names the file but not the item. With
    ``nodata_on_error`` a failed window comes back as :data:`READ_FAILED` instead.
    """

    def __init__(self, *, where: Mapping[str, tuple[str, str]] | None = None, retry: ReadRetry = ReadRetry(),
                 nodata_on_error: bool = False, **kwargs):
        super().__init__(**kwargs)
        # Keep only this asset's entry: readers are pickled one per asset into the graph.
        where = where or {}
        self.where = {self.url: where[self.url]} if self.url in where else {}
        self.retry = retry
        self.nodata_on_error = nodata_on_error

    def read(self, window, **kwargs):
        try:
            return self.retry.call(self.url, lambda: super(NamedRioReader, self).read(window, **kwargs))
        except Exception as err:  # noqa: BLE001 - every failure is named, or marked
            item_id, band = self.where.get(self.url, (None, None))
            if self.nodata_on_error:
                return _failed_window(self.url, item_id, band, err, (window.height, window.width), self.dtype)
            failure = _read_error(self.url, item_id, band, err, self.retry)
        # Raised outside the except block: no chained rasterio exception, which may not unpickle
        # when a distributed worker sends the error back (it would arrive as a bare Exception).
        raise failure

    def __getstate__(self):
        return {**super().__getstate__(), "where": self.where, "retry": self.retry,
                "nodata_on_error": self.nodata_on_error}

    def __setstate__(self, state):
        self.__init__(**state)


class NamedOdcReader(RioReader):
    """odc-stac reader whose failures raise :class:`ReadError` naming the item id and href (or, with
    ``driver.nodata_on_error``, come back as :data:`READ_FAILED`)."""

    def __init__(self, src, ctx, driver: NamedOdcDriver):
        super().__init__(src, ctx)
        self._driver = driver

    def read(self, cfg, dst_geobox, *, dst=None, selection=None):
        driver = self._driver
        try:
            return driver.retry.call(
                self._src.uri, lambda: super(NamedOdcReader, self).read(cfg, dst_geobox, dst=dst, selection=selection)
            )
        except Exception as err:  # noqa: BLE001 - every failure is named, or marked
            item_id, band = driver.where.get(self._src.uri, (None, None))
            if driver.nodata_on_error:
                window = _failed_window(self._src.uri, item_id, band, err, dst_geobox.shape.yx, cfg.dtype)
                if dst is not None:
                    dst[...] = window
                    window = dst
                return np.s_[0:window.shape[0], 0:window.shape[1]], window
            failure = _read_error(self._src.uri, item_id, band, err, driver.retry)
        raise failure  # outside the except block, see NamedRioReader.read


class NamedOdcDriver(RioDriver):
    """odc-stac reader driver that carries ``options`` (GDAL settings) into every task of the graph."""

    def __init__(self, options: Mapping[str, Any], where: Mapping[str, tuple[str, str]], nodata_on_error: bool):
        super().__init__()
        self.options = dict(options)
        self.where = dict(where)
        self.retry = ReadRetry.from_options(self.options)
        self.nodata_on_error = nodata_on_error

    def capture_env(self) -> dict[str, Any]:
        env = super().capture_env()
        env.update(self.options)
        return env

    def open(self, src, ctx):
        return NamedOdcReader(src, ctx, self)


def read_failures(raw):
    """``(values, read_ok)`` of one band's ``(time, y, x)`` dask array read with ``on_error='nodata'``: the
    values with the :data:`READ_FAILED` windows as NaN, and per time step whether every window was read.

    ``read_ok`` depends on every chunk of its time step: computing it reads them (compute it together with
    the values, ``ds.compute()``, to read each chunk once).
    """
    import dask.array as da

    failed = raw == raw.dtype.type(READ_FAILED)
    return da.where(failed, raw.dtype.type(np.nan), raw), ~failed.any(axis=(1, 2))

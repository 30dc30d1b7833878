"""Retries of the asset reads GDAL does not retry itself.

GDAL retries HTTP 429/5xx answers and timeouts (``GDAL_HTTP_MAX_RETRY`` times, from
``GDAL_HTTP_RETRY_DELAY`` seconds apart, doubling). A connection that a server, proxy or load balancer closes
without an answer ("Empty reply from server", "Connection reset", "Recv failure") fails at once, and GDAL then
remembers the file as missing for the rest of the process: every later open says "does not exist in the file
system". :class:`ReadRetry` retries such failures with the same budget and back-off, with GDAL's cache switched
off for the retry (``CPL_VSIL_CURL_NON_CACHED``) so that it asks the server again. A file remembered as
missing is asked for once more (a real 404 costs one request). Each try is bounded by ``GDAL_HTTP_TIMEOUT``.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from ..errors import redact

logger = logging.getLogger(__name__)

T = TypeVar("T")

# curl errors of a connection closed without an answer
DROPPED = ("Empty reply from server", "Connection reset", "Connection was reset", "Recv failure", "Send failure",
           "Failure when receiving data", "transfer closed")
REMEMBERED_MISSING = "does not exist in the file system"
# GDAL's virtual file system of each remote scheme
_VSI = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/", "az": "/vsiaz/",
        "azure": "/vsiaz/"}


@dataclass(frozen=True)
class ReadRetry:
    """How often and how far apart to retry a read of a remote asset whose connection dropped."""

    attempts: int = 6
    delay: float = 1.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ReadRetry:
        """The budget GDAL uses for HTTP errors (``GDAL_HTTP_MAX_RETRY``, ``GDAL_HTTP_RETRY_DELAY``)."""
        return cls(attempts=int(options.get("GDAL_HTTP_MAX_RETRY", 0)) + 1,
                   delay=float(options.get("GDAL_HTTP_RETRY_DELAY", 1.0)))

    def call(self, url: str, read: Callable[[], T]) -> T:
        """``read()``, tried again while a remote ``url`` fails with a dropped connection."""
        vsi = _vsi_path(url)
        attempt = 0
        while True:
            try:
                with self._uncached(vsi) if attempt else contextlib.nullcontext():
                    return read()
            except Exception as err:  # noqa: BLE001 - whatever the reader raised; re-raised unless transient
                if not self._again(vsi, attempt, str(err)):
                    raise
                logger.info("retrying %s after a dropped connection (try %d of %d): %s", redact(url), attempt + 2,
                            self.attempts, redact(err))
            time.sleep(self.delay * 2 ** attempt if attempt else 0.0)
            attempt += 1

    def _again(self, vsi: str | None, attempt: int, text: str) -> bool:
        if vsi is None or attempt + 1 >= self.attempts:
            return False
        return any(marker in text for marker in DROPPED) or (attempt == 0 and REMEMBERED_MISSING in text)

    @staticmethod
    def _uncached(vsi: str):
        import rasterio

        return rasterio.Env(CPL_VSIL_CURL_NON_CACHED=vsi)


def _vsi_path(url: str) -> str | None:
    """GDAL's name of a remote ``url`` (``/vsicurl/https://...``), or None for a local file."""
    parts = urlparse(url)
    prefix = _VSI.get(parts.scheme)
    if prefix is None:
        return None
    return prefix + (url if prefix == "/vsicurl/" else f"{parts.netloc}{parts.path}")

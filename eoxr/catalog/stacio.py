"""STAC JSON read and written on local disks and object stores (``s3://``, ``gs://``, ``memory://``... through
fsspec with ``storage_options``); http(s) read with a bounded timeout and retries (pystac's own reader waits for
a silent server without end). Writes replace a file whole: a rename on local disks, one PUT on object stores,
so readers see the old document or the new one."""
from __future__ import annotations

import os
import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pystac.stac_io import DefaultStacIO

from .http import Http, request_failed

_PYSTAC_SCHEMES = ("", "file", "http", "https")


def is_object_store_url(href) -> bool:
    """Whether ``href`` is a URL of an fsspec filesystem other than local disks and http(s)."""
    return isinstance(href, str) and "://" in href and urlparse(href).scheme not in _PYSTAC_SCHEMES


class FsspecStacIO(DefaultStacIO):
    """pystac's I/O, with object-store URLs reached through fsspec and ``storage_options``, and http(s) URLs
    with ``http``'s timeout and retries (default: :class:`Http`'s defaults)."""

    def __init__(self, storage_options: dict | None = None, http: Http | None = None):
        super().__init__()
        self.storage_options = dict(storage_options or {})
        self.http = http or Http()
        self._api_io = None

    def _fs(self, href: str):
        import fsspec

        return fsspec.core.url_to_fs(href, **self.storage_options)

    def read_text_from_href(self, href: str) -> str:
        if is_object_store_url(href):
            fs, path = self._fs(href)
            return fs.cat_file(path).decode("utf-8")
        if href.startswith(("http://", "https://")):
            return self._read_http(href)
        return super().read_text_from_href(href)

    def _read_http(self, href: str) -> str:
        if self._api_io is None:
            self._api_io = self.http.stac_io()
        try:
            return self._api_io.request(href)
        except Exception as err:  # noqa: BLE001 - requests and pystac-client errors
            failure = request_failed(href, err, self.http, "fetch the STAC file")
        raise failure  # outside the except block: the message says it all

    def write_text_to_href(self, href: str, txt: str) -> None:
        if is_object_store_url(href):
            fs, path = self._fs(href)
            fs.pipe_file(path, txt.encode("utf-8"))
            return
        path = Path(urlparse(href).path if href.startswith("file://") else href)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
        partial.write_text(txt, encoding="utf-8")
        os.replace(partial, path)


@dataclass(frozen=True)
class StoreFile:
    """A STAC file on an object store: its URL, and the fsspec options that reach it."""

    url: str
    storage_options: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.url)[1]

"""Misbehaving servers on 127.0.0.1 for reliability tests, each a context manager that always stops.

* :func:`silent_server`: accepts TCP connections and never answers (a hung server, a firewall that lets the
  handshake through, a process stopped with SIGSTOP).
* :class:`FileServer`: serves the files of a folder over HTTP/1.1 with byte ranges, as object stores serve
  COGs to GDAL; ``fault`` makes a chosen fraction of the requests answer 503 or drop the connection.
* :class:`Empty404Proxy`: an HTTP proxy that answers every request with ``404`` and an empty body.
* :class:`ConformanceProxy`: a reverse proxy in front of a STAC API that adds conformance classes to its
  landing page and records the search bodies it forwards.

and what they serve: :func:`write_cog` writes a small tiled GeoTIFF, :func:`cog_item` a STAC item of it.
"""
from __future__ import annotations

import json
import socket
import threading
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds


@contextmanager
def silent_server():
    """Yield ``http://127.0.0.1:<port>`` of a TCP server that accepts connections and never sends a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # kept open, never read, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        listener.close()


class _Server:
    """A ThreadingHTTPServer in a thread; subclasses give the handler."""

    handler: type[BaseHTTPRequestHandler]

    def __enter__(self):
        handler = type("Handler", (self.handler,), {"server_state": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as object stores and STAC APIs answer

    def log_message(self, *args):  # keep test output clean
        pass


class _FileHandler(_QuietHandler):
    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        state = self.server_state
        fault = state.next_fault()
        state.log.append((self.command, self.path, self.headers.get("Range"), fault))
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # no status line: the client sees the connection end
            return
        if fault == "503":
            self._reply(503, b"busy", {"Retry-After": "0"}, body)
            return
        path = state.root / self.path.lstrip("/").split("?")[0]
        if not path.is_file():
            self._reply(404, b"not found", {}, body)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        ranged = self.headers.get("Range", "").startswith("bytes=")
        if ranged:
            first, _, last = self.headers["Range"][6:].partition("-")
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "image/tiff"}
        if ranged:
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._reply(206 if ranged else 200, data[start:end + 1], headers, body)

    def _reply(self, status: int, data: bytes, headers: dict, body: bool) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(data))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)


class FileServer(_Server):
    """Serve the files under ``root``; ``fault`` ("503" or "drop") hits ``fail`` requests of every ``every``.

    The n-th request (0-based, all clients together) fails when ``n % every < fail``: ``fail=1, every=3``
    fails a third of the requests, evenly spread, so a client that retries gets through; ``fail=every``
    fails them all. ``log`` holds ``(method, path, range, fault)`` of each request.
    """

    handler = _FileHandler

    def __init__(self, root: Path, fault: str | None = None, fail: int = 0, every: int = 1):
        self.root, self.fault, self.fail, self.every = Path(root), fault, fail, every
        self.log: list[tuple] = []
        self._count = 0
        self._lock = threading.Lock()

    def next_fault(self) -> str | None:
        with self._lock:
            n, self._count = self._count, self._count + 1
        return self.fault if self.fault and n % self.every < self.fail else None

    def href(self, path: Path, query: str = "") -> str:
        return f"{self.url}/{Path(path).relative_to(self.root).as_posix()}{'?' + query if query else ''}"


class _Empty404Handler(_QuietHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server_state.requests.append((self.command, self.path))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = _answer


class Empty404Proxy(_Server):
    """An HTTP proxy (set it as ``HTTP_PROXY``) that answers everything with an empty 404.

    ``requests`` holds ``(method, target)`` of what reached it (absolute URLs, as clients send to a proxy).
    """

    handler = _Empty404Handler

    def __init__(self):
        self.requests: list[tuple[str, str]] = []


class _ConformanceHandler(_QuietHandler):
    def do_GET(self):
        self._forward(None)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server_state.bodies.append(json.loads(body or b"{}"))
        self._forward(body)

    def _forward(self, body: bytes | None) -> None:
        state = self.server_state
        request = urllib.request.Request(state.upstream + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode().replace(state.upstream, state.url)  # links lead back here
        if self.path in ("", "/"):
            landing = json.loads(text)
            landing["conformsTo"] = [*landing.get("conformsTo", []), *state.extra]
            text = json.dumps(landing)
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ConformanceProxy(_Server):
    """A reverse proxy to the STAC API ``upstream`` that advertises ``extra`` conformance classes too;
    ``bodies`` holds the JSON bodies of the POST requests (searches) it forwarded."""

    handler = _ConformanceHandler

    def __init__(self, upstream: str, extra: tuple[str, ...]):
        self.upstream, self.extra = upstream.rstrip("/"), extra
        self.bodies: list[dict] = []


# ------------------------------------------------------------------------------------------ what they serve
SIZE, TILE, RES, ORIGIN = 256, 128, 10.0, (500_000.0, 5_000_000.0)
# fast failure in tests: 1 s per request, one retry, 10 ms apart
FAST = {"GDAL_HTTP_TIMEOUT": 1, "GDAL_HTTP_CONNECTTIMEOUT": 1, "GDAL_HTTP_MAX_RETRY": 1,
        "GDAL_HTTP_RETRY_DELAY": 0.01}


def write_cog(path: Path, values: np.ndarray) -> Path:
    """A tiled, deflated uint16 GeoTIFF of SIZE x SIZE pixels on EPSG:32631 (nodata 0)."""
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint16", crs="EPSG:32631",
                   transform=from_origin(*ORIGIN, RES, RES), nodata=0, tiled=True, blockxsize=TILE,
                   blockysize=TILE, compress="deflate")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("uint16"), 1)
    return path


def cog_item(index: int, href: str) -> dict:
    """A STAC item of one ``red`` asset at ``href`` on the grid of :func:`write_cog`, day ``index + 1``."""
    west, north = ORIGIN
    bounds = (west, north - SIZE * RES, west + SIZE * RES, north)
    lon_lat = transform_bounds("EPSG:32631", "EPSG:4326", *bounds)
    w, s, e, n = lon_lat
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": f"scene-{index}", "bbox": list(lon_lat),
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": f"2023-06-{index + 1:02d}T10:00:00Z", "proj:epsg": 32631},
        "links": [],
        "assets": {"red": {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                           "roles": ["data"], "proj:transform": [RES, 0, west, 0, -RES, north],
                           "proj:shape": [SIZE, SIZE], "raster:bands": [{"nodata": 0, "data_type": "uint16"}]}},
    }

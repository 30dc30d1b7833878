"""A real STAC API on loopback for tests: ``rustac serve`` over an .ndjson of items.

    from stac_api import serve_items, real_items

    with serve_items(real_items(real_data), tmp_path) as url:
        eoxr.catalog.search(url, collections="naip", limit=5)

rustac's in-memory backend implements Item Search (ids, collections, bbox, intersects, datetime, paging
through ``next`` links) but neither CQL2 ``filter`` nor the ``query`` extension: it does not advertise
``.../item-search#query`` and answers a ``query`` with no item. eoxr.catalog.search therefore applies
``query`` client-side on such APIs. GET ``/search?bbox=...`` answers 500 there; pystac-client searches
with POST, which works.

The module also offers ``free_port`` (for a port where nothing listens), ``build_static_catalog`` (the
same items as a static catalog on disk) and a ``stac_api`` pytest fixture (module scope) serving every real
recorded item.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pystac
import pytest

#: FeatureCollections of real STAC items recorded from Earth Search and Planetary Computer
REAL_ITEM_FILES = (
    "stac_pystac_client/extracted/TestItemSearch.test_intersects_results__0.json",
    "stac_pystac_client/extracted/TestItemSearch.test_results__0.json",
    "stac_pystac_client/extracted/test_fallback_strategy__2.json",
    "stac_pystac_client/extracted/test_multiple_collections__0.json",
    "stac_odc_stac/site1-20200606-tall-strip-africa.geojson",
    "stac_odc_stac/site2-2020_jun_jul-35MNM.geojson",
)


def real_items(real_data: Path) -> list[dict]:
    """Every recorded real item once (the two odc-stac files share one item), as dicts."""
    seen, items = set(), []
    for name in REAL_ITEM_FILES:
        for item in json.loads((real_data / name).read_text())["features"]:
            key = (item.get("collection"), item["id"])
            if key not in seen:
                seen.add(key)
                items.append(item)
    return items


def build_static_catalog(items: list[dict], root: Path) -> Path:
    """A self-contained pystac Catalog with one Collection per collection id, saved under ``root``."""
    cat = pystac.Catalog(id="real-recorded", description="real STAC items recorded from public APIs")
    for cid in sorted({i["collection"] for i in items}):
        members = [pystac.Item.from_dict(i) for i in items if i["collection"] == cid]
        coll = pystac.Collection(id=cid, description=cid, extent=pystac.Extent.from_items(members))
        coll.add_items(members)
        cat.add_child(coll)
    cat.normalize_hrefs(str(root))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def rustac_binary() -> str:
    beside_python = Path(sys.executable).parent / "rustac"
    found = str(beside_python) if beside_python.exists() else shutil.which("rustac")
    if not found:
        pytest.skip("the rustac command is not installed (pip install rustac)")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (at the time of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_items(items: Iterable[dict], workdir: Path, startup_timeout: float = 30.0) -> Iterator[str]:
    """Serve ``items`` with ``rustac serve`` on 127.0.0.1; yield the API root URL; always stop it.

    Collections are created from the items' ``collection`` fields (``--create-collections``).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ndjson = workdir / "items.ndjson"
    with ndjson.open("w") as out:
        for item in items:
            out.write(json.dumps(item) + "\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "rustac.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [rustac_binary(), "serve", "--addr", f"127.0.0.1:{port}", "--create-collections", str(ndjson)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(f"{url}/collections", proc, log_path, startup_timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_until_up(probe: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rustac serve exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(probe, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"rustac serve did not answer {probe} within {timeout} s: {log_path.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def stac_api(real_data, tmp_path_factory) -> Iterator[str]:
    """URL of a loopback STAC API serving every real recorded item (see ``real_items``)."""
    with serve_items(real_items(real_data), tmp_path_factory.mktemp("stac_api")) as url:
        yield url

"""What eoxr writes when something fails: no credential in any message, traceback or log record, and each
message names the fix."""
from __future__ import annotations

import logging
import traceback

import dask
import numpy as np
import pytest
import xarray as xr
from servers import FAST, TILE, Empty404Proxy, FileServer, cog_item, silent_server, write_cog

import eoxr.catalog as catalog
from eoxr.attrs import require_dims
from eoxr.errors import CatalogError, EoxrError, MissingVariableError, ReadError, redact
from eoxr.io import load

SECRET = "S3cr3tT0k3n"
SIGNED = (f"st=2024-01-01T00%3A00Z&se=2024-01-02T00%3A00Z&sp=rl&sv=2021-06-08&sr=c&skoid=abc&sig={SECRET}",
          f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA{SECRET}%2F20240101&X-Amz-Signature={SECRET}",
          f"token={SECRET}")


def written(err: BaseException, caplog) -> str:
    """Everything a user sees of a failure: the whole traceback with its causes, and eoxr's log records."""
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("eoxr"))
    return "".join(traceback.format_exception(err)) + "\n" + logged


@pytest.mark.parametrize("text, shown", [
    ("https://acct.blob.core.windows.net/c/B04.tif?st=1&sig=abc%2Fd%3D&sp=r", "https://acct.blob.core.windows.net/c/B04.tif?st=1&sig=***&sp=r"),
    ("s3 presign ?X-Amz-Credential=AKIA/x&X-Amz-Signature=f00&X-Amz-Date=1", "s3 presign ?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1"),
    ("http://user:pa55@proxy:3128 and https://tok@host/x", "http://***@proxy:3128 and https://***@host/x"),
    ("{'password': 'pa55', 'cores': 4} key=k3y monkey=ok Bearer abc.def", "{'password': '***', 'cores': 4} key=*** monkey=ok Bearer ***"),
    ("s3://bucket/key@2x.tif?versionId=3", "s3://bucket/key@2x.tif?versionId=3"),
])
def test_redact_blanks_credentials_and_keeps_the_rest(text, shown):
    assert redact(text) == shown and redact(shown) == shown
    assert str(EoxrError(text)) == shown  # every eoxr error is built redacted


@pytest.mark.parametrize("engine", ["stackstac", "odc"])
@pytest.mark.parametrize("query", SIGNED)
def test_read_errors_and_logs_of_signed_urls_hold_no_secret(tmp_path, caplog, engine, query):
    path = write_cog(tmp_path / "red.tif", np.ones((256, 256)))
    with caplog.at_level(logging.INFO, logger="eoxr"):
        with FileServer(tmp_path, fault="503", fail=1, every=1) as failing:
            href = failing.href(path, query)
            with pytest.raises(ReadError) as err:
                load([cog_item(0, href)], bands=["red"], engine=engine, gdal_env=FAST).compute()
            load([cog_item(0, href)], bands=["red"], engine=engine, gdal_env=FAST, on_error="nodata").compute()
        with FileServer(tmp_path, fault="drop", fail=1, every=2) as dropping, dask.config.set(scheduler="sync"):
            load([cog_item(0, dropping.href(path, query))], bands=["red"], engine=engine, chunks={"y": TILE, "x": TILE},
                 gdal_env={"GDAL_HTTP_RETRY_DELAY": 0.01}).compute()
    text = written(err.value, caplog)
    assert SECRET not in text
    assert href.split("?")[0] in str(err.value) and "=***" in str(err.value)  # the file is still named
    assert any("its pixels are NaN" in r.getMessage() for r in caplog.records)  # the nodata log was scanned
    assert any("retrying" in r.getMessage() for r in caplog.records)  # so was the retry log


def test_catalog_errors_hold_no_credential(caplog, monkeypatch):
    with caplog.at_level(logging.INFO, logger="eoxr"), silent_server() as url:
        api = url.replace("http://", f"http://user:{SECRET}@") + f"/stac?token={SECRET}"
        with pytest.raises(CatalogError) as silent:
            catalog.search(api, timeout=1, retries=0)
    assert SECRET not in written(silent.value, caplog) and "did not answer" in str(silent.value)
    with Empty404Proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", f"http://me:{SECRET}@"))
        monkeypatch.setenv("http_proxy", proxy.url.replace("http://", f"http://me:{SECRET}@"))
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(CatalogError) as proxied:
            catalog.search(f"http://stac.example.org/v1?sig={SECRET}", timeout=1, retries=0)
    assert SECRET not in written(proxied.value, caplog)
    assert f"through the proxy http://***@127.0.0.1:{proxy.url.rsplit(':', 1)[1]}" in str(proxied.value)


def test_band_dimension_named_bands_names_the_rename():
    image = xr.DataArray(np.zeros((3, 4, 5)), dims=("bands", "y", "x"))
    with pytest.raises(MissingVariableError) as err:
        require_dims(image, ("band", "y", "x"), "urban.invert image")
    assert str(err.value) == ("urban.invert image lacks dimension(s) ['band']; it has ('bands', 'y', 'x'). "
                              "To fix: rename yours: .rename({'bands': 'band'}).")
    with pytest.raises(MissingVariableError, match=r"\.rename\(\{'lat': 'y', 'lon': 'x'\}\)"):
        require_dims(xr.DataArray(np.zeros((4, 5)), dims=("lat", "lon")), ("y", "x"))

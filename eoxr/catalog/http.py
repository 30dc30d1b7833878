"""HTTP to STAC sources: every request bounded in time and retried with back-off; failures said plainly.

One request takes at most ``(retries + 1) * timeout`` seconds plus the back-off sleeps
(``backoff * 2**(n-1)`` before the n-th retry, from the second on): ``timeout`` bounds the connection and
every wait for bytes. Connections that fail or time out, and 429/500/502/503/504 answers, are retried.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import CatalogError, redact

RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Http:
    """How long to wait for a STAC server and how often to try again."""

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5

    def check(self) -> None:
        if not _is_number(self.timeout) or not math.isfinite(self.timeout) or self.timeout <= 0:
            raise CatalogError(f"timeout={self.timeout!r}; pass a positive number of seconds (default 30).")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0 \
                or not _is_number(self.backoff) or not self.backoff >= 0:
            raise CatalogError(f"retries={self.retries!r}, backoff={self.backoff!r}; pass retries >= 0 and "
                               "backoff >= 0 seconds.")

    def stac_io(self):
        """A pystac-client ``StacApiIO`` with this timeout and urllib3 retries."""
        from pystac_client.stac_api_io import StacApiIO
        from urllib3 import Retry

        retry = Retry(
            total=self.retries, connect=self.retries, read=self.retries, status=self.retries, other=0,
            backoff_factor=self.backoff, status_forcelist=RETRY_STATUS,
            allowed_methods=frozenset({"GET", "POST", "HEAD"}),  # search is a POST: retry it too
            raise_on_status=True, respect_retry_after_header=True,
        )
        return StacApiIO(max_retries=retry, timeout=self.timeout)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def open_client(url: str, http: Http):
    """``pystac_client.Client`` of the API at ``url``; :class:`CatalogError` when it cannot be opened."""
    import warnings

    from pystac_client import Client
    from pystac_client.warnings import NoConformsTo

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoConformsTo)  # a static catalog over HTTP has none: walked instead
            # Client.open resets the timeout of the StacApiIO it is given to its own argument: pass it again.
            return Client.open(url, stac_io=http.stac_io(), timeout=http.timeout)
    except Exception as err:  # noqa: BLE001 - requests, urllib3, pystac and JSON errors all mean "cannot open"
        failure = request_failed(url, err, http, "open the STAC API at")
    raise failure  # outside the except block: the cause may print the URL with its credentials


def request_failed(url: str, err: Exception, http: Http, action: str) -> CatalogError:
    """A :class:`CatalogError` saying that eoxr could not ``action`` ``url`` (``"open the STAC API at"``), what
    the server (or the network) did, and the fix."""
    status = getattr(err, "status_code", None)
    body = str(err).strip()
    proxy = proxy_for(url)
    via = f" through the proxy {redact(proxy)} (from the HTTP(S)_PROXY environment)" if proxy else ""
    if status is not None:
        said = f"answered HTTP {status} with an empty body" if not body else f"answered HTTP {status}: {body[:300]}"
        fix = _advice_for_status(status, body, proxy)
    elif _timed_out(err):
        said = (f"did not answer within timeout={http.timeout} s, {http.retries + 1} tries "
                f"({type(_cause(err)).__name__})")
        fix = ("check that the URL is a STAC API and that it is up (a server that accepts connections but never "
               "answers looks like this); pass a larger timeout= for a slow API")
    else:
        said = f"failed after {http.retries} retries ({type(_cause(err)).__name__}: {body[:300] or 'no detail'})"
        fix = ("check the URL and your network, raise retries=/backoff= for a flaky server, or search a local "
               "static catalog instead")
    if proxy and status is None:
        fix += f"; the request went through the proxy {redact(proxy)}: check it, or add the host to NO_PROXY"
    return CatalogError(f"could not {action} {url}: it {said}{via}. To fix: {fix}.")


def _advice_for_status(status: int, body: str, proxy: str | None) -> str:
    if status == 404:
        fix = ("check that the URL is the API's landing page (its root, not /search or /collections) "
               "and that the API serves it")
        if not body:
            fix += ("; an empty 404 usually comes from a proxy or gateway that does not know the host, not from "
                    "a STAC API")
        if proxy:
            fix += f": check the proxy {redact(proxy)}, or add the host to NO_PROXY to reach it directly"
        return fix
    if status in (401, 403):
        return ("the API refused access: it needs credentials or a token (or a signed request), or the URL "
                "is for another service")
    if status in RETRY_STATUS:
        return "the server kept failing: try again later, or raise retries=/backoff= for a flaky server"
    return "check the URL and the search filters (the API's answer above says which one it refused)"


def _cause(err: BaseException) -> BaseException:
    """The innermost exception (pystac-client wraps requests' in an APIError that keeps only its text)."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return err


def _timed_out(err: BaseException) -> bool:
    import requests

    cause = _cause(err)
    return isinstance(cause, (requests.Timeout, TimeoutError)) or "timed out" in str(err).lower() \
        or "timeout" in type(cause).__name__.lower()


def proxy_for(url: str) -> str | None:
    """The proxy requests would use for ``url`` (from the environment), or None."""
    import requests.utils

    return requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))

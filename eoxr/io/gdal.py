"""GDAL/rasterio settings for reading cloud-optimised GeoTIFFs, carried into Dask tasks.

Settings set with ``rasterio.Env`` in the client process do not reach Dask workers: each engine needs
them inside its task graph. ``stackstac`` takes a :class:`stackstac.rio_env.LayeredEnv` that is
pickled with every reader; ``odc-stac`` captures the environment when the graph is built and restores
it in every task (see :func:`odc_env`). Both are built here from one dictionary of GDAL options.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: GDAL configuration options used for every read unless overridden by ``gdal_env=``.
DEFAULT_GDAL_OPTIONS: dict[str, Any] = {
    # Retry transient HTTP failures (429/5xx) instead of failing the whole compute.
    "GDAL_HTTP_MAX_RETRY": 5,
    "GDAL_HTTP_RETRY_DELAY": 1,  # seconds, doubled by GDAL on each retry
    # Do not list the remote "directory" to look for sidecar files (.aux.xml, .msk, .ovr).
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Only these extensions are fetched through /vsicurl/; avoids probing for sidecar files.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2,.vrt,.nc,.h5,.hdf",
    # Fetch neighbouring tiles of one window in one request.
    "GDAL_HTTP_MULTIRANGE": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # Cache the header requests of each opened file.
    "VSI_CACHE": "TRUE",
    # Seconds to connect, and for a whole request: a server that accepts and never answers fails in bounded time.
    "GDAL_HTTP_CONNECTTIMEOUT": 10,
    "GDAL_HTTP_TIMEOUT": 60,
}


def gdal_options(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return :data:`DEFAULT_GDAL_OPTIONS` updated with ``overrides`` (a ``{"NAME": value}`` dict).

    A value of ``None`` removes that option.
    """
    opts = dict(DEFAULT_GDAL_OPTIONS)
    for key, value in (overrides or {}).items():
        if value is None:
            opts.pop(key, None)
        else:
            opts[str(key)] = value
    return opts


def stackstac_env(options: Mapping[str, Any] | None = None):
    """A :class:`stackstac.rio_env.LayeredEnv` holding ``options`` on top of stackstac's defaults.

    The env object is pickled inside every stackstac reader, so the options reach every Dask worker.
    """
    import stackstac

    return stackstac.DEFAULT_GDAL_ENV.updated(always=dict(gdal_options(options)))


def odc_env(options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GDAL options in the form odc-stac's reader driver captures into its task graph."""
    from odc.loader._rio import GDAL_CLOUD_DEFAULTS

    return {**GDAL_CLOUD_DEFAULTS, **gdal_options(options)}


def configure_odc(options: Mapping[str, Any] | None = None, client=None) -> None:
    """Make ``options`` the process-wide default of odc-stac (``odc.stac.configure_rio``).

    :func:`eoxr.io.load` does not need this (it puts the options into each graph it builds); call it
    for direct ``odc.stac.load`` calls. ``client`` is a ``distributed.Client`` whose workers should
    receive the settings too.
    """
    import odc.stac

    odc.stac.configure_rio(cloud_defaults=True, client=client, **gdal_options(options))

"""eoxr: satellite observations to geophysical maps on the Pangeo stack.

Spine: ``eoxr.catalog`` (STAC search) -> ``eoxr.io`` (lazy datasets) -> ``eoxr.cube`` (Zarr) ->
``ds.<domain>.<verb>()`` accessors -> ``eoxr.ml`` (PyTorch training and halo prediction), run on a
Dask cluster from ``eoxr.cluster.connect()``.
"""
import importlib

__version__ = "0.1.0"

_SPINE = ("accessors", "arrays", "attrs", "bench", "catalog", "cluster", "cube", "errors", "io", "metrics", "ml",
          "quicklook", "sample", "units")
_DOMAINS = ("urban", "lst", "rain", "no2", "pivot")

# Domain packages register their xarray accessors (ds.urban, ds.lst, ...) on import; none imports torch.
for _name in _DOMAINS:
    importlib.import_module(f"{__name__}.{_name}")


def __getattr__(name):
    if name in _SPINE:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'eoxr' has no attribute {name!r}")


__all__ = ["__version__", *_SPINE, *_DOMAINS]

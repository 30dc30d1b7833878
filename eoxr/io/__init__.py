"""From STAC items and mission products to lazy, CF-annotated xarray Datasets with a CRS."""
from .stac import load
from .products import open_product

__all__ = ["load", "open_product"]

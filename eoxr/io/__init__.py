"""From STAC items and mission products to lazy, CF-annotated xarray Datasets with a CRS."""
from .products import open_product
from .stac import check_valid, load

__all__ = ["load", "check_valid", "open_product"]

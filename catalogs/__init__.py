"""The named STAC endpoints (endpoints.yaml), shipped inside eoxr as ``eoxr.catalogs`` (see setup.py)."""

"""The pivot representation: several sensors (Sentinel-1, Sentinel-2, Landsat, MODIS) fused into daily variables
on one fine grid (:func:`fuse`), with the sensor models (:mod:`eoxr.pivot.sensors`), the physical fusion
(:mod:`eoxr.pivot.physical`: reprojection, band adjustment, a Kalman smoother per pixel), the STARFM prediction
of a fine image from a coarse one (:func:`predict_fine`), daily gap-filling (:func:`gapfill`) and their scores on
real data (:mod:`eoxr.pivot.evaluate`); ``ds.pivot`` binds them to datasets. Imports no torch."""
from . import accessor, sensors  # noqa: F401  (accessor registers ds.pivot)
from .fuse import fuse
from .gapfill import gapfill
from .starfm import predict_fine

__all__ = ["fuse", "gapfill", "predict_fine", "sensors"]

"""Learned methods' spine: patches from lazy datacubes -> torch training -> halo prediction on Dask.

::

    from eoxr import ml
    gen = ml.patches(ds, inputs=["lst_coarse", "ndvi"], target="lst", size={"y": 64, "x": 64})
    train_gen, val_gen = ml.split(gen, by="space", fraction=0.2, seed=0)
    model = ml.nets.UNet(in_channels=2, out_channels=1, width=32, depth=3)
    fit = ml.train(model, train_gen, val=val_gen, epochs=20, checkpoint="runs/lst.ckpt")
    out = ml.predict(ds[["lst_coarse", "ndvi"]], "runs/lst.ckpt")   # lazy, same grid and CRS

Importing ``eoxr.ml`` does not import torch; ``ml.nets``, ``ml.train`` and ``ml.predict`` do when used.
"""
from __future__ import annotations

import importlib

from .patches import Patches, patches
from .predict import predict  # the modules import torch only inside their functions
from .split import split
from .train import Fit, train

_LAZY_MODULES = ("nets", "checkpoint", "registry", "device")


def load_checkpoint(path, map_location: str = "cpu"):
    """See :func:`eoxr.ml.checkpoint.load`."""
    from .checkpoint import load

    return load(path, map_location)


def load_count(checkpoint=None) -> int:
    """How many times this process loaded a model for prediction (see :func:`eoxr.ml.predict.load_count`)."""
    from .predict import load_count as _count

    return _count(checkpoint)



def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'eoxr.ml' has no attribute {name!r}")


__all__ = ["Fit", "Patches", "patches", "split", "train", "predict", "load_checkpoint", "load_count", *_LAZY_MODULES]

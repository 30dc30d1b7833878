"""Shipped pretrained models (package data): ``<name>.ckpt`` + ``<name>.ckpt.json``; see README.md and
:mod:`eoxr.ml.registry`."""

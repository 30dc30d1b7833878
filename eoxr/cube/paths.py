"""Where a cube lives: local folders (plain or ``file://``) and object-store URLs."""
from __future__ import annotations

import os
from pathlib import Path

from .policy import ZARR_FORMAT


def _is_url(path: str | os.PathLike) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def _local(path: str | os.PathLike) -> Path:
    text = os.fspath(path)
    return Path(text[len("file://"):] if text.startswith("file://") else text)


def _exists(path: str | os.PathLike) -> bool:
    if _is_url(path):
        import zarr

        try:
            zarr.open_group(path, mode="r", zarr_format=ZARR_FORMAT)
            return True
        except Exception:  # noqa: BLE001 - any failure to open means "no cube there"
            return False
    return _local(path).exists()


def _zarr_path(path) -> str:
    return path if _is_url(path) else os.fspath(_local(path))

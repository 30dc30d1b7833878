"""Signing of asset hrefs for the Planetary Computer (``planetary_computer.sign_inplace``)."""
from __future__ import annotations

import warnings
from urllib.parse import urlparse

from ..errors import CatalogError, EoxrWarning

PLANETARY_COMPUTER_HOST = "planetarycomputer.microsoft.com"


def signer(target, sign: bool | None, entry: dict | None):
    """``planetary_computer.sign_inplace`` when signing is asked for or automatic, else None."""
    if sign is False:
        return None
    if sign is None:
        is_pc = isinstance(target, str) and urlparse(target).hostname == PLANETARY_COMPUTER_HOST
        wanted = is_pc or bool(entry and entry.get("sign"))
        if not wanted:
            return None
        try:
            import planetary_computer
        except ImportError:
            warnings.warn(
                f"{target} serves assets that need signing, but planetary-computer is not installed: reading "
                "them will fail with 403. pip install planetary-computer (or eoxr[pc]), or pass sign=False.",
                EoxrWarning, stacklevel=3,
            )
            return None
        return planetary_computer.sign_inplace
    try:
        import planetary_computer
    except ImportError as err:
        raise CatalogError(
            "sign=True needs the planetary-computer package: pip install planetary-computer "
            "(or eoxr[pc]); or pass sign=False."
        ) from err
    return planetary_computer.sign_inplace

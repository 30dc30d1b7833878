"""Mission products that are not COGs -> lazy, CF-annotated xarray Datasets.

``open_product(path, **kw)`` picks a reader by the file name (the archive's naming convention) and,
when the name says nothing, by the file's content (HDF4 / HDF5 signature, then the structure inside).

| product | file name pattern | reader |
|---|---|---|
| MODIS sinusoidal tiles (MOD09*, MOD11*, MOD13*, ... HDF4) | ``M[OY]D*.hdf`` | :func:`.modis.open_modis` |
| VIIRS Black Marble (VNP46A1/A2 HDF5) | ``VNP46A*.h5`` | :func:`.viirs.open_black_marble` |
| GPM 1C-GMI brightness temperatures | ``1C*GMI*.HDF5`` | :func:`.gpm.open_gmi_1c` |
| GPM 2A-DPR radar rain rate | ``2A*DPR*.HDF5`` | :func:`.gpm.open_dpr_2a` |
| GPM 2A-Ku / 2A-Ka radar (2A-CS subsets too) | ``2A*.Ku.*.HDF5``, ``2A*.Ka.*.HDF5`` | :func:`.gpm.open_dpr_2a` |
| GPM 2A-GPROF radiometer rain rate | ``2A*GPROF*.HDF5`` | :func:`.gpm.open_gprof_2a` |
| GPM IMERG gridded precipitation | ``3B-*IMERG*.HDF5`` | :func:`.gpm.open_imerg` |
| ground radar volume / sweep (ODIM_H5 2.x) | ``*.vol.h5``, ``*.pvol.h5``, ``*.scan.h5`` | :func:`.odim.open_odim` |
| Sentinel-5P L2 NO2 (netCDF4) | ``S5P_*_L2__NO2____*.nc`` | :func:`.s5p.open_s5p_no2` |
| GeoTIFF (already georeferenced; MODIStsp NDVI/EVI by name) | ``*.tif``, ``*.tiff`` | :func:`.geotiff.open_geotiff` |
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from ...errors import ReadError

HDF4_SIGNATURE = b"\x0e\x03\x13\x01"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@dataclass(frozen=True)
class Reader:
    name: str
    pattern: str  # regex on the file name, case-insensitive
    signature: str  # "hdf4", "hdf5" or "tiff": what the file's first bytes must be
    opener: str  # "module:function" inside this package, imported on use


READERS: tuple[Reader, ...] = (
    Reader("MODIS sinusoidal grid (HDF4-EOS)", r"^M[OYC]D\d\d\w*.*\.hdf$", "hdf4", "modis:open_modis"),
    Reader("VIIRS Black Marble VNP46A1/A2 (HDF5)", r"^V[NJ]P46A[12]\..*\.h5$", "hdf5", "viirs:open_black_marble"),
    Reader("GPM 1C-GMI", r"^1C[.-].*GMI.*\.HDF5$", "hdf5", "gpm:open_gmi_1c"),
    Reader("GPM 2A-DPR", r"^2A[.-].*DPR.*\.HDF5$", "hdf5", "gpm:open_dpr_2a"),
    Reader("GPM 2A-Ku / 2A-Ka", r"^2A[.-].*\.K[ua]\..*\.HDF5$", "hdf5", "gpm:open_dpr_2a"),
    Reader("GPM 2A-GPROF", r"^2A[.-].*GPROF.*\.HDF5$", "hdf5", "gpm:open_gprof_2a"),
    Reader("GPM IMERG", r"^3B-.*IMERG.*\.(HDF5|h5)$", "hdf5", "gpm:open_imerg"),
    Reader("ODIM_H5 radar volume / sweep", r"\.(p?vol|scan)\.h5$", "hdf5", "odim:open_odim"),
    Reader("Sentinel-5P L2 NO2", r"^S5P_\w{4}_L2__NO2____.*\.nc$", "hdf5", "s5p:open_s5p_no2"),
    Reader("GeoTIFF", r"\.tiff?$", "tiff", "geotiff:open_geotiff"),
)


def _signature(path: Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(HDF4_SIGNATURE):
        return "hdf4"
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head[:4] in TIFF_SIGNATURES:
        return "tiff"
    return None


def _resolve(opener: str) -> Callable[..., xr.Dataset]:
    import importlib

    module, func = opener.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), func)


def _by_content(path: Path, signature: str | None) -> Reader | None:
    """Reader for a file whose name matches no pattern, from what is inside."""
    readers = {r.opener: r for r in READERS}
    if signature == "tiff":
        return readers["geotiff:open_geotiff"]
    if signature == "hdf4":
        from .modis import looks_like_modis

        return readers["modis:open_modis"] if looks_like_modis(str(path)) else None
    if signature == "hdf5":
        import h5py

        from .odim import is_odim

        try:
            with h5py.File(path, "r") as f:
                header = f.attrs.get("FileHeader", b"")
                header = header.decode(errors="replace") if isinstance(header, bytes) else str(header)
                algorithm = re.search(r"AlgorithmID=([^;]*);", header)
                algorithm = algorithm.group(1).upper() if algorithm else ""
                has_ntl = "HDFEOS/GRIDS/VNP_Grid_DNB" in f
                has_no2 = "PRODUCT/nitrogendioxide_tropospheric_column" in f
                odim = is_odim(f)
        except OSError as exc:
            raise ReadError(
                f"{path}: HDF5 library cannot open the file ({exc}); it is truncated or damaged. Re-download it."
            ) from exc
        if algorithm.startswith("1C") and "GMI" in algorithm:
            return readers["gpm:open_gmi_1c"]
        if algorithm.startswith("2A") and algorithm[2:] in ("DPR", "KU", "KA"):
            return readers["gpm:open_dpr_2a"]
        if algorithm.startswith("2AGPROF"):
            return readers["gpm:open_gprof_2a"]
        if "IMERG" in algorithm:
            return readers["gpm:open_imerg"]
        if has_ntl:
            return readers["viirs:open_black_marble"]
        if has_no2:
            return readers["s5p:open_s5p_no2"]
        if odim:
            return readers["odim:open_odim"]
    return None


def supported() -> str:
    """One line per supported product: its name and file name pattern."""
    return "\n".join(f"  {r.name}: {r.pattern}" for r in READERS)


def open_product(path, **kw) -> xr.Dataset:
    """Open a mission product file as a lazy Dataset with units, long_name, CRS (or swath lat/lon).

    The reader is chosen by file name (see the table in this module's docstring) and, failing
    that, by content. Keyword arguments go to the reader (``chunks=`` for all; ``grid=``,
    ``variables=`` for MODIS; ``swath=`` for GPM; ``sweep=`` for ODIM; ``qa_min=`` for Sentinel-5P).

    Raises :class:`~eoxr.errors.ReadError` for a missing, damaged or unsupported file, and
    :class:`~eoxr.errors.MissingVariableError` when a product lacks a variable it must have.
    """
    path = Path(path)
    if not path.exists():
        raise ReadError(f"{path}: no such file; check the path (relative paths start at {Path.cwd()}).")
    if not path.is_file():
        raise ReadError(f"{path}: is a directory, not a product file; pass one file inside it.")
    signature = _signature(path)
    reader = next((r for r in READERS if re.search(r.pattern, path.name, flags=re.I)), None)
    if reader is not None and signature != reader.signature:
        raise ReadError(
            f"{path}: named like a {reader.name} file but its first bytes are not {reader.signature.upper()} "
            f"(found {signature or 'an unknown format'}); the file is damaged or truncated (an HTML error page "
            "saved under the product's name, for example). Re-download it."
        )
    if reader is None:
        reader = _by_content(path, signature)
    if reader is None:
        raise ReadError(
            f"{path}: not a supported product (format: {signature or 'unknown'}). open_product reads:\n"
            f"{supported()}\nRename the file to its archive name, or open it with xarray/rioxarray directly."
        )
    return _resolve(reader.opener)(path, **kw)


__all__ = ["open_product", "supported", "READERS"]

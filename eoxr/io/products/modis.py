"""MODIS land products on the sinusoidal grid (HDF4-EOS: MOD09, MOD11, MOD13 and kin) -> lazy Dataset.

rasterio's wheels carry no HDF4 driver, so files are read with pyhdf. The grid (extent, size, CRS)
comes from the file's ``StructMetadata.0``; each science data set (SDS) becomes a dask array that
reads only the slices a computation asks for.

Scaling follows each SDS's own attributes. MODIS land files use two conventions:
MOD11 (LST) writes value = DN * scale_factor + add_offset (CF); MOD09 and MOD13 write
scale_factor = 10000 meaning value = (DN - add_offset) / scale_factor (HDF4 ``SDsetcal``).
An SDS with ``calibrated_nt`` and ``scale_factor > 1`` is decoded with the second form, every
other one with the first (MOD09GA ``Range_1``: 25 m per count, no ``calibrated_nt``).
References: Wan (2013) MODIS LST product user's guide C6 (MOD11 QC bits);
Didan et al. (2015) MODIS VI user's guide C6 (MOD13); Vermote et al. (2015) MOD09 user's guide.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ...attrs import georeference, stamp
from ...errors import MissingVariableError, ReadError
from ...units import canonical
from .lazy import HDF4_LOCK, HDF4Dataset, chunks_for, decode, to_dask
from .sinusoidal import MODIS_SINUSOIDAL, GridInfo, parse_struct_metadata, tile_of

# pyhdf SDC type codes -> numpy dtypes
_HDF4_DTYPES = {3: "S1", 4: "S1", 5: "float32", 6: "float64", 20: "int8", 21: "uint8", 22: "int16",
                23: "uint16", 24: "int32", 25: "uint32"}

#: Centre wavelengths (um) of MODIS land bands 1-7 (Vermote et al. 2015, table 1).
MODIS_BAND_CENTRE_UM = {1: 0.645, 2: 0.8585, 3: 0.469, 4: 0.555, 5: 1.24, 6: 1.64, 7: 2.13}
_MOD13_BANDS = {"red": 1, "nir": 2, "blue": 3, "mir": 7}

#: MOD11 QC byte (Wan 2013, table 10) as CF flag_masks / flag_values / flag_meanings.
MOD11_QC_FLAGS = dict(
    flag_masks=np.array([3, 3, 3, 3, 12, 12, 12, 12, 48, 48, 48, 48, 192, 192, 192, 192], dtype=np.uint8),
    flag_values=np.array([0, 1, 2, 3, 0, 4, 8, 12, 0, 16, 32, 48, 0, 64, 128, 192], dtype=np.uint8),
    flag_meanings=(
        "lst_good_quality lst_other_quality lst_not_produced_cloud lst_not_produced_other "
        "data_quality_good data_quality_other data_quality_tbd data_quality_tbd2 "
        "emissivity_error_le_0.01 emissivity_error_le_0.02 emissivity_error_le_0.04 emissivity_error_gt_0.04 "
        "lst_error_le_1K lst_error_le_2K lst_error_le_3K lst_error_gt_3K"
    ),
)

@dataclass
class SDSInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    attrs: dict = field(default_factory=dict)


@dataclass
class Rule:
    """How one SDS (matched by regex on its name) becomes an eoxr variable."""

    pattern: str  # matched with re.fullmatch against the SDS name (MOD13: without its "1 km 16 days " prefix)
    name: str
    long_name: str
    units: str | None = None  # None: from the file
    standard_name: str | None = None
    flag: bool = False
    extra: dict = field(default_factory=dict)


_MOD11_RULES = [
    Rule(r"LST_Day_\d+km", "lst", "land surface temperature, daytime", "K", "surface_temperature"),
    Rule(r"LST_Night_\d+km", "lst_night", "land surface temperature, night-time", "K", "surface_temperature"),
    Rule(r"QC_Day", "qc", "quality control bits of daytime LST and emissivity", "1", flag=True, extra=MOD11_QC_FLAGS),
    Rule(r"QC_Night", "qc_night", "quality control bits of night-time LST and emissivity", "1", flag=True,
         extra=MOD11_QC_FLAGS),
    Rule(r"Emis_(\d+)", r"emissivity_\1", r"surface emissivity in MODIS band \1", "1"),
    Rule(r"Day_view_time", "view_time", "local solar time of the daytime observation", "h"),
    Rule(r"Night_view_time", "view_time_night", "local solar time of the night-time observation", "h"),
    Rule(r"Day_view_angl", "view_zenith", "view zenith angle of the daytime observation", "degree"),
    Rule(r"Night_view_angl", "view_zenith_night", "view zenith angle of the night-time observation", "degree"),
    Rule(r"Percent_land_in_grid", "percent_land", "percentage of land in the grid cell", "%"),
]

_MOD13_RULES = [
    Rule(r"NDVI", "ndvi", "normalized difference vegetation index", "1"),
    Rule(r"EVI", "evi", "enhanced vegetation index", "1"),
    Rule(r"VI Quality", "qa", "vegetation index quality bits", "1", flag=True),
    Rule(r"pixel reliability", "pixel_reliability", "pixel reliability rank", "1", flag=True,
         extra=dict(flag_values=np.array([-1, 0, 1, 2, 3], dtype=np.int8),
                    flag_meanings="fill good marginal snow_ice cloudy")),
    Rule(r"view zenith angle", "view_zenith", "view zenith angle", "degree"),
    Rule(r"sun zenith angle", "sun_zenith", "sun zenith angle", "degree"),
    Rule(r"relative azimuth angle", "relative_azimuth", "relative azimuth angle", "degree"),
    Rule(r"composite day of the year", "composite_day_of_year", "day of year of the composited observation", "1"),
]

_MOD09_RULES = [
    Rule(r"(sur_refl_qc_500m|QC_500m_1|sur_refl_qc_250m|QC_250m_1)", "qa", "surface reflectance quality bits",
         "1", flag=True),
    Rule(r"(sur_refl_state_500m|state_1km_1)", "state", "surface reflectance state bits (cloud, shadow, "
         "land/water, aerosol, cirrus, snow)", "1", flag=True),
    Rule(r"(sur_refl_szen|SolarZenith_1)", "sun_zenith", "sun zenith angle", "degree"),
    Rule(r"(sur_refl_vzen|SensorZenith_1)", "view_zenith", "view zenith angle", "degree"),
    Rule(r"(sur_refl_raz)", "relative_azimuth", "relative azimuth angle", "degree"),
    Rule(r"(SolarAzimuth_1)", "sun_azimuth", "sun azimuth angle", "degree"),
    Rule(r"(SensorAzimuth_1)", "view_azimuth", "view azimuth angle", "degree"),
    Rule(r"(sur_refl_day_of_year)", "day_of_year", "day of year of the observation", "1"),
]

_FAMILIES = {"MOD11": _MOD11_RULES, "MYD11": _MOD11_RULES, "MOD13": _MOD13_RULES, "MYD13": _MOD13_RULES,
             "MOD09": _MOD09_RULES, "MYD09": _MOD09_RULES}

_MOD13_PREFIX = re.compile(r"^[\d.]+\s*k?m\s+(?:16\s+days|monthly)\s+", re.I)
_MOD09_BAND = re.compile(r"^sur_refl_b(\d\d)(?:_1)?$")
_MOD13_BAND = re.compile(r"^(red|NIR|blue|MIR) reflectance$", re.I)


# --------------------------------------------------------------------------------------------- reading


def read_header(path: str) -> tuple[dict, dict[str, SDSInfo]]:
    """Global attributes and the SDS catalogue of an HDF4 file (no pixel is read)."""
    from pyhdf.error import HDF4Error
    from pyhdf.SD import SD, SDC

    with HDF4_LOCK:
        try:
            sd = SD(str(path), SDC.READ)
        except HDF4Error as exc:
            raise ReadError(
                f"{path}: HDF4 library cannot open the file ({exc}); it is truncated or not HDF4. "
                "Re-download it and compare its size/checksum with the archive's."
            ) from exc
        try:
            gattrs = sd.attributes()
            catalogue = {}
            for name, (_dims, shape, code, _index) in sd.datasets().items():
                sds = sd.select(name)
                try:
                    attrs = sds.attributes()
                finally:
                    sds.endaccess()
                shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
                catalogue[name] = SDSInfo(name, shape, np.dtype(_HDF4_DTYPES.get(code, "float64")), attrs)
        finally:
            sd.end()
    return gattrs, catalogue


def struct_metadata(gattrs: dict) -> str:
    """``StructMetadata.0`` (+ ``.1``... when the text was split) of an HDF-EOS file."""
    parts = [gattrs[k] for k in sorted(gattrs) if k.startswith("StructMetadata.")]
    return "".join(parts).rstrip("\x00 ")


def core_metadata(gattrs: dict) -> str:
    for key in ("CoreMetadata.0", "OldCoreMetadata.0"):
        if key in gattrs:
            return str(gattrs[key])
    return ""


def odl_value(text: str, name: str) -> str | None:
    """VALUE of an ODL ``OBJECT = name`` in ECS core metadata."""
    m = re.search(rf"OBJECT\s*=\s*{name}\b.*?VALUE\s*=\s*\"?([^\"\n]*)\"?", text, flags=re.S | re.I)
    return m.group(1).strip() if m else None


def acquisition_time(path: str, core: str) -> np.datetime64 | None:
    """Start of the observation period: RangeBeginningDate/Time, else the file name's A%Y%j token."""
    day = odl_value(core, "RANGEBEGINNINGDATE")
    if day:
        clock = (odl_value(core, "RANGEBEGINNINGTIME") or "00:00:00").split(".")[0]
        try:
            return np.datetime64(dt.datetime.fromisoformat(f"{day}T{clock}"), "ns")
        except ValueError:
            pass
    m = re.search(r"\.A(\d{4})(\d{3})\.", Path(path).name)
    if m:
        return np.datetime64(dt.datetime.strptime(m.group(1) + m.group(2), "%Y%j"), "ns")
    return None


def product_name(path: str, core: str) -> str:
    short = odl_value(core, "SHORTNAME")
    if short:
        return short
    m = re.match(r"^(M[OYC]D\w+?)[._]", Path(path).name, flags=re.I)
    return m.group(1).upper() if m else "MODIS"


def pick_grid(grids: dict[str, GridInfo], grid: str | None, path: str) -> GridInfo:
    """The grid the caller names (full GridName or a unique part such as '500m'), else the finest."""
    if not grids:
        raise ReadError(
            f"{path}: StructMetadata.0 declares no GRID; swath (level-2) HDF-EOS files are not supported. "
            "Use the gridded product (e.g. MOD11A1 instead of MOD11_L2)."
        )
    names = list(grids)
    if grid is not None:
        if grid in grids:
            return grids[grid]
        hits = [n for n in names if grid.lower() in n.lower()]
        if len(hits) == 1:
            return grids[hits[0]]
        raise ReadError(
            f"{path}: grid={grid!r} matches {hits or 'none'} of the file's grids {names}; "
            "pass one full name from that list as grid=."
        )
    sizes = {n: abs(grids[n].pixel_size[0]) for n in names}
    finest = min(sizes.values())
    best = [n for n in names if np.isclose(sizes[n], finest, rtol=1e-6)]
    if len(best) > 1:
        raise ReadError(
            f"{path}: grids {best} share the finest pixel size ({finest:.1f} m); say which with grid=, "
            f"one of {names}."
        )
    return grids[best[0]]


# --------------------------------------------------------------------------------------------- decoding


def _number(value, default=None):
    """Attribute -> float, or ``default`` for absent / textual attributes (QC fills such as 'NA')."""
    if value is None or isinstance(value, (str, bytes)):
        return default
    if isinstance(value, (list, tuple, np.ndarray)):
        return float(value[0]) if len(value) else default
    return float(value)


def _units(info: SDSInfo, rule_units: str | None, scale: float, inverse: bool) -> str:
    if rule_units is not None:
        return rule_units
    raw = str(info.attrs.get("units", "")).strip()
    units = canonical(raw, default="1")  # MODIS writes labels such as "NDVI" or "none" for unitless SDS
    if units == "%" and not inverse and np.isclose(scale, 0.01):
        units = "1"  # percent counts scaled by 0.01 are fractions
    return units


def decode_sds(path: str, info: SDSInfo, chunks, flag: bool = False) -> tuple[object, dict]:
    """Lazy array of one SDS, physical (float32, NaN for fill and out-of-range) unless ``flag``."""
    raw = to_dask(HDF4Dataset(path, info.name, info.shape, info.dtype), chunks_for(info.shape, chunks))
    a = info.attrs
    if flag:
        return raw, {}
    scale = _number(a.get("scale_factor"), 1.0)
    offset = _number(a.get("add_offset"), 0.0)
    inverse = "calibrated_nt" in a and scale > 1.0
    fill = _number(a.get("_FillValue"))
    vr = a.get("valid_range")
    valid_range = tuple(vr[:2]) if isinstance(vr, (list, tuple)) and len(vr) >= 2 else None
    values = decode(raw, scale=scale, offset=offset, fill=fill, valid_range=valid_range, inverse=inverse)
    meta = dict(scale=scale, offset=offset, inverse=inverse)
    return values, meta


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _source_attrs(info: SDSInfo, meta: dict) -> dict:
    out = {"source_sds": info.name}
    for key in ("Legend", "QA bitmap index", "QA index"):
        if key in info.attrs:
            out["flag_description"] = str(info.attrs[key]).strip()
    if meta:
        rule = "(DN - add_offset) / scale_factor" if meta["inverse"] else "DN * scale_factor + add_offset"
        out["decoding"] = f"{rule} with scale_factor={meta['scale']:g}, add_offset={meta['offset']:g}"
    return out


def _family(product: str) -> str:
    return product[:5].upper()


def _is_flag(info: SDSInfo) -> bool:
    """Bit-field / rank SDSs stay integers: masking them with NaN would destroy the bits."""
    if str(info.attrs.get("units", "")).lower() == "bit field":
        return True
    return bool(re.search(r"(^|_)(qc|qa|state|flags?)(_|$)", info.name, flags=re.I))


def _variable(path: str, info: SDSInfo, short: str, rules: list[Rule], chunks) -> tuple[str, xr.DataArray]:
    """Output name and lazy DataArray of one SDS, named and annotated by the first matching rule."""
    rule = next((r for r in rules if re.fullmatch(r.pattern, short)), None)
    is_flag = rule.flag if rule else _is_flag(info)
    values, meta = decode_sds(path, info, chunks, flag=is_flag)
    if rule:
        match = re.fullmatch(rule.pattern, short)
        name, long_name = match.expand(rule.name), match.expand(rule.long_name)
        units, standard, extra = rule.units, rule.standard_name, dict(rule.extra)
    else:
        name, long_name = _snake(short), str(info.attrs.get("long_name", info.name)).strip()
        units, standard, extra = None, None, {}
    if is_flag:
        units = "1"
    attrs = dict(long_name=long_name, units=_units(info, units, meta.get("scale", 1.0), meta.get("inverse", False)))
    if standard:
        attrs["standard_name"] = standard
    attrs.update(extra)
    attrs.update(_source_attrs(info, meta))
    return name, xr.DataArray(values, dims=("y", "x"), attrs=attrs)


def _reflectance(bands: list[tuple]) -> xr.DataArray:
    """Stack (band number, SDS name, values, decoding, SDSInfo) tuples into ``reflectance`` (band, y, x)."""
    import dask.array as dsa

    bands = sorted(bands, key=lambda b: b[0])
    numbers = [b[0] for b in bands]
    decoding = _source_attrs(bands[0][4], bands[0][3])["decoding"]
    return xr.DataArray(
        dsa.stack([b[2] for b in bands]),
        dims=("band", "y", "x"),
        attrs=dict(long_name="surface reflectance", units="1", standard_name="surface_bidirectional_reflectance",
                   source_sds=", ".join(b[1] for b in bands), decoding=decoding),
    ).assign_coords(
        band=("band", [f"b{n:02d}" for n in numbers]),
        modis_band=("band", np.array(numbers, dtype=np.int16), {"long_name": "MODIS band number", "units": "1"}),
        center_wavelength=("band", np.array([MODIS_BAND_CENTRE_UM[n] for n in numbers]),
                           {"long_name": "band centre wavelength", "units": "um"}),
    )


def build_dataset(path: str, grid: GridInfo, catalogue: dict[str, SDSInfo], product: str, chunks) -> xr.Dataset:
    """Every 2-D SDS of ``grid`` as a named, decoded, lazy variable; MOD09/MOD13 bands stacked."""
    family = _family(product)
    rules = _FAMILIES.get(family, [])
    data_vars: dict[str, xr.DataArray] = {}
    bands: list[tuple] = []
    for sds_name in grid.fields:
        info = catalogue.get(sds_name)
        if info is None:
            raise MissingVariableError(
                f"{path}: StructMetadata.0 lists field {sds_name!r} of grid {grid.name!r} but the file has no "
                "such SDS; the file is damaged. Re-download it."
            )
        if info.shape[-2:] != (grid.ydim, grid.xdim):
            continue
        short = _MOD13_PREFIX.sub("", sds_name)
        band_match = _MOD09_BAND.match(sds_name) or _MOD13_BAND.match(short)
        if band_match and family in ("MOD09", "MYD09", "MOD13", "MYD13"):
            token = band_match.group(1)
            number = int(token) if token.isdigit() else _MOD13_BANDS[token.lower()]
            values, meta = decode_sds(path, info, chunks)
            bands.append((number, sds_name, values, meta, info))
            continue
        name, da = _variable(path, info, short, rules, chunks)
        data_vars[_snake(sds_name) if name in data_vars else name] = da
    if bands:
        data_vars["reflectance"] = _reflectance(bands)

    x, y = grid.coords()
    ds = xr.Dataset(data_vars, coords={
        "x": ("x", x, {"units": "m", "long_name": "x coordinate of the pixel centre (MODIS sinusoidal)",
                       "standard_name": "projection_x_coordinate", "axis": "X"}),
        "y": ("y", y, {"units": "m", "long_name": "y coordinate of the pixel centre (MODIS sinusoidal)",
                       "standard_name": "projection_y_coordinate", "axis": "Y"}),
    })
    return ds


def open_modis(path, grid: str | None = None, variables=None, chunks=None) -> xr.Dataset:
    """Open a MODIS sinusoidal-grid HDF4 file (MOD09*, MOD11*, MOD13*, ...) as a lazy Dataset.

    Parameters
    ----------
    path : MODIS HDF4-EOS file.
    grid : GridName, or a unique part of one (``"500m"``, ``"1km"``), for multi-grid files such as
        MOD09GA; default the finest grid (an error names the choices when two are equally fine).
    variables : names of the output variables to keep (after renaming), default all.
    chunks : dask chunk size in pixels (int, ``(y, x)`` or ``{"y":, "x":}``); default 1200.

    Returns
    -------
    Dataset on ``y``/``x`` (pixel centres, metres on the MODIS sinusoidal sphere R = 6371007.181 m)
    with the CRS in ``spatial_ref``; MOD11: ``lst``/``lst_night`` (K), ``qc``/``qc_night`` (uint8 bits),
    ``emissivity_NN`` (1), ``view_time`` (h), ``view_zenith`` (degree); MOD13: ``ndvi``, ``evi`` (1),
    ``qa``; MOD09: ``reflectance`` (1, dim ``band``), ``qa``, ``state``, angles (degree). Other SDSs
    keep a snake_case version of their name. Fill and out-of-range values are NaN; flag variables keep
    their integer type. ``time`` is a scalar coordinate when the file dates itself.
    Read LST as ``ds["lst"]``: ``ds.lst`` is the LST workflow's accessor.
    """
    path = str(path)
    gattrs, catalogue = read_header(path)
    text = struct_metadata(gattrs)
    if "GridStructure" not in text:
        raise ReadError(
            f"{path}: no HDF-EOS StructMetadata.0 attribute; this HDF4 file is not a MODIS grid product. "
            "Pass a MODIS level-2G/3 tile file (e.g. MOD11A1.A2021227.h11v05.061.*.hdf)."
        )
    chosen = pick_grid(parse_struct_metadata(text, path), grid, path)
    if "SNSOID" not in chosen.projection.upper():
        raise ReadError(
            f"{path}: grid {chosen.name!r} uses projection {chosen.projection}; only the MODIS sinusoidal "
            "grid (GCTP_SNSOID) is supported. Reproject with GDAL built with HDF4 support."
        )
    core = core_metadata(gattrs)
    product = product_name(path, core)
    ds = build_dataset(path, chosen, catalogue, product, chunks)
    if variables is not None:
        wanted = [variables] if isinstance(variables, str) else list(variables)
        missing = [v for v in wanted if v not in ds]
        if missing:
            raise MissingVariableError(
                f"{path}: variables {missing} are not in this {product} file; it has {sorted(ds.data_vars)}. "
                "Pass variables= from these, or None for all."
            )
        ds = ds[wanted]
    when = acquisition_time(path, core)
    if when is not None:
        ds = ds.assign_coords(time=((), when, {"long_name": "start of the observation period"}))
    centre = chosen.coords()
    h, v = tile_of(float(centre[0][len(centre[0]) // 2]), float(centre[1][len(centre[1]) // 2]))
    ds.attrs.update(
        product=product,
        grid_name=chosen.name,
        tile=f"h{h:02d}v{v:02d}",
        source=Path(path).name,
        title=f"{product} {chosen.name} tile h{h:02d}v{v:02d}",
    )
    granule = odl_value(core, "LOCALGRANULEID")
    if granule:
        ds.attrs["granule_id"] = granule
    ds = georeference(ds, MODIS_SINUSOIDAL)
    dx, dy = chosen.pixel_size
    ds = ds.rio.write_transform(_affine(chosen.upper_left, dx, dy))
    return stamp(ds, "eoxr.io.open_product", path=Path(path).name, grid=chosen.name)


def _affine(upper_left, dx, dy):
    from affine import Affine

    return Affine(dx, 0.0, upper_left[0], 0.0, dy, upper_left[1])


def looks_like_modis(path: str) -> bool:
    """True for an HDF4 file whose StructMetadata declares a sinusoidal grid (content sniffing)."""
    try:
        gattrs, _ = read_header(path)
    except ReadError:
        return False
    return "GCTP_SNSOID" in struct_metadata(gattrs)

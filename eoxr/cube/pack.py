"""Lossless integer packing: float variables loaded from 8/16-bit files stored as those integers with CF
``scale_factor``/``add_offset``/``_FillValue``, which every CF reader decodes."""
from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from ..errors import CubeError


def _packing(var: xr.DataArray) -> tuple[np.dtype, float, float, int] | None:
    """(integer dtype, scale, offset, fill) to store ``var`` packed, or None when it cannot be: only float
    variables whose attrs name an 8/16-bit integer source (float32 then holds every decoded value exactly)."""
    source = var.attrs.get("source_dtype")
    if var.dtype.kind != "f" or source is None:
        return None
    try:
        int_dtype = np.dtype(source)
    except TypeError:
        return None
    if int_dtype.kind not in "iu" or int_dtype.itemsize > 2:
        return None
    scale, offset = (float(v) for v in var.attrs.get("applied_scale_offset", (1.0, 0.0)))
    info = np.iinfo(int_dtype)
    fill = var.attrs.get("source_nodata")
    if fill is None or not float(fill).is_integer() or not info.min <= fill <= info.max:
        fill = info.max if int_dtype.kind == "u" else info.min  # NaN needs a code no valid pixel uses
    return int_dtype, scale, offset, int(fill)


@functools.lru_cache(maxsize=64)
def _decode_table(int_dtype: np.dtype, scale: float, offset: float) -> np.ndarray:
    """float32 value of every code of an 8/16-bit ``int_dtype`` (CF decoding in float64, cast once), indexed
    by the code's bits read as unsigned."""
    bits = np.arange(2 ** (8 * int_dtype.itemsize), dtype=f"u{int_dtype.itemsize}")
    return (bits.view(int_dtype).astype(np.float64) * scale + offset).astype(np.float32)


def _pack_block(block: np.ndarray, *, variable: str, int_dtype, scale: float, offset: float, fill: int,
                fix: str = "It was changed after loading: write it with pack=False.") -> np.ndarray:
    """Float values -> the integers that CF-decode (``n * scale + offset`` in float64, then float32) back to
    them exactly; :class:`CubeError`, ending with ``fix``, if some value has no such integer."""
    values = np.asarray(block).astype(np.float32, copy=False)  # the cube stores float32
    # Fast path: codes in float32, checked against the table of every code's decoded value.
    codes_f = np.subtract(values, np.float32(offset))
    codes_f /= np.float32(scale)
    np.rint(codes_f, out=codes_f)
    missing = np.isnan(codes_f)
    codes_f[missing] = fill
    info = np.iinfo(int_dtype)
    n_missing = int(missing.sum())
    if codes_f.size and info.min <= codes_f.min() and codes_f.max() <= info.max:
        codes = codes_f.astype(int_dtype)
        decoded = _decode_table(np.dtype(int_dtype), scale, offset)[codes.view(f"u{codes.itemsize}")]
        exact = decoded == values
        exact |= missing
        if exact.all() and int(np.count_nonzero(codes == fill)) == n_missing:
            return codes
    # Slow path (float32 rounding may pick a neighbour code for extreme scale/offset): float64, exact verdict.
    codes = np.subtract(values, offset, dtype=np.float64)
    codes /= scale
    np.rint(codes, out=codes)
    valid = ~missing
    decoded = (codes * scale + offset).astype(np.float32)
    ok = (decoded == values) | missing
    ok &= ((codes >= info.min) & (codes <= info.max) & (codes != fill)) | missing
    if not ok.all():
        bad = values[~ok].ravel()[:3].tolist()
        raise CubeError(f"variable {variable!r} cannot be packed losslessly into {int_dtype.name} with scale_factor="
                        f"{scale} and add_offset={offset} (values {bad}). {fix}")
    codes[~valid] = fill
    return codes.astype(int_dtype)


def _packed(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with packable variables (see :func:`_packing`) replaced by their integers plus CF attrs."""
    import dask.array as da

    out = ds.copy(deep=False)
    for name, var in ds.data_vars.items():
        how = _packing(var)
        if how is None:
            continue
        int_dtype, scale, offset, fill = how
        kwargs = dict(variable=str(name), int_dtype=int_dtype, scale=scale, offset=offset, fill=fill)
        if var.chunks is not None:
            data = da.map_blocks(_pack_block, var.data, dtype=int_dtype, **kwargs)
        else:
            data = _pack_block(var.values, **kwargs)
        attrs = dict(var.attrs)
        if (scale, offset) != (1.0, 0.0):
            attrs.update(scale_factor=scale, add_offset=offset)
        attrs["_FillValue"] = fill
        out[name] = xr.Variable(var.dims, data, attrs)
    return out


def _decoded(ds: xr.Dataset) -> xr.Dataset:
    """Variables still CF-encoded (integers with ``scale_factor``/``add_offset``/``_FillValue`` attrs, e.g.
    from ``eoxr.io.load(dtype="source")``) decoded to floats; the rest unchanged."""
    encoded = [n for n, v in ds.data_vars.items()
               if v.dtype.kind in "iu" and {"scale_factor", "add_offset", "_FillValue"} & set(v.attrs)]
    if not encoded:
        return ds
    out = ds.copy(deep=False)
    decoded = xr.decode_cf(ds[encoded], decode_times=False, decode_coords=False)
    for name in encoded:
        narrow = decoded[name].dtype == np.float64 and ds[name].dtype.itemsize <= 2  # float32 holds them exactly
        out[name] = decoded[name].astype(np.float32) if narrow else decoded[name]
    return out

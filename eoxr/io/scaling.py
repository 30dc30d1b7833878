"""Digital numbers -> physical values: nodata masking, raster-extension scale/offset, CF band attrs."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import SourceDtypeError
from .assets import AssetInfo


def source_packing(per_item: Sequence[Mapping[str, AssetInfo]], names: Sequence[str]) -> tuple[str, int]:
    """(integer dtype, nodata) shared by every requested band of every item, as ``dtype='source'`` needs;
    :class:`SourceDtypeError` saying what differs otherwise."""
    infos = [chosen[name] for chosen in per_item for name in names]
    dtypes = {i.dtype for i in infos}
    nodatas = {i.nodata for i in infos}
    if len(dtypes) != 1 or None in dtypes or np.dtype(dtypes.pop()).kind not in "iu":
        raise SourceDtypeError(f"dtype='source' needs one integer raster:data_type for all bands and items, "
                               f"found {sorted(map(str, {i.dtype for i in infos}))}; use dtype='float32'")
    if len(nodatas) != 1 or None in nodatas or not float(next(iter(nodatas))).is_integer():
        raise SourceDtypeError(f"dtype='source' needs one integer nodata for all bands and items, found "
                               f"{sorted(map(str, nodatas))}; use dtype='float32'")
    for name in names:
        if len({(chosen[name].scale, chosen[name].offset) for chosen in per_item}) != 1:
            raise SourceDtypeError(f"dtype='source' needs one scale/offset per band, but items differ for "
                                   f"{name!r}; use dtype='float32' (applies each item's own)")
    return infos[0].dtype, int(next(iter(nodatas)))


def needs_float64(data_type: str | None) -> bool:
    """True for source types that float32 cannot hold exactly (32/64-bit integers, float64)."""
    try:
        kind = np.dtype(data_type) if data_type else None
    except TypeError:  # complex raster types such as "cint16"
        return True
    return kind is not None and ((kind.kind in "iu" and kind.itemsize >= 4) or kind == np.float64)


def scaled(raw, infos: Sequence[AssetInfo], out_dtype: np.dtype):
    """Per-item nodata masking and scale/offset of one band, one fused task per chunk.

    ``raw`` is the reader's ``(time, y, x)`` dask array of digital numbers (float, NaN outside the
    scenes); ``infos`` holds one :class:`AssetInfo` per time step. The arithmetic runs in float64 and
    is cast once to ``out_dtype``: ``dn * scale + offset`` then equals the CF decoding of the same
    integers, which lets :func:`eoxr.cube.write` store them packed and exactly (``pack=True``).
    """
    import dask.array as da

    def per_time(values):  # (time, 1, 1), chunked like the band along time; broadcast over y/x
        return da.from_array(np.asarray(values, dtype=np.float64).reshape(-1, 1, 1), chunks=(raw.chunks[0], 1, 1))

    nodata = per_time([np.nan if i.nodata is None else i.nodata for i in infos])
    scale = per_time([i.scale for i in infos])
    offset = per_time([i.offset for i in infos])
    return da.map_blocks(_scale_block, raw, nodata, scale, offset, out_dtype=out_dtype, dtype=out_dtype)


def _scale_block(dn: np.ndarray, nodata: np.ndarray, scale: np.ndarray, offset: np.ndarray,
                 out_dtype) -> np.ndarray:
    """``dn`` (t, y, x) -> ``dn * scale + offset`` in ``out_dtype``, NaN where ``dn`` is the item's nodata;
    ``nodata``, ``scale`` and ``offset`` are (t, 1, 1)."""
    out = np.empty(dn.shape, dtype=out_dtype)
    for t in range(dn.shape[0]):
        nodata_t, scale_t, offset_t = float(nodata[t, 0, 0]), float(scale[t, 0, 0]), float(offset[t, 0, 0])
        plane = dn[t]
        if scale_t == 1 and offset_t == 0:
            out[t] = plane
        else:
            wide = np.multiply(plane, scale_t, dtype=np.float64)
            wide += offset_t
            out[t] = wide
        if not np.isnan(nodata_t):  # the reader masks the file's nodata; STAC's may differ
            out[t][plane == nodata_t] = np.nan
    return out


def _uniform(values):
    """The common value of ``values``, or None when they differ."""
    first = values[0]
    return first if all(v == first for v in values[1:]) else None


def band_attrs(infos: Sequence[AssetInfo], name: str) -> dict:
    """CF attrs of one band; scale/offset, and with them the source data type and nodata, are recorded when
    every item shares them (then :func:`eoxr.cube.write` can store the band as the original integers, see
    ``pack``)."""
    info = infos[0]
    attrs = {"units": info.units, "long_name": info.long_name or name, "asset_key": info.key}
    scale_offset = _uniform([(i.scale, i.offset) for i in infos])
    if scale_offset is not None and scale_offset != (1.0, 0.0):
        attrs["applied_scale_offset"] = scale_offset
    source_dtype = _uniform([i.dtype for i in infos])
    if source_dtype is not None and scale_offset is not None:
        attrs["source_dtype"] = source_dtype
        nodata = _uniform([i.nodata for i in infos])
        if nodata is not None and not np.isnan(nodata):
            attrs["source_nodata"] = nodata
    return attrs

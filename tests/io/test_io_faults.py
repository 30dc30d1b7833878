"""eoxr.io faults that do not need a server: an output too large to describe, a product file gone after its lazy
open, argument values load cannot use, a bbox written latitude first."""
from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import dask
import pytest

from eoxr.errors import CRSError, ParameterError, ReadError
from eoxr.io import load, open_product
from eoxr.io.limits import DEFAULT_MAX_OUTPUT_BYTES, SETTING

MOD11A1 = "modis_amadeus/MOD11A1.A2021227.h11v05.061.2021228105320.hdf"
BOX = (-105.8, 40.4, -105.79, 40.41)  # inside S2A_13TDE_20231008 (10 m, EPSG:32613)


@pytest.fixture(scope="module")
def s2_item(real_data) -> dict:
    path = real_data / "stac_pystac_client/extracted/test_multiple_collections__0.json"
    return json.loads(path.read_text())["features"][0]


def test_output_too_large_is_refused_before_any_allocation(s2_item, no_compute):
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(ParameterError) as err:
            load([s2_item], bands=["red", "nir"], resolution=0.01)  # metres meant as degrees: 1000x finer
        took, (_, peak) = time.monotonic() - start, tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert took < 5 and peak < 50 * 2**20, (took, peak)  # no graph of millions of tasks was built
    message = str(err.value)
    assert "PiB" in message and "2 bands x 10980000 x 10980000 pixels of float32" in message
    assert SETTING in message and "1,000x finer than the items' native 10" in message
    assert "resolution=10 or coarser" in message


def test_the_limit_is_a_dask_setting(s2_item, no_compute):
    assert dask.config.get(SETTING) == DEFAULT_MAX_OUTPUT_BYTES
    small = load([s2_item], bands=["red"], bbox=BOX)  # 1 x 112 x 87 float32 pixels, about 38 kiB
    with dask.config.set({SETTING: "10 kiB"}), pytest.raises(ParameterError, match=r"more than eoxr.io.max-output"):
        load([s2_item], bands=["red"], bbox=BOX)
    with dask.config.set({"eoxr.io.max_output_bytes": small["red"].nbytes}):  # exactly the size is allowed
        load([s2_item], bands=["red"], bbox=BOX)
    with dask.config.set({SETTING: "lots"}), pytest.raises(ParameterError, match="not a size"):
        load([s2_item], bands=["red"], bbox=BOX)


def test_bad_arguments_are_parameter_errors_naming_the_fix(s2_item):
    for kwargs, fragment in (({"engine": "gdal"}, "pass one of ('stackstac', 'odc')"),
                             ({"groupby": "month"}, "pass None"),
                             ({"on_error": "skip"}, "pass 'raise'"),
                             ({"dtype": "uint16"}, "pass a float type"),
                             ({"dtype": "float32", "resampling": "smooth"}, "pass one of"),
                             ({"dtype": "source", "on_error": "nodata"}, "pass dtype='float32'")):
        with pytest.raises(ParameterError) as err:
            load([s2_item], bands=["red"], **kwargs)
        assert fragment in str(err.value) and isinstance(err.value, ValueError)  # still a ValueError for callers


def test_bbox_written_latitude_first_names_the_swapped_one(s2_item):
    south, west, north, east = BOX[1], BOX[0], BOX[3], BOX[2]
    with pytest.raises(CRSError) as err:  # in range both ways: it misses the scene, the swapped one hits it
        load([s2_item], bands=["red"], bbox=(south, west, north, east))
    assert f"pass bbox={BOX}" in str(err.value)
    with pytest.raises(CRSError, match=r"latitude first: pass bbox=\(139.6, 35.6, 139.8, 35.8\)"):
        load([s2_item], bands=["red"], bbox=(35.6, 139.6, 35.8, 139.8))  # Tokyo latitude first: out of range


def test_product_file_gone_after_the_lazy_open_is_named_at_compute(real_data, tmp_path):
    copy = tmp_path / MOD11A1.split("/")[1]
    shutil.copyfile(real_data / MOD11A1, copy)
    ds = open_product(copy)
    copy.unlink()
    with pytest.raises(ReadError) as err:
        ds["lst"].compute()
    message = str(err.value)
    assert str(copy) in message and "'LST_Day_1km'" in message and "open it again" in message

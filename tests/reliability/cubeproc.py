"""Cube writers run as real processes by the reliability tests, and the small datasets they write.

    python cubeproc.py '{"action": "append", "path": ..., "start": "2023-06-04", "steps": 20, ...}'

Options: ``hold_at`` (block index) makes the writer create the file ``signal`` when it computes that block,
then wait there until the file ``release`` exists (forever when none is given): the parent kills it or lets
it go at a known point. ``ready`` is a file the writer creates once imported, and ``go`` one it waits for
before it writes (a start barrier). ``catalog`` is passed to the write (the cube's STAC item). The action
``hold_catalog_lock`` takes the lock of the static catalog ``path``, creates ``signal`` and waits. The
outcome is printed as one JSON line: ``{"ok": true}`` or ``{"error": "CubeError", "message": ...}``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

CRS = "EPSG:32631"
NY = NX = 8


def steps(start: str, n: int) -> xr.Dataset:
    """``n`` daily steps of a small (time, y, x) cube from ``start``; each step's values follow from its date,
    so the same dates always hold the same values, whoever writes them."""
    times = pd.date_range(start, periods=n, freq="D") + pd.Timedelta(hours=10)
    days = (times - pd.Timestamp("2023-01-01")).days.to_numpy()
    values = 250.0 + days[:, None, None] + 0.01 * np.arange(NY * NX).reshape(1, NY, NX)
    ds = xr.Dataset(
        {"lst": (("time", "y", "x"), da.from_array(values, chunks=(1, NY, NX)),
                 {"units": "K", "long_name": "land surface temperature"})},
        coords={"time": times, "y": 4_800_000.0 - 30.0 * (np.arange(NY) + 0.5),
                "x": 500_000.0 + 30.0 * (np.arange(NX) + 0.5)},
        attrs={"title": "reliability test cube"},
    )
    return ds.rio.write_crs(CRS)


def held(ds: xr.Dataset, hold_at: int, signal: str, release: str | None) -> xr.Dataset:
    """``ds`` whose block ``hold_at`` along time signals, then waits for ``release``."""
    def hold(block, block_info=None):
        if block_info[0]["chunk-location"][0] == hold_at:
            Path(signal).write_text("holding")
            while release is None or not Path(release).exists():
                time.sleep(0.01)
        return block

    out = ds.copy()
    meta = np.array((), dtype=ds["lst"].dtype)  # no trial call while the graph is built
    out["lst"] = ds["lst"].copy(data=ds["lst"].data.map_blocks(hold, meta=meta))
    return out


def run(task: dict) -> dict:
    import dask

    from eoxr import cube

    if task.get("ready"):
        Path(task["ready"]).touch()
    if task.get("go"):
        while not Path(task["go"]).exists():
            time.sleep(0.005)
    if task["action"] == "hold_catalog_lock":
        from eoxr.catalog.publish import static_catalog

        with static_catalog(task["path"]).lock(30):
            Path(task["signal"]).write_text("holding")
            while True:
                time.sleep(0.01)
    ds = steps(task["start"], task["steps"])
    if task.get("hold_at") is not None:
        ds = held(ds, task["hold_at"], task["signal"], task.get("release"))
    kwargs = dict(storage_options=task.get("storage_options"), lock_timeout=task.get("lock_timeout", 30),
                  catalog=task.get("catalog"))
    if task["action"] == "append":
        kwargs.update(mode="a", append_dim="time")
    else:
        kwargs.update(mode=task.get("mode", "w-"), chunks={"time": task.get("time_chunk", 1)})
    try:
        with dask.config.set(scheduler="synchronous"):
            cube.write(ds, task["path"], **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which asserts on it
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"ok": True}


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)

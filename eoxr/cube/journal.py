"""The journal: a record, beside the cube, of a change in progress, so that a writer killed midway (SIGKILL,
a lost node) is undone or finished by the next writer, and :func:`~eoxr.cube.verify` can tell.

A change becomes visible in one atomic write, the root ``zarr.json`` with the consolidated metadata
(:func:`~eoxr.cube.snapshot._commit`); the journal is written before the change starts and removed after that
commit. Recovery, by the next writer holding the lock:

- ``append`` / ``add``: if the consolidated metadata still shows the shapes recorded in the journal, the
  change was never committed: arrays are resized back, added ones deleted, attributes put back. Otherwise
  it was committed and only the journal is left to remove.
- ``write`` (a whole cube replaced on an object store, which has no rename): the new cube was complete in
  its staging copy before the journal was written, so the copy into place is finished.

Staging copies of interrupted writes (``.<name>.writing-*``) are deleted: only the lock holder writes them.
"""
from __future__ import annotations

import json
import os
import socket
import time

from .lock import _iso
from .paths import _Location


def _journal_path(location: _Location) -> str:
    return f"{location.side}/journal.json"


def _begin(location: _Location, op: str, **record) -> None:
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": _iso(time.time())}
    location.put(_journal_path(location), json.dumps({"op": op, "holder": holder, **record}).encode())


def _end(location: _Location) -> None:
    location.delete(_journal_path(location))


def _pending(location: _Location) -> dict | None:
    data = location.read(_journal_path(location))
    return None if data is None else json.loads(data)


def _recover(location: _Location) -> None:
    """Undo or finish what an interrupted writer left (call it holding the lock)."""
    from .snapshot import _AppendSnapshot, _committed_arrays

    journal = _pending(location)
    if journal is not None:
        if journal["op"] == "write":
            _copy_into_place(location, journal["staging"])
        elif location.is_cube():
            before = {name: state["shape"] for name, state in journal["arrays"].items()}
            if _committed_arrays(location) in (None, before):
                _AppendSnapshot(location, None, record=journal).restore()
        _end(location)
    for staging in location.stagings():
        location.delete(staging, recursive=True)


def _publish(location: _Location, staging: str) -> None:
    """Put the complete cube at ``staging`` in the place of the cube, on a store without rename."""
    _begin(location, "write", staging=staging)
    _copy_into_place(location, staging)
    _end(location)
    location.delete(staging, recursive=True)


def _copy_into_place(location: _Location, staging: str) -> None:
    """Copy ``staging`` over the cube: the old root ``zarr.json`` removed first (readers find no cube, never a
    mixed one), every other object copied, the new root ``zarr.json`` last. Repeatable after an interruption."""
    fs, root = location.fs, location.root
    location.delete(f"{root}/zarr.json")
    location.delete(root, recursive=True)
    fs.invalidate_cache(staging)
    files = sorted(fs.find(staging))
    body = [f for f in files if f != f"{staging}/zarr.json"]
    if body:
        fs.copy(body, [f"{root}{f[len(staging):]}" for f in body])
    fs.copy(f"{staging}/zarr.json", f"{root}/zarr.json")
    fs.invalidate_cache(root)

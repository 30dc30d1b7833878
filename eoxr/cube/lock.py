"""The writer lock: one writer at a time per cube, on local disks and object stores alike.

The lock is a sequence of numbered tickets in ``.<name>.eoxr/lock/``, each created only if absent (a hard
link on local disks, a conditional PUT ``If-None-Match: *`` on object stores): the writer that creates
ticket ``n + 1`` when ticket ``n`` is free or stale holds the cube. Taking a ticket is the only step that
needs atomicity, so breaking a stale lock is as safe as taking a free one: two writers that both find ``n``
stale race for ``n + 1`` and one loses. A ticket records the holder (host, pid, since when) and the last
time it renewed its lease; it is stale when its process is dead on this host, or when its lease has not
been renewed for ``lease_s`` seconds (a holder elsewhere that was killed). The holder renews from a
thread; if it finds a newer ticket (it stalled past its lease and was broken), it has lost the lock and
:meth:`_WriterLock.confirm` refuses to commit.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import time
import uuid

from ..errors import CubeLockedError
from .paths import _Location

LEASE_S = 60.0  # a holder renews every LEASE_S / 3; a killed remote holder blocks others this long at most
WAIT_S = 60.0  # how long a writer waits for the lock before CubeLockedError
POLL_S = 0.1


class _WriterLock:
    """Context manager holding the writer lock of the cube at ``location``."""

    what = "cube"  # what the lock guards, as messages name it

    def __init__(self, location: _Location, *, timeout: float = WAIT_S, lease_s: float = LEASE_S):
        self.location = location
        self.folder = f"{location.side}/lock"
        self.timeout = timeout
        self.lease_s = lease_s
        self.ticket: int | None = None
        self.record: dict = {}
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> _WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            number, holder = self._latest()
            if holder is None or holder.get("state") == "free" or _stale(holder):
                if self._take(number + 1):
                    return
                continue  # another writer took it first: look again at once
            if time.monotonic() >= deadline:
                raise CubeLockedError(
                    f"the {self.what} {self.location.name} is being written by {_describe(holder)}; waited "
                    f"{self.timeout:g} s. Wait for that write to finish and run yours again (or pass a longer "
                    "lock_timeout=). A lock whose process died is taken over at once on the same host, and "
                    f"{holder.get('lease_s', self.lease_s):g} s after its last renewal elsewhere.")
            time.sleep(POLL_S)

    def confirm(self) -> None:
        """Raise :class:`CubeLockedError` if the lock was lost (this writer stalled past its lease)."""
        if self._lost.is_set() or self._newer_exists():
            self._lost.set()
            raise CubeLockedError(
                f"this writer lost the lock of the {self.what} {self.location.name} (it stalled for more than the "
                f"{self.lease_s:g} s lease and another writer took over); nothing was committed. Run the "
                "write again.")

    def release(self) -> None:
        if self.ticket is None:
            return
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if not self._lost.is_set():
            self.location.create(self._path(self.ticket + 1), _encode({"state": "free", "token": self.token}))
        self.ticket = None

    # ----- tickets
    def _path(self, number: int) -> str:
        return f"{self.folder}/{number:012d}.json"

    def _numbers(self) -> list[int]:
        return sorted(int(n[:-5]) for n in self.location.listdir(self.folder) if n[:-5].isdigit()
                      and n.endswith(".json"))

    def _latest(self) -> tuple[int, dict | None]:
        for number in reversed(self._numbers()):
            data = self.location.read(self._path(number))
            if data is not None:
                return number, json.loads(data)
        return 0, None

    def _newer_exists(self) -> bool:
        return self.ticket is not None and any(n > self.ticket for n in self._numbers())

    def _take(self, number: int) -> bool:
        self.token = uuid.uuid4().hex
        now = time.time()
        self.record = {"state": "held", "host": socket.gethostname(), "pid": os.getpid(), "since": _iso(now),
                       "renewed": now, "lease_s": self.lease_s, "token": self.token}
        if not self.location.create(self._path(number), _encode(self.record)):
            return False
        self.ticket = number
        if self._newer_exists():  # a writer that read an older, stale ticket may have raced past us
            self.ticket = None
            return False
        for old in self._numbers():
            if old < number:
                self.location.delete(self._path(old))
        self._renewer = threading.Thread(target=self._renew, name="eoxr-cube-lock", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            if self._newer_exists():
                self._lost.set()
                return
            self.record["renewed"] = time.time()
            self.location.put(self._path(self.ticket), _encode(self.record))


def _stale(holder: dict) -> bool:
    if holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1))):
        return True
    return time.time() - float(holder.get("renewed", 0)) > float(holder.get("lease_s", LEASE_S))


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _describe(holder: dict) -> str:
    return (f"process {holder.get('pid')} on host {holder.get('host')} (since {holder.get('since')}, lease "
            f"renewed {_iso(float(holder.get('renewed', 0)))})")


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat(timespec="seconds")


def _encode(record: dict) -> bytes:
    return json.dumps(record).encode()

"""Cube writer processes (cubeproc.py) started, killed and waited for by the reliability tests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WORKER = Path(__file__).with_name("cubeproc.py")
WAIT_S = 60.0


class Writer:
    """One cube writer process (see cubeproc.py)."""

    def __init__(self, task: dict):
        self.task = task
        self.proc = subprocess.Popen([sys.executable, str(WORKER), json.dumps(task)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def result(self, timeout: float = WAIT_S) -> dict:
        out, err = self.proc.communicate(timeout=timeout)
        lines = out.strip().splitlines()
        assert lines, f"the writer printed nothing; stderr:\n{err}"
        return json.loads(lines[-1])

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)  # reaped: its pid is gone, as after any kill

    @property
    def pid(self) -> int:
        return self.proc.pid


def wait_for(path: Path, writer: Writer | None = None, timeout: float = WAIT_S) -> None:
    """Wait until ``path`` exists (a writer's signal); fail early if the writer exits instead."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if writer is not None and writer.proc.poll() is not None:
            raise AssertionError(f"the writer exited before {path.name}: {writer.proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {path.name} after {timeout} s")
        time.sleep(0.01)

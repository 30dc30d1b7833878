"""Where the urban solvers run: the numpy solver (:mod:`.lm`), or the torch one (:mod:`.lm_torch`) on a device.

``device="auto"`` is CUDA where torch sees a GPU, else the CPU; on the CPU the solver is :data:`CPU_SOLVER`. The
device is resolved where each chunk is inverted (on a Dask worker: that worker's GPU or CPU), and torch is
imported only to run its solver or to ask for CUDA on a machine that may have it (on Linux: an NVIDIA driver
loaded, or WSL's GPU device), so that an inversion on a machine without GPU never imports torch.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache

from ..errors import EoxrError, ParameterError

# the solver on the CPU, "numpy" or "torch" (the same steps): numpy, as the torch solver took 3.3 (reflective) and
# 3.6 (thermal) times as long to invert the base scenes of eoxr bench urban --quick on 2 cores (best of 3): its
# small batched products and solves (5 x 5 to 35 x 35) cost more per call in torch than in numpy
CPU_SOLVER = "numpy"


def check_device(device) -> None:
    """Raise an error naming the accepted devices for anything else."""
    name = str(device)
    if not (name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ParameterError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', not {device!r}")


def _may_have_cuda() -> bool:
    """False where CUDA cannot be: torch absent, or Linux without an NVIDIA driver or WSL's GPU device."""
    if importlib.util.find_spec("torch") is None:
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/dxg")
    return True


@lru_cache(maxsize=1)
def sees_cuda() -> bool:
    """Whether torch sees a CUDA device in this process (torch imported only where one may be there)."""
    if not _may_have_cuda():
        return False
    import torch

    return torch.cuda.is_available()


def solver_device(device: str) -> str | None:
    """The torch device that the urban solvers run on for ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``,
    ``"cuda:N"``); None for the numpy solver."""
    check_device(device)
    if device == "auto":
        device = "cuda" if sees_cuda() else "cpu"
    if device == "cpu":
        return "cpu" if CPU_SOLVER == "torch" and importlib.util.find_spec("torch") is not None else None
    if not sees_cuda():
        raise EoxrError(f"device={device!r} asked for, but torch sees no CUDA device here (or torch is not "
                        "installed: pip install 'eoxr[ml]'); pass device='auto' or 'cpu'")
    return device

import os
from pathlib import Path

import dask
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real beside the checkout (read-only real data with PROVENANCE.txt files)."""
    if not SHARED.exists():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(autouse=True)
def environ_restored():
    """What a test writes into ``os.environ`` ends with it: a distributed nanny started outside
    ``eoxr.cluster.worker_environ`` writes its pre-spawn environment there, which later clusters' workers inherit."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


class ComputeForbidden(RuntimeError):
    pass


def _raising_scheduler(dsk, keys, **kwargs):
    raise ComputeForbidden("something computed where the code should have stayed lazy")


@pytest.fixture
def no_compute():
    """Within this fixture any dask compute raises: use it to prove a function stays lazy."""
    with dask.config.set(scheduler=_raising_scheduler):
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)

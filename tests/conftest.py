import os
from pathlib import Path

import dask
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


def real_data_folder(folder: Path) -> Path:
    """``folder`` when it exists. Where it is absent the test is skipped, unless ``EOXR_REQUIRE_REAL_DATA=1`` (set by
    .ci/run): then it fails, so a run that lost the real data cannot pass on the synthetic tests alone."""
    if not folder.exists():
        absent = f"real data folder {folder} is absent"
        if os.environ.get("EOXR_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"{absent}, and EOXR_REQUIRE_REAL_DATA=1 requires it: put the real data there, or set "
                        "EOXR_REQUIRE_REAL_DATA=0 to skip the tests that read it")
        pytest.skip(absent)
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real beside the checkout (read-only real data with PROVENANCE.txt files)."""
    return real_data_folder(SHARED)


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

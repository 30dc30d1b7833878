import os
from pathlib import Path

import numpy as np
import pytest
from checks import forbid_compute
from realdata import real_data_folder

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real beside the checkout (read-only real data with PROVENANCE.txt files)."""
    return real_data_folder(SHARED)


@pytest.fixture
def no_compute():
    """Within this fixture any dask compute raises: use it to prove a function stays lazy."""
    with forbid_compute():
        yield


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test starts from the same environment: distributed's nanny writes its pre-spawn variables
    (MALLOC_TRIM_THRESHOLD_, ...) into os.environ, where a test's cluster would set them for the next one's."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def rng():
    return np.random.default_rng(0)

from pathlib import Path

import numpy as np
import pytest
from checks import forbid_compute

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/data/real beside the checkout (read-only real data with PROVENANCE.txt files)."""
    if not SHARED.exists():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED


@pytest.fixture
def no_compute():
    """Within this fixture any dask compute raises: use it to prove a function stays lazy."""
    with forbid_compute():
        yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)

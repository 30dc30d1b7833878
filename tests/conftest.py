import os
from pathlib import Path

import numpy as np
import pytest
from checks import forbid_compute
from realdata import real_data_folder

from eoxr.sample import REAL_DATA_SETTING

REPO = Path(__file__).resolve().parents[1]
# The tests find the real data as users do, through EOXR_REAL_DATA (eoxr.sample.real_data_dir); unset, it names
# the folder the project keeps beside its checkout. Set here, it reaches the notebooks' kernels too.
os.environ.setdefault(REAL_DATA_SETTING, str(REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder the setting EOXR_REAL_DATA names, as eoxr.sample.real_data_dir reads it (read-only real data
    with PROVENANCE.txt files)."""
    return real_data_folder(Path(os.environ[REAL_DATA_SETTING]))


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """The folder of one embedded sample catalog for the tests that read it (EOXR_SAMPLE_DIR): built by the first,
    once, as the same seed and version make the same files; tests of the build itself make their own."""
    return tmp_path_factory.mktemp("shared") / "sample"


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

"""What the tests do when the real data folder (the setting EOXR_REAL_DATA; tests/conftest.py defaults it to
../shared/data/real) is absent."""
import os
from pathlib import Path

import pytest


def real_data_folder(folder: Path) -> Path:
    """``folder`` when it exists. Where it is absent the test is skipped, unless ``EOXR_REQUIRE_REAL_DATA=1`` (set by
    .ci/run): then it fails, so a run that lost the real data cannot pass on the synthetic tests alone."""
    if not folder.exists():
        absent = f"real data folder {folder} (the setting EOXR_REAL_DATA) is absent"
        if os.environ.get("EOXR_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"{absent}, and EOXR_REQUIRE_REAL_DATA=1 requires it: point EOXR_REAL_DATA at the real data, "
                        "or set EOXR_REQUIRE_REAL_DATA=0 to skip the tests that read it")
        pytest.skip(absent)
    return folder

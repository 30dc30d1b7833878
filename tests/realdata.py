"""Where the tests find the real data (../shared/data/real), and what they do when it is absent."""
import os
from pathlib import Path

import pytest


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

"""Small synthetic swaths and an a-priori database built from other ones, shared by the rain tests."""
import pytest

from eoxr.rain import bayes, synth


@pytest.fixture(scope="session")
def swath():
    """A small GMI swath (seed 77) with its reference: the scene the tests retrieve."""
    return synth.scene(77, scans=24, pixels=64)


@pytest.fixture(scope="session")
def database():
    """A small GMI database from three other scenes (every pixel kept)."""
    return bayes.build("gmi", seeds=range(500, 503), scans=32, dry_fraction=1.0)

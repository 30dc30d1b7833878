"""Hypothesis settings of the property tests.

Profile ``ci`` (the default): deterministic (``derandomize=True``: the same examples on every run and machine), a
bounded number of examples per property so that ``pytest tests/properties`` takes under two minutes on 2 cores, no
deadline (the first call of a method imports and warms caches), no example database (failing examples are not
replayed from disk; hypothesis's own caches go to the git-ignored ``.hypothesis/``).
``HYPOTHESIS_PROFILE=explore pytest tests/properties`` draws many more random examples, to look for new failures.
"""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=10, **_COMMON)
settings.register_profile("explore", max_examples=400, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

"""Two top-level folders of the checkout ship inside the package, where they are edited: ``catalogs/`` as
``eoxr.catalogs`` (the named STAC endpoints) and ``benchmarks/`` as ``eoxr.benchmarks`` (what ``eoxr bench``
runs). Everything else is declared in pyproject.toml."""
from setuptools import find_packages, setup

SHIPPED_FOLDERS = {"eoxr.catalogs": "catalogs", "eoxr.benchmarks": "benchmarks"}

setup(packages=find_packages(include=["eoxr*"]) + list(SHIPPED_FOLDERS), package_dir=SHIPPED_FOLDERS)

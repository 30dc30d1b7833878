"""The benchmarks of ``eoxr bench NAME``, shipped inside eoxr as ``eoxr.benchmarks`` (see setup.py)."""

"""The ``eoxr`` command.

A user error (an :class:`eoxr.errors.EoxrError`: an existing cube, an unknown collection, a bad value) prints
one line on stderr, ``eoxr COMMAND: error: ...`` naming the fix, and exits with status 2, as argparse does for
bad arguments; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

from .errors import CubeError, EoxrError, ParameterError

def _cmd_sample(a) -> int:
    from . import sample

    path = sample.ensure_sample(a.root, rebuild=a.rebuild, seed=a.seed)
    print(path)
    return 0


def _cmd_ingest(a) -> int:
    from . import catalog, cluster, cube

    if os.path.exists(a.out) and not (a.overwrite or a.append):
        raise CubeError(f"a cube already exists at {a.out}: pass --overwrite to replace it or --append to add "
                        "newer scenes to it, or choose another --out")
    items = catalog.search(a.source, collections=a.collections, bbox=a.bbox, datetime=a.datetime,
                           query=a.query, max_items=a.max_items, require_items=True)
    print(f"{len(items)} items found", file=sys.stderr)
    client = cluster.connect(a.cluster) if a.cluster != "none" else None
    try:
        cube.ingest(items, a.out, bands=a.bands, resolution=a.resolution, crs=a.crs, bbox=a.bbox,
                    chunks={"time": 1, "y": a.chunk, "x": a.chunk}, engine=a.engine,
                    mode="a" if a.append else "w" if a.overwrite else "w-", append_dim="time" if a.append else None,
                    progress=True, catalog=a.catalog)
    finally:
        if client is not None:
            cluster.close(client)
    print(a.out)
    return 0


def _cmd_verify(a) -> int:
    from . import cube

    options = json.loads(a.storage_options) if a.storage_options else None
    report = cube.verify(a.path, storage_options=options, decode=not a.quick)
    print(report, file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _cmd_demo(a) -> int:
    from . import demo

    demo.run(a.out, only=a.only.split(",") if a.only else None, address=a.cluster, quick=a.quick)
    return 0


def _cmd_bench(a) -> int:
    from . import bench

    mod = bench.load_benchmark(a.name)
    report = bench.run(a.name, mod.run, getattr(mod, "TARGETS", {}), a.quick, a.seed, a.out, a.device, smoke=a.smoke)
    print(bench.to_markdown(report))
    return 0


def _trainable() -> list[str]:
    from . import _DOMAINS

    return [d for d in _DOMAINS if importlib.util.find_spec(f"eoxr.{d}.train") is not None]


def _cmd_train(a) -> int:
    if a.domain not in _trainable():
        raise ParameterError(f"no trainable workflow {a.domain!r}; pass one of: {', '.join(_trainable())}")
    mod = importlib.import_module(f"eoxr.{a.domain}.train")
    return int(mod.main(a.args) or 0)


def _cmd_info(a) -> int:
    from . import __version__, bench, sample

    print(f"eoxr {__version__}")
    for k, v in bench.versions().items():
        print(f"  {k:10s} {v}")
    print(f"  device     {bench.resolve_device('auto')}")
    print(f"  sample dir {sample.sample_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="eoxr", description="Satellite observations to geophysical maps.")
    p.add_argument("--version", action="version", version=f"eoxr {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="build the embedded sample catalog (synthetic COGs + static STAC)")
    s.add_argument("--root", help="folder (default $EOXR_SAMPLE_DIR or ~/.cache/eoxr/sample)")
    s.add_argument("--rebuild", action="store_true")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_sample)

    s = sub.add_parser("ingest", help="STAC search -> lazy load -> Zarr datacube, with a progress bar")
    s.add_argument("source", help="STAC API URL, static catalog path, or a name: earth-search, planetary-computer, sample")
    s.add_argument("--out", required=True, help="Zarr cube path")
    s.add_argument("--collections", nargs="+")
    s.add_argument("--bbox", nargs=4, type=float, metavar=("WEST", "SOUTH", "EAST", "NORTH"), help="degrees")
    s.add_argument("--datetime", help="e.g. 2023-06 or 2023-06-01/2023-06-30")
    s.add_argument("--query", nargs="+", help='property filters as pystac-client reads them: PROPERTY<op>VALUE, op one '
                   'of = <> < <= > >=, e.g. "eo:cloud_cover<20"')
    s.add_argument("--max-items", type=int, default=None)
    s.add_argument("--bands", nargs="+")
    s.add_argument("--resolution", type=float)
    s.add_argument("--crs", help="output CRS, e.g. EPSG:32631 (default: the items' own)")
    s.add_argument("--chunk", type=int, default=1024, help="y/x chunk size in pixels")
    s.add_argument("--engine", choices=["stackstac", "odc"], default="stackstac")
    write = s.add_mutually_exclusive_group()
    write.add_argument("--append", action="store_true", help="append along time to an existing cube")
    write.add_argument("--overwrite", action="store_true", help="replace an existing cube at --out")
    s.add_argument("--catalog", help="static STAC catalog (catalog.json path or URL) that gets the cube's item")
    s.add_argument("--cluster", default=None, help="scheduler address, local (default), gateway, kubernetes, slurm or none")
    s.set_defaults(func=_cmd_ingest)

    s = sub.add_parser("verify", help="check that a datacube is complete: every chunk present and decodable")
    s.add_argument("path", help="cube path or URL (s3://bucket/cube.zarr)")
    s.add_argument("--quick", action="store_true", help="only check that every chunk is stored (no decoding)")
    s.add_argument("--storage-options", help='fsspec options for a URL, as JSON, e.g. \'{"anon": true}\'')
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("demo", help="run the spine and every workflow on the sample catalog")
    s.add_argument("--out", default="eoxr-out")
    s.add_argument("--only", help="comma-separated steps: spine and/or workflow names")
    s.add_argument("--cluster", default=None, help="scheduler address or cluster kind (default: local)")
    s.add_argument("--quick", action="store_true", help="reduced sizes: every step in well under a minute")
    s.set_defaults(func=_cmd_demo)

    from .bench import parser as bench_parser

    s = sub.add_parser("bench", help="run benchmarks/NAME.py (JSON + Markdown)", parents=[bench_parser()], add_help=False)
    s.add_argument("name")
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("train", help="train a workflow's models: eoxr train DOMAIN [options]",
                       description="Train a workflow's models; `eoxr train DOMAIN --help` lists its options.")
    s.add_argument("domain", help="the workflow, e.g. lst")
    s.add_argument("args", nargs=argparse.REMAINDER, help="options of the workflow's trainer")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("info", help="versions, compute device, sample folder")
    s.set_defaults(func=_cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    from .cluster import tune_malloc

    tune_malloc()  # a batch process: faster numpy work at the cost of keeping some freed memory
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EoxrError as err:
        print(f"eoxr {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``eoxr`` command."""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys

_OPS = {"<=": "lte", ">=": "gte", "!=": "neq", "<": "lt", ">": "gt", "=": "eq"}


def parse_query(exprs: list[str] | None) -> dict | None:
    """``["eo:cloud_cover<20", "platform=sentinel-2a"]`` -> STAC API ``query`` dict."""
    if not exprs:
        return None
    query: dict = {}
    for expr in exprs:
        m = re.fullmatch(r"\s*([\w:.\-]+)\s*(<=|>=|!=|<|>|=)\s*(.+?)\s*", expr)
        if not m:
            raise SystemExit(f"cannot parse query {expr!r}: write PROPERTY<op>VALUE with op one of < <= > >= = !=")
        key, op, raw = m.groups()
        try:
            value = float(raw) if re.fullmatch(r"-?\d+(\.\d*)?([eE]-?\d+)?", raw) else raw
        except ValueError:
            value = raw
        query.setdefault(key, {})[_OPS[op]] = value
    return query


def _cmd_sample(a) -> int:
    from . import sample

    path = sample.ensure_sample(a.root, rebuild=a.rebuild, seed=a.seed)
    print(path)
    return 0


def _cmd_ingest(a) -> int:
    from . import catalog, cluster, cube

    items = catalog.search(a.source, collections=a.collections, bbox=a.bbox, datetime=a.datetime,
                           query=parse_query(a.query), max_items=a.max_items)
    print(f"{len(items)} items found", file=sys.stderr)
    client = cluster.connect(a.cluster) if a.cluster != "none" else None
    try:
        cube.ingest(items, a.out, bands=a.bands, resolution=a.resolution, crs=a.crs, bbox=a.bbox,
                    chunks={"time": 1, "y": a.chunk, "x": a.chunk}, engine=a.engine,
                    mode="a" if a.append else "w-", append_dim="time" if a.append else None, progress=True,
                    catalog=a.catalog)
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

    demo.run(a.out, only=a.only.split(",") if a.only else None, address=a.cluster)
    return 0


def _cmd_bench(a) -> int:
    from . import bench

    mod = bench.load_benchmark(a.name)
    report = bench.run(a.name, mod.run, getattr(mod, "TARGETS", {}), a.quick, a.seed, a.out, a.device)
    print(bench.to_markdown(report))
    return 0


def _cmd_train(a, extra: list[str]) -> int:
    try:
        mod = importlib.import_module(f"eoxr.{a.domain}.train")
    except ModuleNotFoundError:
        from . import _DOMAINS

        raise SystemExit(f"no trainable workflow {a.domain!r}; workflows: {', '.join(_DOMAINS)}")
    return int(mod.main(extra) or 0)


def _cmd_info(a) -> int:
    from . import __version__, bench, sample

    print(f"eoxr {__version__}")
    for k, v in bench.versions().items():
        print(f"  {k:10s} {v}")
    print(f"  device     {bench.resolve_device('auto')}")
    print(f"  sample dir {sample.sample_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eoxr", description="Satellite observations to geophysical maps.")
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
    s.add_argument("--query", nargs="+", help='property filters, e.g. "eo:cloud_cover<20"')
    s.add_argument("--max-items", type=int, default=None)
    s.add_argument("--bands", nargs="+")
    s.add_argument("--resolution", type=float)
    s.add_argument("--crs", help="output CRS, e.g. EPSG:32631 (default: the items' own)")
    s.add_argument("--chunk", type=int, default=1024, help="y/x chunk size in pixels")
    s.add_argument("--engine", choices=["stackstac", "odc"], default="stackstac")
    s.add_argument("--append", action="store_true", help="append along time to an existing cube")
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
    s.set_defaults(func=_cmd_demo)

    from .bench import parser as bench_parser

    s = sub.add_parser("bench", help="run benchmarks/NAME.py (JSON + Markdown)", parents=[bench_parser()], add_help=False)
    s.add_argument("name")
    s.set_defaults(func=_cmd_bench)

    s = sub.add_parser("train", help="train a workflow's models: eoxr train DOMAIN [options]", add_help=False)
    s.add_argument("domain")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("info", help="versions, compute device, sample folder")
    s.set_defaults(func=_cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    from .cluster import tune_malloc

    tune_malloc()  # a batch process: faster numpy work at the cost of keeping some freed memory
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "train":
        return _cmd_train(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

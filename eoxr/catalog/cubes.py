"""An intake 2 YAML catalog of Zarr datacubes: register, list and open them."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import CatalogError
from .names import user_catalogs_dir

DEFAULT_CUBE_CATALOG = "catalogs/datacubes.yaml"


def _cube_catalog_path(catalog_path) -> Path:
    if str(catalog_path) == DEFAULT_CUBE_CATALOG:
        return user_catalogs_dir() / "datacubes.yaml"  # beside endpoints.yaml where it may be written, whatever the cwd
    return Path(catalog_path).expanduser()


def register_cube(name: str, zarr_path, catalog_path=DEFAULT_CUBE_CATALOG, description: str = "") -> Path:
    """Add (or replace) the Zarr datacube ``zarr_path`` as entry ``name`` of an intake 2 YAML catalog.

    A cube inside the catalog's folder is stored relative to it (``{CATALOG_DIR}/...``) so the folder can
    move; others are stored as absolute paths. Returns the catalog path.
    """
    from intake.readers.datatypes import Zarr
    from intake.readers.entry import Catalog
    from intake.readers.readers import XArrayDatasetReader

    import intake

    if not name or not isinstance(name, str):
        raise CatalogError(f"name={name!r}; pass a non-empty string to name the cube in the catalog.")
    cube = Path(zarr_path).expanduser().resolve()
    if not (cube / "zarr.json").is_file() and not (cube / ".zgroup").is_file():
        raise CatalogError(f"{cube} is not a Zarr group (no zarr.json or .zgroup); write the cube first (eoxr.cube.write).")
    path = _cube_catalog_path(catalog_path)
    catalog = intake.from_yaml_file(str(path)) if path.is_file() else Catalog()
    if name in catalog.entries:
        _drop_entry(catalog, name)
    folder = path.resolve().parent
    url = f"{{CATALOG_DIR}}/{cube.relative_to(folder).as_posix()}" if cube.is_relative_to(folder) else str(cube)
    reader = XArrayDatasetReader(
        Zarr(url=url), engine="zarr", chunks={}, consolidated=_has_consolidated_metadata(cube),
        metadata={"description": description, "registered_by": "eoxr.catalog.register_cube"},
    )
    catalog[name] = reader
    path.parent.mkdir(parents=True, exist_ok=True)
    for up in ("CATALOG_DIR", "CATALOG_PATH", "STORAGE_OPTIONS"):
        catalog.user_parameters.pop(up, None)  # set again by from_yaml_file where the file is read
    partial = path.with_name(path.name + ".partial")
    catalog.to_yaml_file(str(partial))
    os.replace(partial, path)  # an interrupted write leaves the previous catalog intact
    return path


def _drop_entry(catalog, name: str) -> None:
    """Remove entry ``name`` and the data descriptions only it refers to (intake's delete cannot recurse)."""
    import re

    def data_refs(entry) -> set[str]:
        return set(re.findall(r"\{data\(([^)]+)\)\}", json.dumps(entry.kwargs, default=str)))

    entry = catalog.entries.pop(name)
    still_used = set().union(*(data_refs(e) for e in catalog.entries.values()))
    for token in data_refs(entry) - still_used:
        catalog.data.pop(token, None)
    catalog.aliases = {a: t for a, t in catalog.aliases.items() if t != name and a != name}


def _has_consolidated_metadata(cube: Path) -> bool:
    if (cube / ".zmetadata").is_file():
        return True
    root = cube / "zarr.json"
    if root.is_file():
        return json.loads(root.read_text()).get("consolidated_metadata") is not None
    return False


def cubes(catalog_path=DEFAULT_CUBE_CATALOG) -> dict[str, str]:
    """``{name: description}`` of the datacubes registered in the intake catalog."""
    catalog = _open_cube_catalog(catalog_path)
    return {name: entry.metadata.get("description", "") for name, entry in sorted(catalog.entries.items())}


def _open_cube_catalog(catalog_path):
    import intake

    path = _cube_catalog_path(catalog_path)
    if not path.is_file():
        raise CatalogError(f"no datacube catalog at {path}; register a cube first with eoxr.catalog.register_cube(name, zarr_path).")
    return intake.from_yaml_file(str(path))


def open_cube(name: str, catalog_path=DEFAULT_CUBE_CATALOG):
    """Open the registered datacube ``name`` as a lazy (dask-backed) :class:`xarray.Dataset`."""
    catalog = _open_cube_catalog(catalog_path)
    if name not in catalog.entries:
        raise CatalogError(
            f"no datacube {name!r} in {_cube_catalog_path(catalog_path)}; it has {sorted(catalog.entries)}. "
            "Register it with eoxr.catalog.register_cube(name, zarr_path)."
        )
    try:
        return catalog[name].read()
    except (OSError, ValueError, KeyError) as err:
        raise CatalogError(f"datacube {name!r} in {catalog_path} could not be opened: {type(err).__name__}: {err}.") from err

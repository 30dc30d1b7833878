"""Where a cube lives: a local folder (plain or ``file://``), an object-store URL (``s3://``, ``gs://``,
``memory://``...) opened with fsspec ``storage_options``, or an fsspec mapper; the Zarr store of it, and the
small side objects eoxr keeps beside it (writer lock tickets, append journal) in ``.<name>.eoxr/``."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CubeError


@dataclass(frozen=True)
class _Location:
    """A cube's place: the fsspec filesystem and the cube's path in it, and the name users gave."""

    fs: Any
    root: str
    name: str

    @property
    def local(self) -> bool:
        from fsspec.implementations.local import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    @property
    def parent(self) -> str:
        return self.root.rsplit("/", 1)[0] if "/" in self.root else ""

    @property
    def basename(self) -> str:
        return self.root.rsplit("/", 1)[-1]

    def sibling(self, name: str) -> str:
        return f"{self.parent}/{name}" if self.parent else name

    @property
    def side(self) -> str:
        """The folder (prefix) of eoxr's side objects for this cube: lock tickets and the journal."""
        return self.sibling(f".{self.basename}.eoxr")

    def store(self, root: str | None = None, read_only: bool = False):
        """A Zarr store of the cube (or of ``root``, e.g. a staging copy, on the same filesystem)."""
        from zarr.storage import FsspecStore, LocalStore

        root = root or self.root
        if self.local:
            return LocalStore(root, read_only=read_only)
        return FsspecStore.from_mapper(self.fs.get_mapper(root), read_only=read_only)

    def staging(self) -> str:
        """A fresh sibling path for a cube written whole before it replaces this one."""
        return self.sibling(f".{self.basename}.writing-{uuid.uuid4().hex[:8]}")

    def stagings(self) -> list[str]:
        """Paths of staging copies left beside the cube (interrupted ``mode='w'`` writes)."""
        self.fs.invalidate_cache(self.parent)
        return sorted(self.fs.glob(self.sibling(f".{self.basename}.writing-*")))

    # ----- what is there
    def is_cube(self, root: str | None = None) -> bool:
        return self.exists(f"{root or self.root}/zarr.json")

    def exists(self, path: str) -> bool:
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    # ----- side objects: small JSON documents, each written whole
    def read(self, path: str) -> bytes | None:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def create(self, path: str, data: bytes) -> bool:
        """Write ``path`` only if it does not exist yet, as one atomic step; False if it existed. Local files
        are linked into place (never seen half-written); object stores get a conditional PUT
        (``If-None-Match: *``) where the fsspec filesystem supports ``mode="create"``."""
        if self.local:
            tmp = self._local_tmp(path, data)
            try:
                os.link(tmp, path)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        try:
            self.fs.pipe_file(path, data, mode="create")
            return True
        except FileExistsError:
            return False

    def put(self, path: str, data: bytes) -> None:
        """Write ``path`` whole (replaced atomically on local disks, by one PUT on object stores)."""
        if self.local:
            os.replace(self._local_tmp(path, data), path)
        else:
            self.fs.pipe_file(path, data)

    def delete(self, path: str, recursive: bool = False) -> None:
        try:
            self.fs.rm(path, recursive=recursive)
        except FileNotFoundError:
            pass

    def listdir(self, path: str) -> list[str]:
        """Names in folder ``path`` (empty when there is none)."""
        self.fs.invalidate_cache(path)
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def _local_tmp(self, path: str, data: bytes) -> str:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex[:8]}.partial"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp


def _location(path, storage_options: dict | None = None) -> _Location:
    """The :class:`_Location` of ``path``: a local path, a URL (with fsspec ``storage_options``) or an
    fsspec mapper (``fsspec.get_mapper(url)``, whose filesystem already carries its options)."""
    import fsspec

    if isinstance(path, fsspec.FSMap):
        if storage_options:
            raise CubeError("storage_options go with a URL, not with an fsspec mapper (its filesystem already has "
                            "them): pass the URL and storage_options, or the mapper alone.")
        return _Location(path.fs, path.root.rstrip("/"), _display(path.fs, path.root))
    if isinstance(path, os.PathLike) or not _is_url(path):
        if storage_options:
            raise CubeError(f"storage_options={storage_options!r} were given for the local path {os.fspath(path)}; "
                            "they are for object-store URLs (s3://bucket/cube.zarr): drop them or pass a URL.")
        local = Path(_strip_file_scheme(os.fspath(path))).expanduser().absolute()
        return _Location(fsspec.filesystem("file"), local.as_posix(), os.fspath(path))
    try:
        fs, root = fsspec.core.url_to_fs(path, **(storage_options or {}))
    except (ImportError, ValueError) as exc:
        raise CubeError(f"cannot reach {path} ({type(exc).__name__}: {exc}); install the fsspec filesystem of its "
                        "scheme (s3fs for s3://, gcsfs for gs://, adlfs for az://) and pass its options as "
                        "storage_options={...}.") from exc
    return _Location(fs, root.rstrip("/"), path)


def _display(fs, root: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return root if protocol in ("file", "local") else f"{protocol}://{root}"


def _strip_file_scheme(text: str) -> str:
    return text[len("file://"):] if text.startswith("file://") else text


def _is_url(path) -> bool:
    return isinstance(path, str) and "://" in path and not path.startswith("file://")

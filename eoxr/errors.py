"""One exception hierarchy for eoxr. Every message says what is wrong and how to fix it."""


class EoxrError(Exception):
    """Base class of every error eoxr raises on purpose."""


class CatalogError(EoxrError):
    """A STAC catalog could not be searched (unreachable API, unknown collection, bad filter)."""


class EmptySearchError(CatalogError):
    """A search matched no item."""


class CatalogLockedError(CatalogError):
    """Another writer holds a static catalog's lock; the message names it (host, pid, since when)."""


class ReadError(EoxrError):
    """An asset or product file could not be read; the message names the item id and href."""


class CRSError(EoxrError):
    """Inputs are on different or missing coordinate reference systems."""


class GridError(EoxrError):
    """Inputs do not share a grid, or one grid does not cover the other."""


class MissingVariableError(EoxrError, KeyError):
    """A variable, band or dimension a method needs is absent."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NoDataError(EoxrError):
    """The data hold no valid pixel where some are required."""


class CubeError(EoxrError):
    """A Zarr datacube could not be written, appended to or opened."""


class ClusterError(EoxrError):
    """A Dask cluster could not be created or reached."""


class CheckpointError(EoxrError):
    """A model checkpoint is missing, corrupt, or made for other inputs."""


class ConvergenceError(EoxrError):
    """An iterative retrieval could not proceed (singular system, no finite start)."""


class ParameterError(EoxrError, ValueError):
    """A method argument has a value the method cannot use (e.g. a non-integer scale factor)."""


class SourceDtypeError(GridError):
    """Items cannot be loaded as their source integers (``eoxr.io.load(dtype="source")``): their bands
    differ in data type, nodata or scale/offset. Loading as floats works."""


class CubeGridError(CubeError, GridError):
    """Data do not fit an existing cube's grid: another CRS, other coordinates or dimensions."""


class CubeCRSError(CubeError, CRSError):
    """Data to write to a cube have no single, readable CRS."""


class CubeLockedError(CubeError):
    """Another writer holds a cube's lock; the message names it (host, pid, since when)."""


class CubeCorruptError(CubeError):
    """A cube's chunk, array or metadata is missing or cannot be decoded; the message names the store,
    the variable and the chunk."""

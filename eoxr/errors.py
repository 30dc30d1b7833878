"""One exception hierarchy for eoxr. Every message says what is wrong and how to fix it."""


class EoxrError(Exception):
    """Base class of every error eoxr raises on purpose."""


class CatalogError(EoxrError):
    """A STAC catalog could not be searched (unreachable API, unknown collection, bad filter)."""


class EmptySearchError(CatalogError):
    """A search matched no item."""


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


class UnitsError(EoxrError, ValueError):
    """A variable's ``units`` are unknown, or cannot be converted to the units a method expects."""


class PhysicalRangeError(EoxrError, ValueError):
    """A variable holds values outside its physical range (often a units or scale-factor mistake)."""


class EoxrWarning(UserWarning):
    """Base class of every warning eoxr issues (the tests turn these into errors unless asserted)."""

"""One exception hierarchy for eoxr. Every message says what is wrong and how to fix it.

Messages never carry credentials: :func:`redact` blanks them out of every message an eoxr error is built with
(signed-URL tokens, user:password in URLs), so an error can be pasted into a bug report or a log.
"""
import re

#: Query parameters whose value is a secret: Azure SAS and Google signatures, AWS presigned URLs, API keys.
SECRET_PARAMETERS = (
    "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential", "token", "access_token", "id_token", "refresh_token", "api_key", "apikey", "api-key",
    "key", "password", "passwd", "pwd", "secret", "client_secret",
)
REDACTED = "***"
_NAMES = "|".join(re.escape(name) for name in SECRET_PARAMETERS)
# user:password@ (or token@) between a URL's scheme and its host
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", re.IGNORECASE)
# name=value of a secret parameter, in a query string or in free text; the name stands alone (not "monkey=")
_PARAMETER = re.compile(rf"(?<![\w-])({_NAMES})=[^&#\s'\",;)>\]]+", re.IGNORECASE)
# 'name': 'value' of a secret in a printed dict or JSON (options, headers)
_MAPPING = re.compile(rf"""(['"](?:{_NAMES})['"]\s*:\s*)(['"])[^'"]*\2""", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact(text) -> str:
    """``text`` (a URL, a message) with credentials replaced by ``***``.

    Blanks the user information of URLs (``https://user:pass@host`` -> ``https://***@host``), the values of
    :data:`SECRET_PARAMETERS` (``?sig=...``, ``X-Amz-Signature=...``, ``token=...``, ``'password': '...'`` in
    a printed dict) and bearer tokens. Idempotent; anything else is kept, so a redacted URL still says which
    file or API failed.
    """
    text = _USERINFO.sub(rf"\1{REDACTED}@", str(text))
    text = _PARAMETER.sub(rf"\1={REDACTED}", text)
    text = _MAPPING.sub(rf"\1\2{REDACTED}\2", text)
    return _BEARER.sub(rf"\1 {REDACTED}", text)


class EoxrError(Exception):
    """Base class of every error eoxr raises on purpose; its message is redacted (see :func:`redact`)."""

    def __init__(self, *args):
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class CatalogError(EoxrError):
    """A STAC catalog could not be searched (unreachable API, unknown collection, bad filter)."""


class EmptySearchError(CatalogError):
    """A search matched no item, raised where the caller requires items (``search(..., require_items=True)``)."""


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


class DtypeError(ParameterError, TypeError):
    """Data have a type no physical quantity has (complex, object, strings): cast them to a float type."""


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


class UnitsError(EoxrError, ValueError):
    """A variable's ``units`` are unknown, or cannot be converted to the units a method expects."""


class PhysicalRangeError(EoxrError, ValueError):
    """A variable holds values outside its physical range (often a units or scale-factor mistake)."""


class EoxrWarning(UserWarning):
    """Base class of every warning eoxr issues (the tests turn these into errors unless asserted)."""


class StabilityError(ParameterError):
    """A time step breaks a numerical stability limit (Courant number, diffusion number) of an explicit model."""

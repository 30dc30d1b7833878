"""xarray accessors generated from pure functions, so that a method cannot drift from its function.

Every eoxr method is a pure function whose first argument is an xarray object (``superres(lst, factor,
...)``); the accessor (``ds.lst.superres(factor, ...)``) only picks that first argument from the object
it is called on. :func:`register` builds the accessor classes from a table of functions (the pattern of
odc-geo's ``_wrap_op``): each method's signature is its function's minus the first parameter, its
docstring is the function's, and a call forwards every argument unchanged. Nothing is written twice, so
a keyword added to the function is at once a keyword of the method.

A new workflow's ``accessor.py`` is a handful of lines::

    from ..accessors import method, register, variable
    from .retrieve import retrieve

    register("rain", {
        "retrieve": method(retrieve, select=variable("brightness_temperature")),
        "train": method("eoxr.rain.learned:train"),   # imported at first use (that module imports torch)
    }, dataset=True, dataarray=False)

``select(obj)`` maps the xarray object to the function's first argument (default: the object itself;
:func:`variable` picks a Dataset's variable and passes a DataArray through). ``arguments`` maps other
parameters to resolvers ``resolve(obj, value) -> value``, e.g. a guide given as the name of one of the
dataset's variables (:func:`variable_or_value`). A function given as ``"module:name"`` is imported the
first time the method is used: workflows whose methods import torch stay out of ``import eoxr``.
:func:`registered` lists every accessor registered this way (the tests check all their signatures).
"""
from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping

import xarray as xr

from .attrs import require
from .errors import MissingVariableError

_REGISTERED: dict[tuple[str, str], type] = {}


def _identity(obj):
    return obj


def variable(name: str) -> Callable:
    """A ``select`` that takes variable ``name`` of a Dataset (a DataArray passes as it is)."""

    def select(obj):
        if isinstance(obj, xr.DataArray):
            return obj
        require(obj, [name], "this accessor's dataset")
        return obj[name]

    select.__name__ = f"variable_{name}"
    return select


def variable_or_value(obj, value):
    """An argument resolver: a string names a variable of the dataset ``obj``; anything else passes."""
    if isinstance(value, str):
        if not isinstance(obj, xr.Dataset) or value not in obj.variables:
            raise MissingVariableError(f"{value!r} names no variable of this {type(obj).__name__}; pass the "
                                       "DataArray itself, or the name of one of the dataset's variables")
        return obj[value]
    return value


class method:
    """An accessor method made from ``func``: ``obj.<accessor>.<name>(*a, **kw)`` calls
    ``func(select(obj), *a, **kw)``, with ``arguments`` resolved against ``obj`` first.

    ``func`` may be a ``"package.module:name"`` string, imported at the method's first use.
    """

    def __init__(self, func: Callable | str, select: Callable | None = None, *,
                 arguments: Mapping[str, Callable] | None = None):
        self._func = func
        self.select = select or _identity
        self.arguments = dict(arguments or {})
        self.name = func.__name__ if callable(func) else func.rsplit(":", 1)[-1]

    def __set_name__(self, owner, name):
        self.name = name

    @functools.cached_property
    def func(self) -> Callable:
        """The function (imported now if it was given by name)."""
        if callable(self._func):
            return self._func
        module, _, attr = self._func.partition(":")
        return getattr(importlib.import_module(module), attr)

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature without its first parameter."""
        sig = inspect.signature(self.func)
        params = list(sig.parameters.values())[1:]
        unknown = sorted(set(self.arguments) - {p.name for p in params})
        if unknown:
            raise MissingVariableError(f"accessor method {self.name!r} resolves {unknown}, which "
                                       f"{self.func.__qualname__} does not take; it takes {[p.name for p in params]}: "
                                       "key the resolver by one of those")
        return sig.replace(parameters=params)

    def call(self, obj, *args, **kwargs):
        """``func(select(obj), *args, **kwargs)`` with the resolvers of ``arguments`` applied."""
        if self.arguments:
            bound = self.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, resolve in self.arguments.items():
                bound.arguments[name] = resolve(obj, bound.arguments[name])
            args, kwargs = bound.args, bound.kwargs
        return self.func(self.select(obj), *args, **kwargs)

    def _as_function(self, accessor=None) -> Callable:
        """The method as a plain function: bound to ``accessor``, or taking it first (class access)."""
        call = self.call
        if accessor is not None:
            def bound(*args, **kwargs):
                return call(accessor._obj, *args, **kwargs)
            sig = self.signature
        else:
            def bound(self_, *args, **kwargs):
                return call(self_._obj, *args, **kwargs)
            first = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
            sig = self.signature.replace(parameters=[first, *self.signature.parameters.values()])
        bound.__name__ = bound.__qualname__ = self.name
        bound.__doc__ = self.func.__doc__
        bound.__signature__ = sig
        bound.__module__ = self.func.__module__
        return bound

    def __get__(self, accessor, owner=None):
        return self._as_function(accessor)


class Accessor:
    """Base of the generated accessor classes: holds the xarray object the accessor is called on."""

    def __init__(self, obj):
        self._obj = obj


def _class_doc(name: str, kind: str, methods: dict[str, method], doc: str | None) -> str:
    short = "ds" if kind == "Dataset" else "da"
    lines = [doc or f"``{short}.{name}``: methods bound to their eoxr functions."]
    lines += ["", "Methods, and the functions they apply to the object (or its selected variable):", ""]
    for key, m in methods.items():
        target = m._func if isinstance(m._func, str) else f"{m._func.__module__}:{m._func.__name__}"
        lines.append(f"- ``{short}.{name}.{key}(...)``: ``{target}``")
    return "\n".join(lines)


def register(name: str, methods: Mapping[str, Callable | str | tuple | method], *, dataset: bool = True,
             dataarray: bool = False, doc: str | None = None) -> list[type]:
    """Register the accessor ``name`` (``ds.<name>`` and/or ``da.<name>``) whose methods are ``methods``.

    ``methods`` maps each method's name to a :class:`method`, a function, a ``"module:name"`` string or a
    ``(function, select)`` pair. Returns the accessor classes made (Dataset's first).
    """
    table = {}
    for key, spec in methods.items():
        if isinstance(spec, method):
            table[key] = spec
        elif isinstance(spec, tuple):
            table[key] = method(*spec)
        else:
            table[key] = method(spec)
    made = []
    for kind, wanted, register_on in (("Dataset", dataset, xr.register_dataset_accessor),
                                      ("DataArray", dataarray, xr.register_dataarray_accessor)):
        if not wanted:
            continue
        cls_name = "".join(part.capitalize() for part in name.split("_")) + kind + "Accessor"
        cls = type(cls_name, (Accessor,), {"__doc__": _class_doc(name, kind, table, doc), **table})
        register_on(name)(cls)
        _REGISTERED[(name, kind)] = cls
        made.append(cls)
    return made


def registered() -> dict[tuple[str, str], type]:
    """Every accessor registered through :func:`register`: ``{(name, "Dataset" | "DataArray"): class}``."""
    return dict(_REGISTERED)

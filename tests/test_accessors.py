"""eoxr.accessors: every eoxr accessor method is generated from its function and cannot drift from it."""
import inspect

import numpy as np
import pytest
import xarray as xr
from xarray.core.extensions import _CachedAccessor

import eoxr  # noqa: F401  (registers the accessors)
from eoxr import accessors
from eoxr.errors import MissingVariableError
from eoxr.lst import synth
from eoxr.lst.degrade import degrade
from eoxr.lst.scaling import multiscale
from eoxr.lst.superres import superres


def _eoxr_accessors():
    """(xarray type, accessor name, accessor class) for every accessor an eoxr module registered."""
    for owner in (xr.Dataset, xr.DataArray):
        for name in dir(owner):
            attr = inspect.getattr_static(owner, name)
            if isinstance(attr, _CachedAccessor) and attr._accessor.__module__.startswith("eoxr."):
                yield owner, name, attr._accessor


def test_every_eoxr_accessor_method_has_its_functions_signature_and_doc():
    found = list(_eoxr_accessors())
    assert {(o.__name__, n) for o, n, _ in found} >= {("Dataset", "lst"), ("DataArray", "lst"), ("Dataset", "urban")}
    for owner, name, cls in found:
        public = [k for k in dir(cls) if not k.startswith("_")]
        assert public, f"{owner.__name__}.{name} has no method"
        for key in public:
            m = inspect.getattr_static(cls, key)
            where = f"{owner.__name__}.{name}.{key}"
            assert isinstance(m, accessors.method), f"{where} is written by hand: make it accessors.method(func)"
            params = list(inspect.signature(m.func).parameters.values())[1:]
            expected = inspect.signature(m.func).replace(parameters=params)
            instance = cls(xr.Dataset() if owner is xr.Dataset else xr.DataArray())
            assert inspect.signature(getattr(instance, key)) == expected, f"{where} drifted from {m.func.__name__}"
            assert getattr(instance, key).__doc__ == m.func.__doc__
            assert getattr(cls, key).__doc__ == m.func.__doc__


def _numpydoc_sections(doc: str) -> dict[str, list[str]]:
    """{title: lines} of a numpydoc docstring: a title line underlined by dashes of its length starts a section."""
    lines = inspect.cleandoc(doc).splitlines()
    sections, current = {}, None
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and underline.strip() == "-" * len(line.strip()):
            current = sections.setdefault(line.strip(), [])
        elif current is not None and set(line.strip()) != {"-"}:
            current.append(line)
    return sections


def _documented_parameters(lines: list[str]) -> set[str]:
    """Names in a Parameters section: unindented ``name : type`` or ``a, b, c`` lines (``**kwargs`` as kwargs)."""
    names = set()
    for line in lines:
        if line and not line[0].isspace():
            names |= {n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")}
    return names


def _eoxr_methods():
    """(where, accessor method) of every method of every eoxr accessor."""
    for owner, name, cls in _eoxr_accessors():
        for key in (k for k in dir(cls) if not k.startswith("_")):
            yield f"{owner.__name__}.{name}.{key}", inspect.getattr_static(cls, key)


def test_every_accessor_method_has_parameters_returns_and_examples():
    for where, m in _eoxr_methods():
        sections = _numpydoc_sections(m.func.__doc__ or "")
        missing = {"Parameters", "Returns", "Examples"} - set(sections)
        assert not missing, f"{where} ({m.func.__module__}.{m.func.__name__}): its docstring lacks {sorted(missing)}"
        params = set(inspect.signature(m.func).parameters)
        undocumented = params - _documented_parameters(sections["Parameters"])
        assert not undocumented, f"{where}: document {sorted(undocumented)} under Parameters"
        assert any(line.strip() for line in sections["Returns"]), where
        assert any(line.lstrip().startswith(">>> ") for line in sections["Examples"]), f"{where}: no example"


def test_every_accessor_methods_examples_run():
    import doctest

    functions = {m.func for _, m in _eoxr_methods()}
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for func in sorted(functions, key=lambda f: f.__qualname__):
        for test in doctest.DocTestFinder(recurse=False).find(func, func.__name__, globs={}):
            runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 3 * len(functions) and results.failed == 0, results


def test_registered_lists_the_generated_classes():
    reg = accessors.registered()
    assert {("lst", "Dataset"), ("lst", "DataArray"), ("urban", "Dataset")} <= set(reg)
    assert xr.Dataset.lst is reg[("lst", "Dataset")] and xr.DataArray.lst is reg[("lst", "DataArray")]


def test_lst_methods_take_every_keyword_of_their_functions():
    ds = xr.Dataset({"lst": xr.DataArray(np.zeros((2, 2)), dims=("y", "x"))})
    assert "domain" in inspect.signature(ds.lst.superres).parameters
    assert "min_valid" in inspect.signature(ds.lst.degrade).parameters
    assert inspect.signature(ds.lst.scaling) == inspect.signature(multiscale).replace(
        parameters=list(inspect.signature(multiscale).parameters.values())[1:])


def test_a_method_calls_its_function_on_the_selected_variable():
    truth, obs = synth.observation(3, size=32, factor=4)
    by_method = obs.lst.superres(4, method="tsharp", guide=truth["ndvi"], domain="temperature")["lst"]
    by_function = superres(obs["lst"], 4, method="tsharp", guide=truth["ndvi"], domain="temperature")["lst"]
    np.testing.assert_array_equal(by_method.values, by_function.values)
    np.testing.assert_array_equal(truth.lst.degrade(4, min_valid=0.5).values,
                                  degrade(truth["lst"], 4, min_valid=0.5).values)
    implicit = truth.lst.scaling(factors=(1, 2))  # the dataset's ndvi is on the LST's grid: used
    by_name = truth.lst.scaling(ndvi="ndvi", factors=(1, 2))
    explicit = multiscale(truth["lst"], truth["ndvi"], factors=(1, 2))
    for out in (implicit, by_name):
        np.testing.assert_array_equal(out["regression_slope"].values, explicit["regression_slope"].values)
    assert "regression_slope" not in truth[["lst"]].lst.scaling(factors=(1, 2))
    with pytest.raises(MissingVariableError, match="'absent' names no variable"):
        obs.lst.superres(4, method="tsharp", guide="absent")
    with pytest.raises(MissingVariableError, match="lacks variable"):
        xr.Dataset({"t": obs["lst"]}).lst.superres(4)


@pytest.fixture
def scratch_accessor():
    yield "eoxr_scratch"
    for owner in (xr.Dataset, xr.DataArray):
        if "eoxr_scratch" in owner.__dict__:
            delattr(owner, "eoxr_scratch")
    for kind in ("Dataset", "DataArray"):
        accessors._REGISTERED.pop(("eoxr_scratch", kind), None)


def test_register_a_function_by_name_imported_at_first_use(scratch_accessor):
    (cls,) = accessors.register(scratch_accessor, {"dumps": "json:dumps", "keys": (sorted, lambda ds: ds.data_vars)},
                                dataset=True)
    m = inspect.getattr_static(cls, "dumps")
    assert "func" not in m.__dict__  # not imported yet
    ds = xr.Dataset({"b": 1, "a": 2})
    assert ds.eoxr_scratch.keys() == ["a", "b"]
    import json

    assert inspect.signature(ds.eoxr_scratch.dumps) == inspect.signature(json.dumps).replace(
        parameters=list(inspect.signature(json.dumps).parameters.values())[1:])
    with pytest.raises(TypeError):
        ds.eoxr_scratch.dumps()  # a Dataset is not JSON: the function itself ran on it
    assert not hasattr(xr.DataArray, scratch_accessor)


def test_a_resolver_for_a_parameter_the_function_lacks_is_refused(scratch_accessor):
    (cls,) = accessors.register(scratch_accessor, {
        "bad": accessors.method(sorted, arguments={"absent": accessors.variable_or_value})})
    with pytest.raises(MissingVariableError, match="absent"):
        xr.Dataset().eoxr_scratch.bad()

"""One exception hierarchy: every module of eoxr raises errors of ``eoxr.errors`` and warns with EoxrWarning.

Each ``raise`` of the package is read from its source (ast) and its exception resolved in the module's
namespace. Allowed: a bare ``raise``; a class under :class:`eoxr.errors.EoxrError` (with or without
``from``); a function whose return annotation is such a class (an error factory); a name bound by an
``except ... as name`` or assigned from such a call in the same function (a re-raise); NotImplementedError
in a method (an abstract method); and the entries of :data:`ALLOWED`, each with its reason.
"""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import typing
import warnings
from pathlib import Path

import pytest

import eoxr
from eoxr.errors import EoxrError, EoxrWarning, ParameterError

PACKAGE = Path(eoxr.__file__).parent

#: (module, exception class): why that module raises an exception outside eoxr.errors
ALLOWED = {
    ("eoxr", "AttributeError"): "a module's __getattr__ must raise AttributeError (hasattr, from-imports rely on "
                                "it)",
    ("eoxr.ml", "AttributeError"): "a module's __getattr__ must raise AttributeError (hasattr, from-imports rely "
                                   "on it)",
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        parts = ["eoxr", *Path(rel).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        yield rel, ".".join(parts), path


def _is_eoxr_error(obj) -> bool:
    if inspect.isclass(obj):
        return issubclass(obj, EoxrError)
    if callable(obj):  # an error factory: its return annotation says what it makes
        try:
            ret = typing.get_type_hints(obj).get("return")
        except Exception:  # noqa: BLE001  (an unresolvable annotation is no proof)
            return False
        options = [a for a in typing.get_args(ret) if a is not type(None)] or [ret]
        return all(inspect.isclass(a) and issubclass(a, EoxrError) for a in options)
    return False


def _resolve(expr: ast.expr, namespace: dict):
    """The object an expression names (a Name or dotted Attribute) in ``namespace``, else None."""
    if isinstance(expr, ast.Name):
        return namespace.get(expr.id, getattr(builtins, expr.id, None))
    if isinstance(expr, ast.Attribute):
        owner = _resolve(expr.value, namespace)
        return getattr(owner, expr.attr, None) if owner is not None else None
    return None


class _Raises(ast.NodeVisitor):
    """Every raise of a module, with the function and class it sits in."""

    def __init__(self):
        self.found, self._funcs, self._classes = [], [], []

    def visit_ClassDef(self, node):
        self._classes.append(node)
        self.generic_visit(node)
        self._classes.pop()

    def visit_FunctionDef(self, node):
        self._funcs.append(node)
        self.generic_visit(node)
        self._funcs.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Raise(self, node):
        func = self._funcs[-1] if self._funcs else None
        in_method = bool(self._classes) and func is not None and func in self._classes[-1].body
        self.found.append((node, func, in_method))


def _imported_in(func, name: str, module: str):
    """The object ``name`` is bound to by a ``from ... import name`` inside ``func`` (None if none)."""
    package = module if (PACKAGE / Path(*module.split(".")[1:]) / "__init__.py").exists() else \
        module.rpartition(".")[0]
    for node in ast.walk(func) if func is not None else ():
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = importlib.import_module("." * node.level + (node.module or ""), package)
                    return getattr(source, alias.name, None)
    return None


def _bound_in(func, name: str) -> list[ast.expr | None]:
    """What ``name`` is bound to in ``func``: None for an ``except ... as name``, else each assigned value."""
    bound = []
    for node in ast.walk(func) if func is not None else ():
        if isinstance(node, ast.ExceptHandler) and node.name == name:
            bound.append(None)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):  # "no error yet"
                bound.append(node.value)
    return bound


def _violation(exc: ast.expr, func, in_method: bool, namespace: dict, module: str) -> str | None:
    """Why raising ``exc`` breaks the hierarchy (None when it does not)."""
    if isinstance(exc, (ast.BoolOp, ast.IfExp)):  # raise a or b; raise (A if c else B)(...)
        values = exc.values if isinstance(exc, ast.BoolOp) else [exc.body, exc.orelse]
        reasons = [_violation(v, func, in_method, namespace, module) for v in values]
        return next((r for r in reasons if r), None)
    if isinstance(exc, ast.Call) and isinstance(exc.func, ast.IfExp):
        return _violation(exc.func, func, in_method, namespace, module)
    target = exc.func if isinstance(exc, ast.Call) else exc
    obj = _resolve(target, namespace)
    if obj is None and isinstance(target, ast.Name):
        obj = _imported_in(func, target.id, module)
    if obj is None and isinstance(target, ast.Name):
        bindings = _bound_in(func, target.id)
        if bindings:
            reasons = [None if b is None else _violation(b, func, in_method, namespace, module) for b in bindings]
            return next((r for r in reasons if r), None)
    if obj is not None and _is_eoxr_error(obj):
        return None
    name = getattr(obj, "__name__", ast.unparse(target))
    if name == "NotImplementedError" and in_method:
        return None
    if (module, name) in ALLOWED:
        return None
    return f"raises {name}, not an eoxr.errors class"


def _warning_violation(call: ast.Call, namespace: dict) -> str | None:
    """Why a ``warnings.warn`` call does not warn with EoxrWarning (None when it does)."""
    category = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "category"),
                                                            None)
    obj = _resolve(category, namespace) if category is not None else UserWarning
    if inspect.isclass(obj) and issubclass(obj, EoxrWarning):
        return None
    name = obj.__name__ if inspect.isclass(obj) else ast.unparse(category)
    return f"warns with {name}, not eoxr.errors.EoxrWarning"


def _problems(rel: str, module: str, path: Path) -> list[str]:
    namespace = vars(importlib.import_module(module))
    tree = ast.parse(path.read_text(), filename=str(path))
    visitor = _Raises()
    visitor.visit(tree)
    out = []
    for node, func, in_method in visitor.found:
        reason = None if node.exc is None else _violation(node.exc, func, in_method, namespace, module)
        if reason:
            out.append(f"{rel}:{node.lineno} {reason}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("warnings.warn", "warn"):
            reason = _warning_violation(node, namespace)
            if reason:
                out.append(f"{rel}:{node.lineno} {reason}")
    return out


def test_every_raise_and_warning_of_eoxr_is_in_its_hierarchy():
    problems = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # importing every module (torch, pyproj) may warn
        for rel, module, path in _modules():
            problems += _problems(rel, module, path)
    assert not problems, "raise an eoxr.errors class (message: what is wrong and the fix):\n" + "\n".join(problems)


def test_the_check_catches_each_kind_of_foreign_raise():
    source = '''
import warnings
from eoxr.errors import ParameterError, EoxrWarning

def fine(x):
    try:
        x()
    except KeyError as err:
        raise ParameterError("bad x; pass a callable") from err
    if x is None:
        raise
    warnings.warn("careful", EoxrWarning)

def reraise(x):
    try:
        x()
    except OSError as err:
        raise err

def foreign(x):
    raise ValueError("bad x")

def foreign_from(x):
    try:
        x()
    except KeyError as err:
        raise RuntimeError("bad x") from err

def foreign_variable(x):
    failure = TypeError("bad")
    raise failure

def foreign_warning():
    warnings.warn("careful")

class Base:
    def step(self):
        raise NotImplementedError
'''
    namespace = {"ParameterError": ParameterError, "EoxrWarning": EoxrWarning, "warnings": warnings,
                 "ValueError": ValueError, "RuntimeError": RuntimeError, "TypeError": TypeError,
                 "NotImplementedError": NotImplementedError}
    tree = ast.parse(source)
    visitor = _Raises()
    visitor.visit(tree)
    bad = {func.name: _violation(node.exc, func, in_method, namespace, "x")
           for node, func, in_method in visitor.found if node.exc is not None}
    assert bad["fine"] is None and bad["reraise"] is None and bad["step"] is None
    assert "ValueError" in bad["foreign"] and "RuntimeError" in bad["foreign_from"]
    assert "TypeError" in bad["foreign_variable"]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func) == "warnings.warn"]
    assert [_warning_violation(c, namespace) for c in calls] == [None, "warns with UserWarning, not "
                                                                       "eoxr.errors.EoxrWarning"]


def test_an_error_factory_counts_by_its_return_annotation():
    def factory() -> ParameterError:
        return ParameterError("x")

    def maybe() -> ParameterError | None:
        return None

    def untyped():
        return ValueError("x")

    assert _is_eoxr_error(factory) and _is_eoxr_error(maybe) and not _is_eoxr_error(untyped)


@pytest.mark.parametrize("cls", [c for c in vars(importlib.import_module("eoxr.errors")).values()
                                 if inspect.isclass(c) and issubclass(c, EoxrError) and c is not EoxrError])
def test_every_error_class_is_documented(cls):
    assert cls.__doc__ and cls.__doc__.strip()

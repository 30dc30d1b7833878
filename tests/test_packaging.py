"""eoxr installs anywhere: every import is declared, the conda environments and the pins list what pip installs, a
wheel is a complete eoxr outside the checkout, and the Docker build context holds what the image needs."""
import ast
import functools
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
CONDA_NAMES = {"matplotlib-base": "matplotlib", "pytorch": "torch", "docker-py": "docker"}  # conda-forge -> PyPI
SOURCES = sorted((REPO / "eoxr").rglob("*.py")) + sorted((REPO / "benchmarks").rglob("*.py"))


# ------------------------------------------------------------------------------------------------ declarations
def _extra(name: str) -> list[Requirement]:
    """The requirements of extra ``name``, with the extras it names of eoxr itself expanded."""
    out = []
    for text in PYPROJECT["optional-dependencies"][name]:
        req = Requirement(text)
        out += [r for e in sorted(req.extras) for r in _extra(e)] if req.name == "eoxr" else [req]
    return out


CORE = [Requirement(r) for r in PYPROJECT["dependencies"]]
ALL = CORE + _extra("all")
TEST = ALL + _extra("test")


def _names(reqs) -> set[str]:
    return {canonicalize_name(r.name) for r in reqs}


@functools.cache
def _files(dist: str) -> frozenset[str]:
    return frozenset(str(f) for f in md.distribution(dist).files or [])


@functools.cache
def _top_level_providers() -> dict[str, list[str]]:
    return md.packages_distributions()


def _providers(module: str) -> set[str]:
    """Installed distributions that provide ``module``; for a namespace package shared by several (odc.geo,
    odc.stac: no distribution holds ``odc/__init__.py``), those holding its second level."""
    top = module.split(".")[0]
    dists = _top_level_providers().get(top, [])
    namespace = not any(f"{top}/__init__.py" in _files(d) for d in dists)
    if namespace and "." in module:
        prefix = "/".join(module.split(".")[:2])
        dists = [d for d in dists if any(f.startswith(prefix + "/") or f == prefix + ".py" for f in _files(d))]
    return {canonicalize_name(d) for d in dists}


def _third_party_imports() -> dict[str, set[str]]:
    """{module: files} of every absolute import in eoxr/ and benchmarks/ that is neither eoxr nor the stdlib."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "eoxr":
                    found.setdefault(module, set()).add(path.relative_to(REPO).as_posix())
    return found


def _requirement_closure(roots) -> dict[str, list]:
    """{distribution: [specifiers]} of every installed distribution that ``roots`` need, with the extras they name
    (markers evaluated for this interpreter)."""
    specs: dict[str, list] = {}
    seen, todo = set(), list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        specs.setdefault(name, []).append(req.specifier)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in md.requires(req.name) or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in {"", *req.extras}):
                todo.append(sub)
    return specs


def test_every_import_is_declared():
    declared = _names(ALL)
    undeclared = {}
    for module, files in sorted(_third_party_imports().items()):
        providers = _providers(module)
        assert providers, f"{module} (imported by {sorted(files)}) is not installed"
        if not providers & declared:  # a dependency's own dependency does not count: it may go away
            undeclared[module] = (sorted(providers), sorted(files))
    assert not undeclared, f"add to pyproject.toml (dependencies or an extra): {undeclared}"


def test_core_imports_need_no_extra():
    # importing eoxr and each public module works with only the core dependencies: extras' packages are hidden
    core = set(_requirement_closure(CORE))
    hidden = sorted({top for name in _names(ALL) - core
                     for top, dists in _top_level_providers().items()
                     if name in {canonicalize_name(d) for d in dists}})
    assert {"torch", "xbatcher", "dask_gateway", "dask_kubernetes"} <= set(hidden)
    code = f"""
import importlib, importlib.abc, sys
HIDDEN = {hidden!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden)", name=name)
sys.meta_path.insert(0, Hide())
import eoxr
for name in eoxr.__all__[1:] + ["cli", "demo"]:
    importlib.import_module("eoxr." + name)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _conda_requirements(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    out = {}
    for dep in deps:
        if isinstance(dep, dict):  # the pip: section
            out.update({canonicalize_name(Requirement(r).name): str(Requirement(r).specifier) for r in dep["pip"]})
            continue
        name = re.split(r"[<>=!]", dep, maxsplit=1)[0].strip()
        if name not in ("python", "pip"):
            out[canonicalize_name(CONDA_NAMES.get(name, name))] = str(Requirement(dep.replace(name, "x", 1)).specifier)
    return out


def _pip_requirements(reqs) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in reqs:
        out[canonicalize_name(r.name)] = str(r.specifier) or out.get(canonicalize_name(r.name), "")
    return out


@pytest.mark.parametrize("env, reqs", [("environment.yml", TEST), ("deploy/docker/environment.yml", ALL)],
                         ids=["hub", "docker"])
def test_conda_environments_list_what_pip_installs(env, reqs):
    # the same packages with the same version ranges: eoxr[all] (and the tests' packages for the hub's environment)
    assert _conda_requirements(REPO / env) == _pip_requirements(reqs)


def test_constraints_pin_every_requirement_within_its_range():
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    wanted = _requirement_closure(TEST)
    unpinned = sorted(set(wanted) - set(pins))
    assert not unpinned, f"pin these in constraints.txt (the version installed): {unpinned}"
    outside = {n: (pins[n], [str(s) for s in specs if pins[n] not in s]) for n, specs in wanted.items()
               if not all(s.contains(pins[n], prereleases=True) for s in specs)}
    assert not outside, f"pins outside a required range: {outside}"
    assert pins["torch"] == "2.13.0"


# ------------------------------------------------------------------------------------------------ Docker
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _copy_checkout(to: Path, extra=()) -> Path:
    """The checkout's tracked files (and ``extra`` ones) copied to ``to``: a clean tree, without the builds, caches
    and outputs of this one."""
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout")
    out = subprocess.run([git, "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in [p for p in out.decode().split("\0") if p and (REPO / p).is_file()] + list(extra):
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, to / rel)
    return to


def test_docker_build_context_holds_what_the_image_installs_and_no_outputs(tmp_path):
    docker_build = pytest.importorskip("docker.utils.build")
    # a checkout as a developer's looks: the tracked files, a virtual environment, outputs and caches
    _copy_checkout(tmp_path, [".dockerignore"])
    litter = [".venv/bin/python", "eoxr-out/s2_sample.zarr/zarr.json", "bench-out/io.json", "runs/lst.ckpt",
              "eoxr/__pycache__/cli.cpython-311.pyc", "catalogs/datacubes.yaml", ".git/HEAD", "dist/eoxr.whl",
              "eoxr/models/.runs/last.ckpt", ".pytest_cache/v/x", "build/lib/eoxr/__init__.py"]
    for rel in litter:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    patterns = [p for p in (tmp_path / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    sent = {p for p in docker_build.exclude_paths(str(tmp_path), patterns, dockerfile="deploy/docker/Dockerfile")
            if (tmp_path / p).is_file()}
    assert not sent & set(litter), sorted(sent & set(litter))
    needed = {"pyproject.toml", "setup.py", "README.md", "deploy/docker/environment.yml", "eoxr/__init__.py",
              "eoxr/models/lst-disr-x4.ckpt", "catalogs/__init__.py", "catalogs/endpoints.yaml", "benchmarks/io.py"}
    assert needed <= sent, sorted(needed - sent)
    assert not [p for p in sent if p.startswith(("tests/", "notebooks/"))]  # the image installs the package only
    assert sum((tmp_path / p).stat().st_size for p in sent) < 10e6


def test_dockerfile_installs_the_checkout_and_runs_the_demo():
    steps = _dockerfile_instructions()
    runs = [args for op, args in steps if op == "RUN"]
    copies = [args.split() for op, args in steps if op == "COPY"]
    source = next(c[-1] for c in copies if c[-2] == ".")  # the whole (ignore-filtered) context
    install = next(r for r in runs if "pip install" in r and source in r)
    assert " -e " not in install and "--no-deps" in install  # a real install; conda owns the dependencies
    env_update = next(r for r in runs if "env update" in r)
    assert "environment.yml" in env_update and runs.index(env_update) < runs.index(install)
    check = next(r for r in runs if "eoxr demo" in r)
    assert runs.index(install) < runs.index(check)
    for part in ("eoxr --version", "eoxr demo --quick", "--cluster local"):
        assert part in check, part
    assert "cd /tmp" in check  # away from any source folder: the installed eoxr runs


# ------------------------------------------------------------------------------------------------ the wheel
def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_wheel_is_a_complete_eoxr_outside_the_checkout(tmp_path):
    # built from a clean copy: setuptools would reuse this checkout's build/ folder
    source = _copy_checkout(tmp_path / "source")
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(source)], cwd=tmp_path)
    (wheel,) = wheels.glob("eoxr-*.whl")
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)])
    # the wheel's eoxr with this environment's dependencies, run from a folder that holds no eoxr source. Python
    # runs with -S: this environment's editable install of eoxr (a .pth and its import hook) must not fill in
    # what the wheel lacks; its site-packages come after the wheel's folder on PYTHONPATH.
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]]),
           "EOXR_SAMPLE_DIR": str(tmp_path / "sample")}

    def python(*args):
        return _run([sys.executable, "-S", *args], cwd=work, env=env, timeout=900).stdout

    def eoxr(*args):
        return python(str(site / "bin" / "eoxr"), *args)

    code = ("import eoxr, eoxr.catalog as c; print(eoxr.__file__, c.catalogs_dir()); "
            "print(len(c.search('sample', collections=['eoxr-s2-sample'])))")
    module, catalogs, count = python("-c", code).split()
    assert Path(module).is_relative_to(site) and Path(catalogs).is_relative_to(site) and int(count) == 3
    assert eoxr("--version").strip() == f"eoxr {PYPROJECT['version']}"
    eoxr("demo", "--quick", "--out", str(work / "demo"))
    assert set(json.loads((work / "demo" / "metrics.json").read_text())) >= {"spine", "urban", "lst"}
    eoxr("bench", "io", "--smoke", "--out", str(work / "bench"))  # the smallest run that measures every target
    report = json.loads((work / "bench" / "io.json").read_text())
    assert report["quick"] and report["smoke"] and all(t["met"] is not None for t in report["targets"].values())
    # the cube catalog goes to the user's folder, not into the installed package
    registered = python("-c", "import eoxr.catalog as c; "
                        f"print(c.register_cube('s2', {str(work / 'demo' / 's2_sample.zarr')!r}))").strip()
    assert Path(registered) == tmp_path / ".local" / "share" / "eoxr" / "datacubes.yaml"

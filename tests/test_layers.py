"""The package's layers import downward only (docs/architecture.md, "Layers").

Every ``import`` in ``pipelines/`` is read with ``ast`` (nothing is imported) and held against
the one allowed graph below: a module may import its own package and packages on a LOWER layer,
never a package on its own layer (sideways) or above (upward). Segmart modules are imported at
the top of a module, never inside a function to dodge a cycle; the command line alone imports
its commands' domains lazily, for its start-up time. Nothing in the package imports the demo
generator (``generator/``) or the benchmark harness (``benchmarks/``), and setuptools does not
install them.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "pipelines"

# The allowed graph, written once: a module of layer n imports only layers < n (and its own
# package). Layer 0 is pipelines/core; the top two are the wiring (definitions) and the CLI.
LAYERS = {
    "core": 0,  # settings, durable file writes, locks, the data contract, resources, the gate
    "ingest": 1,  # landing -> raw + quarantine
    "quality": 1,  # GX suites and reconciliations as asset checks
    "transform": 1,  # dbt assets
    "serving": 1,  # write-audit-publish
    "segments": 2,  # Python steps between dbt models (k-means, CLV, attribution)
    "clv": 2,
    "attribution": 2,
    "privacy": 3,  # operations over the layers: forget, doctor
    "reporting": 3,  # the run's report and summary
    "automation": 3,  # jobs, schedules, sensors, run progress, up-to-date checks
    "definitions": 4,  # the one Definitions: wires every domain
    "cli": 5,  # the command line
}
# where a function-local import of a segmart module is allowed, and why
LAZY_ALLOWED = {"cli": "commands import their domain when run: `segmart --help` stays fast"}
NOT_IN_PACKAGE = ("generator", "benchmarks", "tests", "scripts")


def package_of(module: str) -> str | None:
    """``pipelines.quality.checks`` -> ``quality``; None for a module outside segmart."""
    parts = module.split(".")
    if parts[0] != "pipelines" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(source: str) -> list[tuple[int, str, bool]]:
    """(line, imported module, inside a function?) for each import statement of ``source``."""
    tree = ast.parse(source)
    local = {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for node in ast.walk(fn)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, id(node) in local) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "pipelines":  # from pipelines import quality
                found += [
                    (node.lineno, f"pipelines.{alias.name}", id(node) in local)
                    for alias in node.names
                ]
            else:
                found.append((node.lineno, node.module, id(node) in local))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module",)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value, True))
    return found


def violations(module_package: str, where: str, source: str) -> list[str]:
    """What ``source`` (a module of ``pipelines.<module_package>``) breaks of the rules."""
    out = []
    layer = LAYERS.get(module_package)
    if layer is None:
        return [f"{where}: package {module_package!r} has no layer in LAYERS"]
    for line, target, inside_function in imports_of(source):
        if target.split(".")[0] in NOT_IN_PACKAGE:
            out.append(f"{where}:{line} imports {target} (not part of the installed package)")
            continue
        other = package_of(target)
        if other is None or other == module_package:
            if other == module_package and inside_function and module_package not in LAZY_ALLOWED:
                out.append(f"{where}:{line} imports {target} inside a function")
            continue
        if other not in LAYERS:
            out.append(f"{where}:{line} imports {target}: {other!r} has no layer in LAYERS")
        elif LAYERS[other] >= layer:
            way = "sideways" if LAYERS[other] == layer else "upward"
            out.append(
                f"{where}:{line} {module_package} (layer {layer}) imports {target} "
                f"{way} (layer {LAYERS[other]})"
            )
        elif inside_function and module_package not in LAZY_ALLOWED:
            out.append(f"{where}:{line} imports {target} inside a function")
    return out


def package_modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue
        out.append((rel.parts[0].removesuffix(".py"), path))
    return out


def test_every_module_imports_downward_only():
    found = []
    for package, path in package_modules():
        found += violations(package, str(path.relative_to(REPO_ROOT)), path.read_text())
    assert found == [], "\n".join(found)


def test_every_package_and_top_module_has_a_layer():
    on_disk = {package for package, _ in package_modules()}
    assert on_disk == set(LAYERS), (on_disk - set(LAYERS), set(LAYERS) - on_disk)


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("quality", "from pipelines.ingest.loader import landing_files\n", "sideways"),
        ("core", "import pipelines.quality.checks\n", "upward"),
        ("transform", "from pipelines import segments\n", "upward"),
        ("ingest", "def f():\n    from pipelines.ingest import mapping\n", "inside a function"),
        ("serving", "def f():\n    from pipelines.core import settings\n", "inside a function"),
        ("quality", "import importlib\nimportlib.import_module('pipelines.ingest')\n", "sideways"),
        ("reporting", "from generator import generate\n", "not part of the installed package"),
        ("cli", "from benchmarks.run import main\n", "not part of the installed package"),
        ("extras", "import os\n", "has no layer"),
    ],
)
def test_the_checker_catches_each_kind_of_bad_import(package, source, expected):
    [message] = violations(package, "x.py", source)
    assert expected in message


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("quality", "from pipelines.core.contract import entities\n"),
        ("segments", "from pipelines.transform.dbt_cluster_assets import build\n"),
        ("definitions", "from pipelines.automation.jobs import full_refresh_job\n"),
        ("cli", "def f():\n    from pipelines.definitions import defs\n"),
        ("ingest", "def f():\n    import pyarrow.csv\n"),
    ],
)
def test_the_checker_accepts_downward_imports(package, source):
    assert violations(package, "x.py", source) == []


def test_the_generator_and_the_benchmarks_are_not_installed():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    installed = find_packages(
        str(REPO_ROOT), include=find["include"], exclude=find.get("exclude", ())
    )
    assert "pipelines" in installed and "pipelines.core" in installed
    assert not [p for p in installed if p.split(".")[0] in NOT_IN_PACKAGE], installed
    assert (REPO_ROOT / "generator" / "core.py").exists()  # where the generator lives now

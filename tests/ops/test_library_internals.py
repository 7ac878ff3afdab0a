"""The package uses its libraries' supported APIs only (issue 21.1).

Scans every module of ``pipelines/`` and fails naming each line that

* imports a private module (``dagster._core``, ``from dagster._…``, any ``._private``);
* assigns to, or deletes, an attribute of an imported library module, class or object
  (``SomeLibraryClass.method = …``, ``setattr(library_module, …)``): a patch at import time;
* reads a private attribute of one (``SomeLibraryClass._connect``);
* overrides a private method of an imported library class in a subclass
  (``class MyDbtCli(DbtCliResource): def _initialize_dbt_core_adapter``).

"Library" is anything imported from outside ``pipelines`` (the standard library too). A check
that finds nothing on the package must still find each kind on a sample, so the scanner is
tested on one first.
"""

from __future__ import annotations

import ast
import importlib
import textwrap

from pipelines.core.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "pipelines"
PRIVATE_TEXT = ("dagster._core", "from dagster._", "import dagster._", "._private")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _library_names(tree: ast.AST) -> dict[str, tuple[str, str | None]]:
    """{name: (module, attribute or None)} bound by imports of modules outside the package."""
    names: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "pipelines":
                    if alias.asname:
                        names[alias.asname] = (alias.name, None)
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = (top, None)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] != "pipelines"
        ):
            for alias in node.names:
                names[alias.asname or alias.name] = (node.module or "", alias.name)
    return names


def _resolve(node: ast.AST, library: dict[str, tuple[str, str | None]]) -> object | None:
    """The library object an expression such as ``dg.ConfigurableResource`` names, if any."""
    chain: list[str] = []
    while isinstance(node, ast.Attribute):
        chain.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in library:
        return None
    module, attribute = library[node.id]
    try:
        obj = importlib.import_module(module)
        for part in ([attribute] if attribute else []) + chain:
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def violations(source: str, name: str = "<source>") -> list[str]:
    """``file:line: what`` for each use of a library's internals in ``source``."""
    found = [
        f"{name}:{number}: private import or name {text!r}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), 1)
        for text in PRIVATE_TEXT
        if text in line
    ]
    tree = ast.parse(source)
    library = _library_names(tree)

    def patched(target: ast.AST) -> bool:
        return isinstance(target, ast.Attribute) and _root(target) in library

    for node in ast.walk(tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            for part in ast.walk(target):
                if patched(part) and isinstance(part.ctx, ast.Store | ast.Del):
                    found.append(
                        f"{name}:{node.lineno}: assigns to an attribute of the library object "
                        f"{_root(part)!r}: {ast.unparse(part)}"
                    )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
            and _root(node.args[0]) in library
            and isinstance(node.args[0], ast.Name | ast.Attribute)
        ):
            found.append(
                f"{name}:{node.lineno}: {node.func.id} on the library object "
                f"{ast.unparse(node.args[0])!r}"
            )
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and _root(node) in library
            and isinstance(node.value, ast.Name | ast.Attribute)
        ):
            found.append(
                f"{name}:{node.lineno}: private attribute of a library object: {ast.unparse(node)}"
            )
        if isinstance(node, ast.ClassDef):
            bases = [b for b in (_resolve(b, library) for b in node.bases) if b is not None]
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and _private(item.name)
                    and any(hasattr(base, item.name) for base in bases)
                ):
                    found.append(
                        f"{name}:{item.lineno}: {node.name} overrides the private method "
                        f"{item.name} of the library class "
                        f"{', '.join(ast.unparse(b) for b in node.bases)}"
                    )
    return sorted(set(found), key=lambda v: (v.split(":")[0], int(v.split(":")[1])))


SAMPLE = textwrap.dedent(
    """
    import dagster as dg
    from dagster._core.storage.event_log import SqliteEventLogStorage
    from dagster_dbt import DbtCliResource
    from pipelines.core.settings import HomePaths

    SqliteEventLogStorage._connect = None
    setattr(dg, "asset", None)
    original = SqliteEventLogStorage._connect
    dg.some.attr += 1
    HomePaths.root = "fine: our own class"

    class Cli(DbtCliResource):
        def _initialize_dbt_core_adapter(self, args):
            return None

        def _helper(self):  # fine: a private method of our own, not the library's
            self._mine = 1  # fine: our own instance
    """
)


def test_the_scanner_finds_each_kind_of_patch_in_a_sample():
    found = violations(SAMPLE, "sample.py")
    lines = sorted({int(v.split(":")[1]) for v in found})
    assert lines == [3, 7, 8, 9, 10, 14], "\n".join(found)
    assert any("overrides the private method _initialize_dbt_core_adapter" in v for v in found)
    assert any(
        "assigns to an attribute of the library object 'SqliteEventLogStorage'" in v for v in found
    )


def test_the_package_uses_no_library_internals():
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += violations(path.read_text(), str(path.relative_to(REPO_ROOT)))
    assert not found, "library internals used:\n" + "\n".join(found)

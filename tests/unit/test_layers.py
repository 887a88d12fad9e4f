"""Imports go down the layers: the store and the domain know no face, and the CLI is not built on the API.

Read from the source (every `import` and `from ... import`, including those inside functions), so a
new module is checked without being listed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modelshelf

ROOT = Path(modelshelf.__file__).parent

# package (or module) -> packages it must never import
FORBIDDEN = {
    "modelshelf.domain": ("modelshelf.store", "modelshelf.services", "modelshelf.api", "modelshelf.cli"),
    "modelshelf.store": ("modelshelf.services", "modelshelf.api", "modelshelf.cli", "modelshelf.app"),
    "modelshelf.services": ("modelshelf.api", "modelshelf.cli", "modelshelf.app"),
    "modelshelf.auth": ("modelshelf.api", "modelshelf.cli", "modelshelf.app"),
    "modelshelf.errors": ("modelshelf.api", "modelshelf.store", "modelshelf.services"),
    # The CLI reaches the API only through the app it serves (`modelshelf serve`), never a face's code.
    "modelshelf.cli": ("modelshelf.api",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


MODULES = sorted(ROOT.rglob("*.py"))


def test_the_source_is_found() -> None:
    names = {_module_name(p) for p in MODULES}
    assert {"modelshelf.store.repository", "modelshelf.cli.accounts", "modelshelf.api.admin"} <= names


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_imports_go_down_the_layers(path: Path) -> None:
    module = _module_name(path)
    imported = _imports(path)
    wrong = sorted(
        name
        for layer, forbidden in FORBIDDEN.items()
        if _within(module, layer)
        for name in imported
        if any(_within(name, f) for f in forbidden)
    )
    assert wrong == [], f"{module} imports {wrong}"

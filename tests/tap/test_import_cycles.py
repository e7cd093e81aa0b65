"""No import cycle between the tap's modules: each can be read knowing only those it imports.

Module-level imports are what run when a module loads; imports under `if TYPE_CHECKING:` are
for the type checker only, and are left out, as are imports inside functions (they run later,
once every module has loaded). The simulator is a package of its own and is left out too.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tap_zoho_bulk"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "simulator" not in path.relative_to(PACKAGE).parts
    }


def loaded_at_import(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports when it loads."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in known
            )
    return found


def test_the_package_has_no_import_cycle() -> None:
    paths = modules()
    assert "tap_zoho_bulk.singer.tap" in paths
    graph = {name: loaded_at_import(path, set(paths)) for name, path in paths.items()}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == [], cycles


def test_the_cycle_check_sees_imports() -> None:
    """The check above would pass on a graph it failed to read: it must see known edges."""
    paths = modules()
    tap = loaded_at_import(paths["tap_zoho_bulk.singer.tap"], set(paths))
    assert "tap_zoho_bulk.singer.streams" in tap
    assert "tap_zoho_bulk.errors" in tap

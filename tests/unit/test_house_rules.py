"""House rules the package keeps: no import circle, no module over 400 lines.

`make lint` runs import-linter's acyclic-siblings contract; the circle test here also catches
what that contract does not look at (a package's ``__init__`` and its own modules), and names
the circle.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

import orchestrator

pytestmark = pytest.mark.unit

MAX_LINES = 400


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of modules with more than one member, or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(imports[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in imports[module]:
                found.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_finds_a_circle() -> None:
    """A circle of three, a self-import and a clean chain: two circles found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert circles(graph) == [["a", "b", "c"], ["d"]]


def test_no_import_circle_in_orchestrator() -> None:
    """Every import inside the package, TYPE_CHECKING and function-local ones included."""
    graph = grimp.build_graph("orchestrator", cache_dir=None)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert circles(imports) == []


def test_no_module_over_400_lines() -> None:
    """A module holds one job; past 400 lines it holds more (STYLE.md rule 7)."""
    root = Path(orchestrator.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }
    assert len(sizes) > 100
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}

"""The package's layering is a test: each subpackage's `__init__` docstring ends with a
"May import: ..." sentence naming the parts of wswatchlib it may import, and its modules import
nothing else. The shared modules at the top (`events`, `rfc6455`, `text`) import nothing of
wswatchlib, and no two packages import each other, directly or in a ring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "addons" / "wswatchlib"
SUBPACKAGES = sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))

#: Top-level modules and what each may import.
TOP_LEVEL = {
    "events": set(),
    "rfc6455": set(),
    "text": set(),
    "progress": set(),
    "mitm_internals": {"events", "rfc6455"},
}
#: The entry points sit above everything: a subpackage may name one (`testing` runs the wiring).
ENTRY_POINTS = {"wiring", "cli", "pytest_plugin"}


def _part(path: Path) -> str:
    """The top-level part of wswatchlib a module belongs to: its subpackage or its own name."""
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else relative[0].removesuffix(".py")


def _imported_parts(path: Path, source: str | None = None) -> set[str]:
    """The top-level parts of wswatchlib a module imports (relative imports); `source` in
    place of the file's own text."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    folder = list(path.relative_to(PACKAGE).parts[:-1])
    parts: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = folder[: len(folder) - (node.level - 1)]
        target = base + (node.module.split(".") if node.module else [])
        if target:
            parts.add(target[0].removesuffix(".py"))
        else:
            parts.update(alias.name for alias in node.names)
    return parts - {_part(path)}


def _allowed(subpackage: str) -> set[str]:
    docstring = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text()))
    assert docstring, f"{subpackage}/__init__.py has no docstring"
    sentence = re.search(r"May import: ([^.]+)\.", docstring)
    assert sentence, f"{subpackage}/__init__.py does not say what it may import"
    if sentence.group(1).startswith("nothing"):
        return set()
    return {name.strip() for name in sentence.group(1).split(",")}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        graph.setdefault(_part(path), set()).update(_imported_parts(path))
    return graph


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_each_subpackage_imports_only_what_its_docstring_allows(subpackage: str) -> None:
    allowed = _allowed(subpackage)
    known = set(SUBPACKAGES) | set(TOP_LEVEL) | ENTRY_POINTS
    assert allowed <= known, f"{subpackage} names unknown parts: {allowed - known}"
    for path in sorted((PACKAGE / subpackage).rglob("*.py")):
        extra = _imported_parts(path) - allowed
        assert not extra, f"{path.relative_to(PACKAGE)} imports {sorted(extra)}, not allowed"


@pytest.mark.parametrize("module", sorted(TOP_LEVEL))
def test_shared_top_level_modules_import_only_below_them(module: str) -> None:
    extra = _imported_parts(PACKAGE / f"{module}.py") - TOP_LEVEL[module]
    assert not extra, f"{module}.py imports {sorted(extra)}"


def test_no_two_parts_import_each_other_directly_or_in_a_ring() -> None:
    graph = _graph()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(part: str) -> None:
        if part in done:
            return
        assert part not in visiting, "import cycle: " + " -> ".join([*visiting, part])
        visiting.append(part)
        for imported in sorted(graph.get(part, ())):
            visit(imported)
        visiting.pop()
        done.add(part)

    for part in sorted(graph):
        visit(part)


def test_the_layering_check_sees_a_forbidden_import() -> None:
    """The checker itself: a relay module that imported the watcher would be caught."""
    module = PACKAGE / "relay" / "relays.py"
    planted = "from ..watch.watcher import WsWatch\n" + module.read_text(encoding="utf-8")
    assert "watch" not in _imported_parts(module)
    assert "watch" in _imported_parts(module, planted)
    assert "watch" not in _allowed("relay")


def _literals_compared_or_named(path: Path) -> list[tuple[int, object]]:
    """String constants "accepted" anywhere, and the int 1006 in comparisons (tables of codes
    with their hints or thresholds are data, and stay)."""
    found: list[tuple[int, object]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and node.value == "accepted":
            found.append((node.lineno, node.value))
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                if (
                    isinstance(operand, ast.Constant)
                    and type(operand.value) is int
                    and operand.value == 1006
                ):
                    found.append((operand.lineno, operand.value))
    return found


def test_outcomes_and_the_no_frame_code_are_named_not_typed() -> None:
    """`Outcome.ACCEPTED` (events.py) and `CloseCode.ABNORMAL_CLOSURE` (rfc6455.py), never the
    bare "accepted" or a comparison with 1006 elsewhere."""
    vocabulary = {PACKAGE / "events.py", PACKAGE / "rfc6455.py"}
    typed = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in vocabulary and (found := _literals_compared_or_named(path))
    }
    assert typed == {}

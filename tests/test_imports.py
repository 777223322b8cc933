"""The import graph of course_utils: no cycles, and the layers point one way.

Reads every module's source with ``ast`` (nothing is imported), so imports inside functions
count too: a lazy import that closes a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "course_utils"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Modules that must not reach the dataset loaders, directly or through other modules.
LOADERS = {f"{PACKAGE}.data", f"{PACKAGE}.sequences", f"{PACKAGE}.loading", f"{PACKAGE}.datasets"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name ``from <level dots><target>`` means inside module ``importer``."""
    if level == 0:
        return target or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]  # a module's "." is its package
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(name: str) -> set[str]:
    """course_utils modules that module ``name`` imports anywhere in its source."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            # `from pkg import sub` imports the module pkg.sub when there is one
            subs = [f"{base}.{alias.name}" for alias in node.names]
            candidates = [sub for sub in subs if sub in MODULES] or [base]
        else:
            continue
        for candidate in candidates:
            # `import course_utils.grading.cli` names the module, or the package holding a name
            while candidate and candidate not in MODULES and "." in candidate:
                candidate = candidate.rsplit(".", 1)[0]
            if candidate in MODULES and candidate != name:
                found.add(candidate)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ------------------------------------------------------------------ the checker itself
def test_the_checker_finds_cycles_and_reads_relative_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert _resolve("course_utils.data", False, 1, "cache") == "course_utils.cache"
    assert _resolve("course_utils.grading.release", False, 2, "cache") == "course_utils.cache"
    assert _resolve("course_utils.grading", True, 1, "cli") == "course_utils.grading.cli"
    assert _resolve("course_utils", True, 1, None) == "course_utils"


def test_the_graph_sees_known_edges():
    """If parsing went wrong the graph would be empty and every check below would pass."""
    assert f"{PACKAGE}.cache" in GRAPH[f"{PACKAGE}.data"]
    assert f"{PACKAGE}.loading" in GRAPH[f"{PACKAGE}.sequences"]
    assert f"{PACKAGE}.grading.cli" in GRAPH[f"{PACKAGE}.grading.__main__"]
    assert f"{PACKAGE}.cache" in GRAPH[f"{PACKAGE}.grading.gradebook"]


# ------------------------------------------------------------------ the package
def test_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize(
    "name",
    sorted(n for n in MODULES if n == f"{PACKAGE}.download" or n.startswith(f"{PACKAGE}.grading")),
)
def test_download_and_grading_do_not_reach_the_loaders(name):
    reached = reachable(GRAPH, name) & LOADERS
    assert not reached, f"{name} imports {sorted(reached)} (use course_utils.cache instead)"


def test_cache_is_the_bottom_layer():
    assert GRAPH[f"{PACKAGE}.cache"] == set()
    assert GRAPH[f"{PACKAGE}.loading"] <= {f"{PACKAGE}.cache"}

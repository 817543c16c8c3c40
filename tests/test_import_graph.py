"""No import circle among our modules: every ``import`` and ``from … import`` of every module of our
packages (and ``worker.py``, ``starter.py``), at the top, inside functions or under ``TYPE_CHECKING``
alike, read with ``ast``. An import hidden inside a function still closes a circle; it only moves the
failure from import time to the first call."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_OURS = {"tests", "var", "scripts", "docs"}


def our_modules(root: Path) -> dict[str, Path]:
    """Every module of the packages at ``root`` (folders with an ``__init__.py``, the tests aside) and
    the scripts beside them, by dotted name."""
    modules: dict[str, Path] = {}
    for package in sorted(root.iterdir()):
        if package.name in NOT_OURS or package.name.startswith(".") or not (package / "__init__.py").exists():
            continue
        for file in sorted(package.rglob("*.py")):
            parts = list(file.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = file
    for script in sorted(root.glob("*.py")):
        modules[script.stem] = script
    return modules


def _imported(
    module: str, file: Path, node: ast.Import | ast.ImportFrom, modules: Mapping[str, Path]
) -> set[str]:
    """The modules of ours that one import statement loads: ``from a.b import c`` is ``a.b.c`` when
    that is a module, else ``a.b``."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        package = module.split(".") if file.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    found: set[str] = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            found.add(f"{base}.{alias.name}")
        elif base in modules:
            found.add(base)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of ours it imports anywhere in its text."""
    modules = our_modules(root)
    graph: dict[str, set[str]] = {}
    for module, file in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _imported(module, file, node, modules)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """One circle through each group of modules that import each other (a strongly connected
    component of more than one module), as ``[a, b, …, a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm without recursion: (module, its remaining neighbours).
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, neighbours = work[-1]
            for other in neighbours:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append((other, iter(sorted(graph[other]))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    for component in components:
        yield _circle_within(graph, component)


def _circle_within(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A shortest circle from the component's first module back to itself (breadth first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for module in frontier:
            for other in sorted(graph[module] & component):
                if other == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if other not in came_from:
                    came_from[other] = module
                    following.append(other)
        frontier = following
    raise AssertionError(f"no circle in {sorted(component)}")  # a component always has one


def test_our_modules_import_no_circle() -> None:
    graph = import_graph(ROOT)
    assert {"infra.logging", "infra.temporal", "domain.case_ids", "worker"} <= graph.keys()
    found = [" → ".join(circle) for circle in cycles(graph)]
    assert found == [], "modules that import each other:\n" + "\n".join(found)


def test_a_circle_closed_inside_a_function_is_found(tmp_path: Path) -> None:
    """The shape infra/ had: a → b at the top, b → c → a inside functions, relative imports too."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import helper\n")
    (package / "b.py").write_text("def helper():\n    from . import c\n    return c\n")
    (package / "c.py").write_text("import os\n\ndef later():\n    import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    (tmp_path / "script.py").write_text("from pkg.d import a\n")
    graph = import_graph(tmp_path)
    assert graph["pkg.b"] == {"pkg.c"}
    assert list(cycles(graph)) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]

"""The top-level packages import one way (schemas <- filters <- transforms <- flows, the trainer beside transforms)
and no module imports itself back through others: read from the source with ast, so nothing is imported to check."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What each package may import besides itself; the trainer sits beside transforms and below the flows that call it.
MAY_IMPORT = {
    "schemas": set(),
    "filters": {"schemas"},
    "transforms": {"schemas", "filters"},
    "trainer": {"schemas", "filters", "transforms"},
    "flows": {"schemas", "filters", "transforms", "trainer"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("sieve", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def sieve_imports(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every sieve module the file imports, at module level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("sieve.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sieve."):
            # `from sieve.transforms import storage` imports the module sieve.transforms.storage
            found += [
                (
                    node.lineno,
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module,
                )
                for alias in node.names
            ]
    return found


def import_graph() -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    """module -> {imported module: first line}, and each module's file."""
    files = {module_name(p): p for package in MAY_IMPORT for p in sorted((ROOT / package).rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        graph[name] = {}
        for line, target in sieve_imports(path, set(files)):
            if target != name:
                graph[name].setdefault(target, line)
    return graph, files


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) through each group of modules that reach one another (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = {node}
            while (member := stack.pop()) != node:
                component.add(member)
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(component, graph) for component in components]


def _cycle_in(component: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node]):
            if nxt == start:
                return paths[node] + [start]
            if nxt in component and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                frontier.append(nxt)
    raise AssertionError(f"no cycle in {component}")


def test_no_package_imports_a_higher_layer():
    graph, files = import_graph()
    upward = [
        f"{files[source].relative_to(ROOT)}:{line} imports {target}"
        for source, targets in graph.items()
        for target, line in targets.items()
        if target.split(".")[1] != source.split(".")[1] and target.split(".")[1] not in MAY_IMPORT[source.split(".")[1]]
    ]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_cycles():
    found = cycles(import_graph()[0])
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_the_checks_see_a_cycle_and_an_upward_import(tmp_path):
    """The graph walk finds what it is there to find: a two-module cycle and a lower module importing a higher one."""
    graph = {
        "sieve.filters.a": {"sieve.filters.b": 3},
        "sieve.filters.b": {"sieve.filters.a": 5, "sieve.flows.c": 7},
        "sieve.flows.c": {},
    }
    assert cycles(graph) == [["sieve.filters.a", "sieve.filters.b", "sieve.filters.a"]]
    source = tmp_path / "b.py"
    source.write_text("def late():\n    from sieve.flows import c\n", encoding="utf-8")
    assert sieve_imports(source, {"sieve.flows.c"}) == [(2, "sieve.flows.c")]

"""The structure of the code: no import cycle anywhere, and the ground floor never
imports the lab (a module's imports read from its source, as Python runs them at import)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules() -> dict[str, Path]:
    found = {"nmf_core": ROOT / "nmf_core.py", "recommender": ROOT / "recommender.py"}
    for path in (ROOT / "lab").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_at_import_time(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` runs while it is imported: its imports outside function
    bodies (those run later, when called), each with the packages that hold it."""
    wanted = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                wanted.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                wanted.add(child.module)
                wanted.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text()))
    closed = set()
    for name in wanted:
        parts = name.split(".")
        closed.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return closed & known


def test_no_module_imports_itself_back_through_a_cycle():
    found = modules()
    graph = {name: imports_at_import_time(path, set(found)) - {name}
             for name, path in found.items()}
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                cycle = path[path.index(other):] + [other]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if other not in state:
                visit(other)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert "lab.models" in graph and graph["lab.models"] >= {"lab.models.ours"}


def test_the_ground_floor_imports_no_lab_module():
    found = modules()
    for name in ("nmf_core", "recommender"):
        assert not {m for m in imports_at_import_time(found[name], set(found))
                    if m.startswith("lab")}, name

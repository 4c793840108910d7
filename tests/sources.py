"""What the structure tests read from source text: the imports of a module or a cell
(lab/test_structure.py, test_build.py)."""

from __future__ import annotations

import ast


def imported(source: str, *, at_import_time: bool = False) -> set[str]:
    """The absolute imports of ``source`` (a module's or a code cell's text), with the names
    imported from a module; with ``at_import_time``, only those outside function bodies
    (those run later, when called)."""
    wanted = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if at_import_time and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                     ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                wanted.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                wanted.add(child.module)
                wanted.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(source))
    return wanted


def top_level(source: str) -> set[str]:
    """The top-level packages ``source`` imports (``sklearn`` for ``sklearn.decomposition``)."""
    return {name.split(".")[0] for name in imported(source)}

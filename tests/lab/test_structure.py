"""The structure of the code: no import cycle anywhere, the ground floor never imports the
lab, and the lab's layers import downwards only (a module's imports read from its source).

A cycle is read as Python runs the imports at import time: a module's imports outside
function bodies, each with the packages that hold it, except the packages that hold the
importing module itself (those are imported before it, so importing a sibling never runs
them again); ``from package import name`` counts as importing ``package``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import ROOT
from sources import imported, top_level


#: The lab's layers, lowest first: none may import a layer after it, at any time (inside a
#: function too).  The kernels know nothing of the algorithms that call them, the algorithms
#: nothing of the models, and the models nothing of how they are evaluated, reported or run.
LAYERS = [("lab.rules", "lab.base", "lab.ratings", "lab.clock"), ("lab.kernels",),
          ("lab.factorizations", "lab.nmf"), ("lab.models", "lab.interface"),
          ("lab.evaluation",), ("lab.report",), ("lab.commands",)]


def modules() -> dict[str, Path]:
    found = {"nmf_core": ROOT / "nmf_core.py", "recommender": ROOT / "recommender.py"}
    for path in (ROOT / "lab").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_at_import_time(name: str, source: str, known: set[str]) -> set[str]:
    """The project modules the module ``name`` runs while it is imported: what it imports
    and the packages that hold those, but not the packages that hold ``name`` itself."""
    own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    direct = imported(source, at_import_time=True)
    closed = set(direct)
    for imported_name in direct:
        parts = imported_name.split(".")
        closed.update(".".join(parts[:i]) for i in range(1, len(parts)))
    parents_only = closed - direct
    return (closed - (parents_only & own_packages) - {name}) & known


def find_cycle(sources: dict[str, str]) -> list[str] | None:
    """A cycle of imports at import time among the modules ``{name: source}``, or None."""
    graph = {name: imports_at_import_time(name, source, set(sources))
             for name, source in sources.items()}
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state:
                cycle = visit(other)
                if cycle:
                    return cycle
        path.pop()
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_no_module_imports_itself_back_through_a_cycle():
    sources = {name: path.read_text() for name, path in modules().items()}
    cycle = find_cycle(sources)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
    graph = imports_at_import_time("lab.models", sources["lab.models"], set(sources))
    assert graph >= {"lab.models.als", "lab.models.peers", "lab.models.spark"}


@pytest.mark.parametrize("sources, cycle", [
    # a package that imports its modules, one of which imports a sibling: no cycle
    ({"p": "import p.a", "p.a": "from p.b import x", "p.b": "x = 1"}, None),
    # ... but a module that takes a name from its package's __init__ closes one
    ({"p": "import p.a", "p.a": "from p import y", "p.b": "x = 1"}, ["p", "p.a", "p"]),
    ({"p": "from p.a import f", "p.a": "import p.b\nf = 1", "p.b": "from p.a import f"},
     ["p.a", "p.b", "p.a"]),
    # what runs only when called is not an import at import time
    ({"a": "import b", "b": "def f():\n    import a"}, None),
    # another package's __init__ is run by importing its module
    ({"p": "import q.c", "q": "import p", "q.c": "x = 1"}, ["p", "q", "p"]),
])
def test_the_cycle_check_reads_imports_as_python_runs_them(sources, cycle):
    assert find_cycle(sources) == cycle


def test_the_ground_floor_imports_nothing_of_the_project():
    """nmf_core and recommender import no module of the lab, of tools/ or of tests/, nor each
    other (README), at import time or inside a function."""
    found = modules()
    for name in ("nmf_core", "recommender"):
        ours = top_level(found[name].read_text())
        assert not ours & {"lab", "tools", "data", "tests", "nmf_core", "recommender"}, name


def _layer(name: str) -> int | None:
    for level, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return level
    return None


def test_the_layers_import_downwards_only():
    """No module imports a later layer (base and ratings, kernels, factorizations and the
    general NMF, models and their interface, evaluation, report, commands), at import time or
    inside a function."""
    found = modules()
    upward = []
    for name, path in found.items():
        level = _layer(name)
        if level is None:
            continue
        for target in imported(path.read_text()):
            other = _layer(target)
            if other is not None and other > level:
                upward.append(f"{name} imports {target}")
    assert not upward, upward

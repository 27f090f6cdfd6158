"""The house's shape: no import cycles (lazy imports inside functions included), no module
shadowing the standard library, small modules, and the target contract written once."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: installed subpackage -> folder (as pyproject.toml's package-dir maps them)
PACKAGES = {
    "boltzbench": ROOT / "boltzbench",
    "boltzbench.targets": ROOT / "targets",
    "boltzbench.methods": ROOT / "methods",
    "boltzbench.baselines": ROOT / "baselines",
    "boltzbench.metrics": ROOT / "metrics",
}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the boltzbench modules it imports anywhere in its body (functions too).
    ``from package import name`` counts as importing ``package.name`` when that is a module.
    A package's ``__init__`` importing its own submodules for registration is left out
    (it cannot form a cycle a submodule does not close by importing the package)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
        for node in _runtime_nodes(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ importing its submodules is registration, not a dependency
    for name in PACKAGES:
        if name != "boltzbench":
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_shadows_the_standard_library():
    clash = [
        p.name for p in (ROOT / "boltzbench").glob("*.py") if p.stem in sys.stdlib_module_names
    ]
    assert clash == []


@pytest.mark.parametrize("path", sorted((ROOT / "boltzbench").glob("*.py")), ids=lambda p: p.name)
def test_core_modules_are_small(path):
    limit = 200 if path.name == "report.py" else 400
    assert len(path.read_text().splitlines()) <= limit


def test_builtin_targets_follow_the_written_contract():
    from boltzbench.protocols import Target
    from boltzbench.registry import TARGETS

    for name in ("gmm4", "double_well", "banana", "funnel"):
        assert isinstance(TARGETS.get(name)(), Target), name

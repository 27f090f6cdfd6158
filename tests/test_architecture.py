"""The house's shape: contracts at the top of ``boltzbench/``, wings for the three stages of
the data (run, score, report) that import one another in one direction only, no import
circle anywhere in the installed tree (lazy and annotation-only imports included), no
module shadowing the standard library, no source file over 400 lines, and the target
contract written once. docs/architecture.md describes the same layout."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: installed package -> folder (as pyproject.toml's package-dir maps them)
PACKAGES = {
    "boltzbench": ROOT / "boltzbench",
    "boltzbench.targets": ROOT / "targets",
    "boltzbench.methods": ROOT / "methods",
    "boltzbench.baselines": ROOT / "baselines",
    "boltzbench.metrics": ROOT / "metrics",
}
#: the wings, in the order the data flows through them
WINGS = ("boltzbench.run", "boltzbench.score", "boltzbench.report")
#: what each part of the tree may import besides the contracts (and itself): the run wing
#: hands each finished cell to the score wing; the report wing reads records only.
ALLOWED = {
    "boltzbench.run": {"boltzbench.score"},
    "boltzbench.score": set(),
    "boltzbench.report": set(),
    "plugins": set(),  # targets, methods, baselines, metrics: contracts only
    "contracts": set(),
}
PLUGIN_PACKAGES = ("boltzbench.targets", "boltzbench.methods", "boltzbench.baselines")
PLUGIN_PACKAGES += ("boltzbench.metrics",)
FRONT = ("boltzbench.cli", "boltzbench.__main__")  # the command line: may import anything
LIMIT = 400


def _modules() -> dict[str, Path]:
    """Every module of the installed tree, subpackages included: dotted name -> file."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the boltzbench modules it imports anywhere in its body: functions and
    ``if TYPE_CHECKING:`` blocks too (an annotation-only circle is still a circle to a
    reader). ``from package import name`` counts as importing ``package.name`` when that
    is a module. A package's ``__init__`` importing its own submodules (registration,
    re-exports) is left out: it cannot close a circle a submodule does not close."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.stem == "__init__" else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    prefix = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{prefix}.{base}" if base else prefix
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not (path.stem == "__init__" and t.startswith(name + ".")):
                    graph[name].add(t)
    return graph


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


def part_of(module: str) -> str:
    """Which part of the house a module belongs to: a wing, ``plugins`` (targets, methods,
    baselines, metrics), ``front`` (the command line) or ``contracts`` (every other module
    at the top of ``boltzbench/``, the package's ``__init__`` included)."""
    for wing in WINGS:
        if module == wing or module.startswith(wing + "."):
            return wing
    if any(module == p or module.startswith(p + ".") for p in PLUGIN_PACKAGES):
        return "plugins"
    if any(module == f or module.startswith(f + ".") for f in FRONT):
        return "front"
    return "contracts"


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go against the house's direction, as 'a -> b' lines."""
    bad = []
    for module, imports in sorted(graph.items()):
        mine = part_of(module)
        if mine == "front":
            continue
        for other in sorted(imports):
            theirs = part_of(other)
            if theirs in (mine, "contracts"):
                continue
            if theirs == "plugins" and mine != "contracts":
                continue  # wings may name built-in configurations (e.g. a paper setting)
            if theirs == "plugins" and mine == "contracts":
                continue  # the registry imports the built-ins to register them
            if theirs not in ALLOWED[mine]:
                bad.append(f"{module} -> {other}")
    return bad


def test_no_import_cycle_anywhere_in_the_tree():
    assert _cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_graph_sees_annotation_only_and_lazy_imports(tmp_path, monkeypatch):
    """A circle closed only under ``if TYPE_CHECKING:`` or inside a function is found."""
    pkg = tmp_path / "boltzbench"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from boltzbench.b import B\n"
    )
    (pkg / "b.py").write_text("def f():\n    from boltzbench import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGES", {"boltzbench": pkg})
    assert _cycles(import_graph()) == [["boltzbench.a", "boltzbench.b"]]


def test_wings_import_in_the_direction_of_the_data():
    assert layering_violations(import_graph()) == []


def test_the_layering_check_finds_a_backward_import():
    graph = {
        "boltzbench.score.scoring": {"boltzbench.run.cells"},
        "boltzbench.records": {"boltzbench.report.tables"},
        "boltzbench.targets.gmm": {"boltzbench.score.floors"},
        "boltzbench.run.cells": {"boltzbench.score.scoring", "boltzbench.counter"},
    }
    assert layering_violations(graph) == [
        "boltzbench.records -> boltzbench.report.tables",
        "boltzbench.score.scoring -> boltzbench.run.cells",
        "boltzbench.targets.gmm -> boltzbench.score.floors",
    ]


def test_every_wing_exists_with_a_docstring():
    for wing in WINGS:
        init = ROOT / Path(*wing.split(".")) / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text())), wing


def test_no_module_shadows_the_standard_library():
    clash = [
        p.name for p in (ROOT / "boltzbench").rglob("*.py") if p.stem in sys.stdlib_module_names
    ]
    assert clash == []


@pytest.mark.parametrize(
    "path", sorted(set(_modules().values())), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_source_file_over_400_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= LIMIT, f"{n} lines"


def test_every_module_says_what_it_is():
    missing = [n for n, p in _modules().items() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert [n for n in missing if not n.endswith("__main__")] == []


def test_builtin_targets_follow_the_written_contract():
    from boltzbench.protocols import Target
    from boltzbench.registry import TARGETS

    for name in ("gmm4", "double_well", "banana", "funnel"):
        assert isinstance(TARGETS.get(name)(), Target), name

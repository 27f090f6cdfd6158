"""The README's and docs/'s code snippets are run by the tests, as printed.

Markers on the line before a fenced block say what to do with it:
- ``<!-- file: NAME -->``: the block is written to NAME in a scratch folder;
- ``<!-- run -->``: the block is run there (python: ``python -c``; bash: ``bash -e``,
  with ``.venv/bin`` first on PATH), after the files written before it, in order;
- ``<!-- pytest -->``: the block is written to a test file and run with pytest there.
Every other python block must at least parse. Each document gets its own scratch folder.
"""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- (file: [\w.]+|run|pytest) -->\s*\n)?```(\w+)\n(.*?)```", re.S)


def blocks(path: Path) -> list[tuple[str | None, str, str]]:
    """(marker or None, language, code) for every fenced block of ``path``."""
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(path.read_text())]


def test_the_docs_exist_and_the_readme_is_short():
    names = {p.name for p in DOCS}
    assert {"targets.md", "methods.md", "metrics.md", "guarantees.md", "scaling.md"} <= names
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_python_snippet_parses(path):
    for _, lang, code in blocks(path):
        if lang == "python":
            ast.parse(code)


@pytest.mark.parametrize(
    "path", [p for p in DOCS if any(m for m, _, _ in blocks(p))], ids=lambda p: p.name
)
def test_marked_snippets_run_as_printed(path, tmp_path):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(tmp_path),
    }
    ran = 0
    for k, (marker, lang, code) in enumerate(blocks(path)):
        if marker is None:
            continue
        if marker.startswith("file:"):
            (tmp_path / marker.split(":", 1)[1].strip()).write_text(code)
            continue
        if marker == "pytest":
            test_file = tmp_path / f"test_snippet_{k}.py"
            test_file.write_text(code)
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file.name]
        elif lang == "python":
            cmd = [sys.executable, "-c", code]
        else:
            cmd = ["bash", "-e", "-c", code]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{path.name} block {k}:\n{code}\n{done.stdout}\n{done.stderr}"
        ran += 1
    assert ran > 0


#: options that change a suite's grid: a command with one of them is not the command that
#: regenerates the suite's committed folder
GRID_OPTIONS = {
    "--methods", "--method", "--targets", "--seeds", "--n-samples", "--budget", "--budgets",
    "--param", "--plugin", "--cost", "--metrics",
}  # fmt: skip
RUN = re.compile(r"boltzbench run((?:[^`\n]|\\\n)*)")


def run_commands(text: str) -> list[list[str]]:
    """The arguments of every ``boltzbench run`` command in a document (code blocks and
    inline code, backslash continuations joined)."""
    return [m.group(1).replace("\\\n", " ").split() for m in RUN.finditer(text)]


def writes_into_committed_results(args: list[str]) -> str | None:
    """The committed results folder a ``boltzbench run`` command would write into although
    it is not the command that regenerates it, or None."""
    value = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
    suite = value.get("--suite")
    grid = GRID_OPTIONS & set(args)
    default = f"results/{suite or ('custom' if grid else 'quick')}"
    out = value.get("--out", default).rstrip("/")
    committed = {f"results/{p.name}" for p in (REPO / "results").iterdir() if p.is_dir()}
    if out in committed and (grid or out != f"results/{suite or 'quick'}"):
        return out
    return None


def test_no_documented_command_writes_into_committed_results_by_accident():
    bad = []
    for path in DOCS:
        for args in run_commands(path.read_text()):
            folder = writes_into_committed_results(args)
            if folder:
                bad.append(f"{path.name}: boltzbench run {' '.join(args)} -> {folder}")
    assert bad == []


def test_the_committed_results_check_catches_the_old_plugin_command():
    old = "--plugin my_sampler.py --suite paper --methods my_ula,mala --targets gmm4".split()
    assert writes_into_committed_results(old) == "results/paper"
    assert writes_into_committed_results(["--suite", "sweep"]) is None
    assert writes_into_committed_results(["--suite", "full", "--out", "results/quick"])
    assert writes_into_committed_results(["--methods", "mala", "--out", "elsewhere"]) is None

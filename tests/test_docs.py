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

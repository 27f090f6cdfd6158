"""The documents' tables are generated from the committed results (scripts/readme_tables.py)
and must equal what the script generates now."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tables():
    spec = importlib.util.spec_from_file_location(
        "readme_tables", REPO / "scripts/readme_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_document_tables_are_generated_from_the_committed_results():
    tables = _tables()
    for path in tables.DOCUMENTS:
        text = path.read_text()
        assert tables.render(text) == text, f"{path.name}: run python scripts/readme_tables.py"


def test_reference_records_pass_their_checks():
    import json

    for path in sorted((REPO / "results" / "references").glob("*.json")):
        record = json.loads(path.read_text())
        assert record["checks"] and all(record["checks"].values()), path.name

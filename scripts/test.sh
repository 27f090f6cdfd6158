#!/usr/bin/env bash
# Install what the tests need, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,molecules
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q "$@"

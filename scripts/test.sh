#!/usr/bin/env bash
# Install what the tests need, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,molecules,dask
# headless Chromium renders report.html in a test (Debian's package; needs root and apt)
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    (apt-get install -y -q chromium >/dev/null 2>&1 \
        || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
        || echo "warning: could not install chromium; the report.html test will fail in CI"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q --durations=25 "$@"
# the asv benchmarks, each once (quick mode, results not saved), so that they cannot rot;
# exit code 2 if any benchmark fails
.venv/bin/asv machine --yes >/dev/null
.venv/bin/asv run --quick --python=same --dry-run --show-stderr

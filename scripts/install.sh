#!/usr/bin/env bash
# Create .venv (if missing) and install boltzbench into it, CPU PyTorch first.
# Usage: bash scripts/install.sh [extra]   e.g. "test" installs the test extras too.
# TORCH_SPEC overrides the PyTorch requirement (default torch==2.13.0, the CPU wheel this
# project's machines carry; elsewhere use e.g. TORCH_SPEC="torch>=2.3" with your own index).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install --quiet --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}" 2>&1 \
        | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import torch"  # fail here, clearly, if PyTorch did not install
fi
target="."
if [ "${1:-}" != "" ]; then target=".[$1]"; fi
.venv/bin/pip install --quiet --disable-pip-version-check -e "$target" 2>&1 \
    | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import boltzbench, torch; print('boltzbench', boltzbench.__version__, 'torch', torch.__version__)"

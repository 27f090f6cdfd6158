#!/usr/bin/env bash
# Install what is needed and regenerate the default leaderboard into results/quick
# (a fresh run: the folder is replaced). Extra arguments go to `boltzbench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
rm -rf results/quick
.venv/bin/boltzbench run --suite quick --out results/quick --jobs 2 "$@"

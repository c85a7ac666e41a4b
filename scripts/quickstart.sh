#!/usr/bin/env bash
# OmniQ's main job on the embedded default: installs the workspace, then runs the example app
# (examples/quickstart.py) against SQLite files in a fresh directory under ./.omniq-data/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "==> running examples/quickstart.py on SQLite"
uv run --no-sync python examples/quickstart.py "$@"

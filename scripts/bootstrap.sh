#!/usr/bin/env bash
# Shared set-up for scripts/test.sh and scripts/quickstart.sh: makes sure uv exists and the
# workspace's locked environment is installed in .venv. Sourced, not run.
set -euo pipefail

export UV_PYTHON_DOWNLOADS=never       # use the machine's CPython; never download one
export UV_LINK_MODE=copy

if ! command -v uv >/dev/null 2>&1; then
    echo "==> installing uv (the workspace's package manager)"
    python3 -m pip install --quiet --disable-pip-version-check uv
fi

echo "==> installing the workspace into .venv (uv sync --locked)"
uv sync --all-packages --locked --python python3 --quiet

#!/usr/bin/env bash
# Shared set-up for scripts/test.sh: makes sure uv exists and the workspace's locked environment
# is installed in .venv. Sourced, not run. Without uv on PATH, uv is installed into a private
# virtual environment (.tools/uv-venv, never the system Python) and linked from .tools/bin.
set -euo pipefail
source scripts/system.sh

export UV_PYTHON_DOWNLOADS=never       # use the machine's CPython; never download one
export UV_LINK_MODE=copy
UV_REQUIREMENT="uv>=0.5,<1"            # reads uv.lock (revision 5) and --locked

if ! command -v uv >/dev/null 2>&1; then
    if [ ! -x .tools/bin/uv ]; then
        echo "==> installing uv (the workspace's package manager) into .tools/uv-venv"
        make_venv .tools/uv-venv
        .tools/uv-venv/bin/python -m pip install --quiet --disable-pip-version-check \
            "$UV_REQUIREMENT"
        mkdir -p .tools/bin
        ln -sf ../uv-venv/bin/uv .tools/bin/uv
    fi
    PATH="$PWD/.tools/bin:$PATH"   # only uv: the tool venv's python3 stays off PATH
    export PATH
fi

require_python
echo "==> installing the workspace into .venv (uv sync --locked)"
uv sync --all-packages --locked --python python3 --quiet

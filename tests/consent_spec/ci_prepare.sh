#!/bin/sh
# Optional CI step for tests/consent_spec: give the environment a build backend that
# can build the wheel in place (setuptools >= 71 includes bdist_wheel), so that
# test_consent_wheel.py needs no package index while it runs. Without this step the
# test still works, but pip fetches setuptools and wheel from the index for an
# isolated build. Usage: sh tests/consent_spec/ci_prepare.sh [python]
set -eu
PYTHON="${1:-python}"
"$PYTHON" -m pip install --quiet "setuptools>=71"

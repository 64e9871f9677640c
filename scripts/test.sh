#!/usr/bin/env bash
# Everything a change must pass: lint, types (mypy strict), and the test suite, which starts a
# Docker engine in Swarm mode itself when it can (see tests/support/engine.py). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PULUMI_ERROR_OUTPUT_STRING=true   # a stringified Output raises instead of rendering text
venv/bin/ruff check .
venv/bin/ruff format --check .
venv/bin/mypy
venv/bin/pytest "$@"

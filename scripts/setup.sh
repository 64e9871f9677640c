#!/usr/bin/env bash
# Create ./venv (the virtualenv Pulumi.yaml names) and install mlstack with its dev tools into it.
# Idempotent; the other scripts source it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x venv/bin/python ]; then
  python3 -m venv venv
fi
venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

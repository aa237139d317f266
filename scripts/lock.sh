#!/usr/bin/env bash
# Refresh requirements/lock.txt: the suite on the newest releases (.venv-latest/), and only if it
# passes, those exact versions become the lock that scripts/setup.sh and CI install.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .venv-latest
bash scripts/test.sh --latest -q "$@"
.venv-latest/bin/python scripts/freeze_lock.py .venv-latest > requirements/lock.txt
echo "requirements/lock.txt refreshed from .venv-latest: $(grep -c '==' requirements/lock.txt) pins"

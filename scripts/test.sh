#!/usr/bin/env bash
# The whole test suite, in a fresh or existing .venv. Extra arguments go to pytest.
source "$(dirname "$0")/setup.sh"
python -m pytest "$@"

#!/usr/bin/env bash
# The whole test suite, in a fresh or existing venv. Extra arguments go to pytest.
#   scripts/test.sh            the locked versions (requirements/lock.txt), in .venv/
#   scripts/test.sh --latest   the newest releases of every dependency, in .venv-latest/
if [[ "${1:-}" == "--latest" ]]; then
    export WORLDBUILD_LATEST=1
    shift
fi
source "$(dirname "$0")/setup.sh"
python -m pytest "$@"

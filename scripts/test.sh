#!/usr/bin/env bash
# The whole test suite, in a fresh or existing venv. Extra arguments go to pytest.
#   scripts/test.sh            the locked versions (requirements/lock.txt), in .venv/
#   scripts/test.sh --latest   the newest releases of every dependency, in .venv-latest/
# Test files run on WORLDBUILD_TEST_WORKERS processes (default 2; pytest-xdist, one file per process,
# so a file's live servers and Ray cluster stay together); 0 runs everything in this process.
if [[ "${1:-}" == "--latest" ]]; then
    export WORLDBUILD_LATEST=1
    shift
fi
source "$(dirname "$0")/setup.sh"
workers="${WORLDBUILD_TEST_WORKERS:-2}"
if [[ "$workers" == 0 ]]; then
    python -m pytest "$@"
else
    python -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder "$@"  # tests/conftest.py orders files
fi

# Sourced by the other scripts: create the venv (once) and install worldbuild into it.
#   default: the exact versions in requirements/lock.txt, the ones the suite last passed with (.venv/)
#   WORLDBUILD_LATEST=1 (scripts/test.sh --latest): the newest releases, in a separate .venv-latest/;
#   run it before refreshing the lock with scripts/lock.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
TORCH="torch==${TORCH_VERSION:-2.13.0}"
TORCH_PIN=""  # set below in --latest mode only: never one inherited from the caller
if [[ "${WORLDBUILD_LATEST:-0}" == 1 ]]; then
    VENV=.venv-latest
    # newest of everything but torch: an eager upgrade would replace its CPU build with a multi-GB CUDA one
    TORCH_PIN="$(mktemp)"
    echo "$TORCH" > "$TORCH_PIN"
    PINS=(--upgrade --upgrade-strategy eager --constraint "$TORCH_PIN")
else
    VENV=.venv
    PINS=(--constraint requirements/lock.txt)
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# torch first, pinned: its CPU build (an unpinned torch would pull a multi-GB CUDA build)
"${PIP[@]}" "$TORCH"
"${PIP[@]}" "${PINS[@]}" -e ".[test,dense,ann,milvus,fast,rl,ray,docs,mcp]"
if [[ -n "$TORCH_PIN" ]]; then
    rm -f "$TORCH_PIN"
fi
export PATH="$PWD/$VENV/bin:$PATH"

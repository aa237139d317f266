#!/usr/bin/env bash
# Regenerate docs/cli.md from the commands themselves (Typer's own `utils docs`), then build the
# site into site/ (strict: a broken link or page fails). tests/test_docs.py checks both stay current.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${VIRTUAL_ENV:-$PWD/.venv}/bin"
"$BIN/typer" worldbuild.cli utils docs --name worldbuild --title "Command line" --output docs/cli.md
"$BIN/mkdocs" build --strict --site-dir site

"""`python -m worldbuild` is the `worldbuild` command."""

from worldbuild.cli import app

if __name__ == "__main__":  # not when a search process (serve/pool.py) re-imports the main module
    app(prog_name="worldbuild")

"""`python -m worldbuild` is the `worldbuild` command."""

from worldbuild.cli import app

app(prog_name="worldbuild")

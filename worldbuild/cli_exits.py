"""How every long-running command ends on trouble: a known error prints one line and exits 2;
Ctrl-C says what was kept and how to resume, and exits 130."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console


@contextmanager
def exits_cleanly(errors: tuple[type[BaseException], ...], kept: str, console: Console) -> Iterator[None]:
    try:
        yield
    except errors as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/yellow]: {kept}")
        raise typer.Exit(130) from None

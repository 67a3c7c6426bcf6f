"""Helpers shared by CLI commands: the unit of work, the CLI's actor, error printing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from loyalist.db import unit_of_work
from loyalist.errors import DomainError
from loyalist.types import Actor

console = Console()
err_console = Console(stderr=True)
CLI_ACTOR = Actor(kind="system", id=None, name="cli", role="admin")


@contextmanager
def cli_unit_of_work() -> Iterator[Session]:
    """One transaction per command; a DomainError prints its message and exits with code 2."""
    try:
        with unit_of_work() as session:
            yield session
    except DomainError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        err_console.print(f"[red]error{where}:[/red] {exc.message}")
        raise typer.Exit(code=2) from exc

"""The `loyalist` command. Sub-commands live in sibling modules that expose `register(app)`."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from loyalist import cli as cli_pkg

app = typer.Typer(
    name="loyalist",
    help="Loyalist: customer loyalty and retention platform.",
    no_args_is_help=True,
    add_completion=False,
)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda i: i.name):
        if info.name in {"main", "common"}:
            continue
        module = importlib.import_module(f"loyalist.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_commands()

if __name__ == "__main__":
    app()

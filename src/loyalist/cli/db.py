"""`loyalist db ...`: schema migrations."""

from __future__ import annotations

import typer

from loyalist.cli.common import console


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database schema management.", no_args_is_help=True)

    @db.command("upgrade")
    def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
        """Apply migrations up to REVISION (default: head)."""
        from loyalist.db import get_engine
        from loyalist.migrate import upgrade as run_upgrade

        engine = get_engine()
        run_upgrade(engine, revision)
        console.print(f"[green]database at {revision}[/green] ({engine.url.render_as_string()})")

    @db.command("current")
    def current() -> None:
        """Print the current and head revision."""
        from loyalist.db import get_engine
        from loyalist.migrate import current_revision, head_revision

        with get_engine().connect() as conn:
            console.print(f"current: {current_revision(conn)}  head: {head_revision()}")

    app.add_typer(db, name="db")

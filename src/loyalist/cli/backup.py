"""`loyalist backup FILE` and `loyalist restore FILE` (then the ledger check)."""

from __future__ import annotations

from pathlib import Path

import typer

from loyalist.cli.common import console, err_console


def register(app: typer.Typer) -> None:
    @app.command("backup")
    def backup_cmd(file: Path = typer.Argument(..., help="Backup file to write (must not exist)")) -> None:
        """Write a consistent backup of the database (SQLite online backup, or pg_dump)."""
        from loyalist.backup import BackupError, backup
        from loyalist.config import get_settings

        try:
            result = backup(get_settings().database_url, file)
        except BackupError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=2) from exc
        console.print(f"[green]backup written[/green]: {result.path} ({result.kind}, {result.bytes:,} bytes)")

    @app.command("restore")
    def restore_cmd(file: Path = typer.Argument(..., help="Backup file made by `loyalist backup`"),
                    force: bool = typer.Option(False, "--force", help="Replace an existing SQLite file")) -> None:
        """Restore the database from FILE, then prove the ledger balances are intact.

        Stop the server and workers first. Exit code 1 if the restored ledger does not reconcile.
        """
        from loyalist.backup import BackupError, restore
        from loyalist.config import get_settings
        from loyalist.db import make_engine, make_session_factory
        from loyalist.ledger import service as ledger
        from loyalist.migrate import upgrade

        url = get_settings().database_url
        try:
            restore(url, file, force=force)
        except BackupError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=2) from exc
        engine = make_engine(url)
        try:
            upgrade(engine)  # a backup from an older release is brought to the current schema
            with make_session_factory(engine)() as session:
                report = ledger.reconcile(session)
        finally:
            engine.dispose()
        console.print(f"[green]restored[/green] {file}")
        if not report.ok:
            err_console.print(f"[red]ledger check failed after restore: {len(report.mismatches)} mismatches[/red]")
            raise typer.Exit(code=1)
        console.print(f"[green]ledger consistent[/green]: {report.accounts_checked} accounts, "
                      f"{report.entries_checked} entries, global sum {report.global_sum}")

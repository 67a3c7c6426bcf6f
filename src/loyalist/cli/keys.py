"""`loyalist keys ...`: API keys for staff tools and integrations."""

from __future__ import annotations

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console
from loyalist.staff.schemas import Role


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys (stored hashed; shown once).", no_args_is_help=True)

    @keys.command("create")
    def create(
        name: str = typer.Option(..., "--name", help="Who or what uses the key"),
        role: Role = typer.Option(..., "--role", help="admin, manager, agent, analyst, integration"),
    ) -> None:
        """Create a key and print it once."""
        from loyalist.staff import service

        with cli_unit_of_work() as session:
            created = service.create_api_key(session, name=name, role=role, actor=CLI_ACTOR)
        console.print(f"key id {created.id} ({created.role.value}): [bold]{created.key}[/bold]")
        console.print("Store it now: only its hash is kept.")

    @keys.command("list")
    def list_() -> None:
        """List keys (never their secrets)."""
        from loyalist.staff import service

        with cli_unit_of_work() as session:
            rows = service.list_api_keys(session)
        table = Table("id", "name", "prefix", "role", "created", "revoked")
        for r in rows:
            table.add_row(str(r.id), r.name, r.prefix, r.role.value, r.created_at.isoformat(timespec="seconds"),
                          r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "")
        console.print(table)

    @keys.command("revoke")
    def revoke(key_id: int) -> None:
        """Revoke a key at once."""
        from loyalist.staff import service

        with cli_unit_of_work() as session:
            service.revoke_api_key(session, key_id=key_id, actor=CLI_ACTOR)
        console.print(f"key {key_id} revoked")

    app.add_typer(keys, name="keys")

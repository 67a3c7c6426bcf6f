"""`loyalist tiers ...`: list tier definitions, show a customer's tier, run re-evaluation."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def _parse_when(value: str | None) -> datetime | None:
    if value is None:
        return None
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise typer.BadParameter("--as-of needs a timezone, e.g. 2026-01-01T00:00:00+00:00")
    return when


def register(app: typer.Typer) -> None:
    tiers = typer.Typer(help="Tiers: definitions, customer status, re-evaluation.", no_args_is_help=True)

    @tiers.command("list")
    def list_() -> None:
        """List tier definitions, lowest rank first."""
        from loyalist.tiers import service

        with cli_unit_of_work() as session:
            rows = service.list_tiers(session)
        table = Table("rank", "code", "name", "metric", "window", "threshold", "multiplier", "grace", "active")
        for t in rows:
            table.add_row(str(t.rank), t.code, t.name, t.metric, f"{t.window_days}d", str(t.threshold),
                          str(t.multiplier), f"{t.grace_days}d", "yes" if t.active else "no")
        console.print(table)

    @tiers.command("show")
    def show(customer_id: int) -> None:
        """A customer's tier, progress to the next one, and history."""
        from loyalist.tiers import service

        with cli_unit_of_work() as session:
            view = service.customer_view(session, customer_id)
        s, p = view.status, view.progress
        console.print(f"tier: {s.name} ({s.code}) since {s.since:%Y-%m-%d}" if s else "tier: none")
        if s and s.grace_until:
            console.print(f"[yellow]below threshold; grace until {s.grace_until:%Y-%m-%d}[/yellow]")
        if p.next_code:
            console.print(f"next: {p.next_code}: {p.value}/{p.next_threshold} {p.metric} "
                          f"({p.percent}%, {p.remaining} to go)")
        for c in view.history:
            console.print(f"  {c.at:%Y-%m-%d %H:%M} {c.reason}: {c.from_code or '-'} -> {c.to_code or '-'}")

    @tiers.command("reevaluate")
    def reevaluate(
        as_of: str | None = typer.Option(None, "--as-of", help="ISO instant with zone (default: now)"),
    ) -> None:
        """Re-evaluate every customer: upgrades, grace periods, downgrades after grace."""
        from loyalist.tiers import service

        with cli_unit_of_work() as session:
            result = service.reevaluate_all(session, as_of=_parse_when(as_of), actor=CLI_ACTOR)
        console.print(f"evaluated {result.evaluated}: {result.upgraded} up, {result.downgraded} down, "
                      f"{result.grace_started} grace started, {result.grace_cleared} grace cleared")

    app.add_typer(tiers, name="tiers")

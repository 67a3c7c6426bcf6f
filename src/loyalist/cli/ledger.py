"""`loyalist ledger ...`: reconciliation, expiry and liability of the points ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console, err_console


def _parse_instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date/time: {value!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:
    ledger = typer.Typer(help="Points ledger: check, expire, liability.", no_args_is_help=True)

    @ledger.command("check")
    def check() -> None:
        """Prove cached balances equal the postings; exit 1 and list mismatches otherwise."""
        from loyalist.ledger import service

        with cli_unit_of_work() as session:
            report = service.reconcile(session)
        summary = (f"{report.accounts_checked} accounts, {report.entries_checked} entries, "
                   f"{report.lots_checked} lots; global sum {report.global_sum}")
        if report.ok:
            console.print(f"[green]ledger consistent[/green]: {summary}")
            return
        table = Table("check", "subject", "expected", "actual", title="ledger mismatches")
        for m in report.mismatches:
            table.add_row(m.check, m.subject, str(m.expected), str(m.actual))
        err_console.print(table)
        err_console.print(f"[red]{len(report.mismatches)} mismatches[/red]: {summary}")
        raise typer.Exit(code=1)

    @ledger.command("expire")
    def expire(as_of: str = typer.Option(None, "--as-of", help="ISO instant (default: now; UTC if no zone)"),
               chunk: int = typer.Option(500, "--chunk", min=1, help="Customers per transaction")) -> None:
        """Expire lots due by --as-of (re-runnable: already expired lots are skipped)."""
        from loyalist import clock
        from loyalist.ledger import service

        instant = _parse_instant(as_of) or clock.now()
        count = 0
        while True:  # one transaction per chunk of customers: bounded locks, progress survives a crash
            with cli_unit_of_work() as session:
                done = service.expire_due(session, as_of=instant, actor=CLI_ACTOR, max_customers=chunk)
            count += done
            if done == 0:
                break
        with cli_unit_of_work() as session:
            released = service.release_pending(session, as_of=instant, actor=CLI_ACTOR)
        console.print(f"expired {count} lots, released {released} pending lots as of {instant.isoformat()}")

    @ledger.command("liability")
    def liability(point_value: str = typer.Option(None, "--point-value", help="Money per point (default: settings)"),
                  as_of: str = typer.Option(None, "--as-of", help="ISO instant (default: now)")) -> None:
        """Outstanding points and their money value, pending points, breakage."""
        from loyalist.config import get_settings
        from loyalist.ledger import service

        value = Decimal(point_value) if point_value is not None else get_settings().point_value
        with cli_unit_of_work() as session:
            report = service.liability(session, point_value=value, as_of=_parse_instant(as_of))
        table = Table("figure", "value", title=f"points liability as of {report.as_of.isoformat(timespec='seconds')}")
        for name in ("outstanding_points", "outstanding_value", "pending_points", "pending_value", "debt_points",
                     "issued_points", "redeemed_points", "breakage_points", "breakage_rate", "point_value"):
            table.add_row(name, str(getattr(report, name)))
        console.print(table)

    app.add_typer(ledger, name="ledger")

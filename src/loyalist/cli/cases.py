"""`loyalist cases ...`: the case queue, one case's history, the SLA breach scan, SLA policies,
holidays, and the staff recognition leaderboard."""

from __future__ import annotations

from datetime import date, datetime

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    cases = typer.Typer(help="Complaint cases, SLAs and staff flags.", no_args_is_help=True)

    @cases.command("list")
    def list_(state: str | None = typer.Option(None, help="new, acknowledged, in_progress, ..."),
              severity: str | None = typer.Option(None, help="low, normal, high, critical"),
              breached: bool = typer.Option(False, "--breached", help="Only cases past an SLA"),
              assignee: int | None = typer.Option(None, help="Staff user id"),
              limit: int = typer.Option(50, min=1, max=500)) -> None:
        """The case queue, newest first."""
        from loyalist.cases import service

        with cli_unit_of_work() as session:
            page = service.list_cases(session, state=state, severity=severity, breached=True if breached else None,
                                      assignee_id=assignee, limit=limit)
        table = Table("id", "customer", "state", "severity", "category", "assignee", "resolution due", "breached",
                      "subject")
        for c in page.items:
            due = f"{c.resolution_due_at:%Y-%m-%d %H:%M}" if c.resolution_due_at else "paused"
            table.add_row(str(c.id), str(c.customer_id or "-"), c.state, c.severity, c.category,
                          str(c.assignee_id or "-"), due, "yes" if c.breached else "", c.subject)
        console.print(table)
        console.print(f"{len(page.items)} of {page.total} case(s)")

    @cases.command("show")
    def show(case_id: int) -> None:
        """One case with its history."""
        from loyalist.cases import service

        with cli_unit_of_work() as session:
            c = service.get_case(session, case_id)
            events = service.list_events(session, case_id)
        console.print(f"Case #{c.id} [{c.state}] {c.severity} {c.category}: {c.subject}")
        console.print(f"first response due {c.first_response_due_at}, resolution due {c.resolution_due_at}, "
                      f"escalation level {c.escalation_level}")
        for e in events:
            move = f" {e.from_state or ''} -> {e.to_state}" if e.to_state else ""
            console.print(f"  {e.created_at:%Y-%m-%d %H:%M} {e.kind}{move} {e.note or ''} ({e.actor})")

    @cases.command("scan-breaches")
    def scan(as_of: datetime | None = typer.Option(None, "--as-of", help="ISO instant with timezone")) -> None:
        """Mark SLA breaches and escalate each once (re-runnable)."""
        from loyalist.cases import service

        with cli_unit_of_work() as session:
            r = service.scan_breaches(session, as_of=as_of, actor=CLI_ACTOR)
        console.print(f"{r.first_response_breaches} first-response and {r.resolution_breaches} resolution "
                      f"breach(es), {r.escalations} escalation(s)")

    @cases.command("sla")
    def sla_policies() -> None:
        """SLA policies in business minutes."""
        from loyalist.cases import service

        with cli_unit_of_work() as session:
            rows = service.list_sla_policies(session)
        table = Table("policy", "first response (min)", "resolution (min)", "configured")
        for p in rows:
            table.add_row(p.name, str(p.first_response_minutes), str(p.resolution_minutes),
                          "yes" if p.configured else "default")
        console.print(table)

    @cases.command("set-sla")
    def set_sla(name: str, first_response_minutes: int, resolution_minutes: int) -> None:
        """Set a policy's budgets (business minutes)."""
        from loyalist.cases import service
        from loyalist.cases.schemas import SlaPolicyIn

        with cli_unit_of_work() as session:
            p = service.set_sla_policy(session, name=name, actor=CLI_ACTOR, data=SlaPolicyIn(
                first_response_minutes=first_response_minutes, resolution_minutes=resolution_minutes))
        console.print(f"{p.name}: first response {p.first_response_minutes} min, resolution "
                      f"{p.resolution_minutes} min")

    @cases.command("add-holiday")
    def add_holiday(day: str, name: str) -> None:
        """A day without business hours (YYYY-MM-DD)."""
        from loyalist.cases import service
        from loyalist.cases.schemas import HolidayIn

        try:
            parsed = date.fromisoformat(day)
        except ValueError as exc:
            raise typer.BadParameter("expected YYYY-MM-DD", param_hint="day") from exc
        with cli_unit_of_work() as session:
            service.add_holiday(session, data=HolidayIn(day=parsed, name=name), actor=CLI_ACTOR)
        console.print(f"{parsed.isoformat()} ({name}) is a holiday")

    @cases.command("leaderboard")
    def leaderboard(period: str | None = typer.Option(None, help="YYYY-MM (default: this month)")) -> None:
        """Staff recognition points for confirmed unhappy-customer flags."""
        from loyalist.cases import service

        with cli_unit_of_work() as session:
            rows = service.leaderboard(session, period=period)
        table = Table("#", "staff", "points", "confirmed flags")
        for i, r in enumerate(rows, 1):
            table.add_row(str(i), r.name, str(r.points), str(r.confirmed_flags))
        console.print(table)

    app.add_typer(cases, name="cases")

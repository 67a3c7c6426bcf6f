"""`loyalist automations ...`: list, create (from a JSON file), dry-run, run, enable/disable,
run history, holidays."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console, err_console


def _as_of(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)


def register(app: typer.Typer) -> None:
    autos = typer.Typer(help="Automations: trigger -> conditions -> actions.", no_args_is_help=True)

    @autos.command("list")
    def list_() -> None:
        """Every automation with its trigger and state."""
        from loyalist.automation import service

        with cli_unit_of_work() as session:
            rows = service.list_automations(session)
        table = Table("id", "name", "trigger", "actions", "enabled", "max/day")
        for a in rows:
            table.add_row(str(a.id), a.name, a.trigger.type, ", ".join(x.type for x in a.actions),
                          "yes" if a.enabled else "no", str(a.max_runs_per_day or "-"))
        console.print(table)

    @autos.command("create")
    def create(definition: Path = typer.Argument(..., help="JSON file: name, trigger, conditions, actions")) -> None:
        """Create an automation from a JSON definition (see docs/automation.md)."""
        from pydantic import ValidationError

        from loyalist.automation import service
        from loyalist.automation.schemas import AutomationCreate

        try:
            data = AutomationCreate.model_validate(json.loads(definition.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=2) from exc
        with cli_unit_of_work() as session:
            a = service.create_automation(session, data=data, actor=CLI_ACTOR)
        console.print(f"[green]automation {a.id} created[/green] ({a.trigger.type})")

    @autos.command("dry-run")
    def dry_run(automation_id: int, as_of: datetime | None = typer.Option(None, help="Evaluate at (UTC)"),
                limit: int = typer.Option(20)) -> None:
        """Who would be affected now; writes nothing."""
        from loyalist.automation import service

        with cli_unit_of_work() as session:
            result = service.dry_run(session, automation_id=automation_id, as_of=_as_of(as_of), limit=limit)
        table = Table("customer", "instance", "facts")
        for c in result.customers:
            table.add_row(str(c.customer_id), c.instance_key, json.dumps(c.data, ensure_ascii=False))
        console.print(table)
        console.print(f"{result.count} customer(s) would be affected; {result.already_ran} already ran, "
                      f"{result.excluded_by_conditions} excluded by conditions")

    @autos.command("run")
    def run(automation_id: int | None = typer.Argument(None, help="One automation; all when omitted"),
            as_of: datetime | None = typer.Option(None, help="Evaluate at (UTC)")) -> None:
        """Run now (idempotent: instances that already ran are skipped); also runs due delayed actions."""
        from loyalist.automation import service
        from loyalist.automation.schemas import DATE_TRIGGERS, EVENT_TRIGGERS

        with cli_unit_of_work() as session:
            if automation_id is None:
                result = service.run_all(session, kinds=DATE_TRIGGERS | EVENT_TRIGGERS, as_of=_as_of(as_of))
            else:
                result = service.run_automation(session, automation_id=automation_id, actor=CLI_ACTOR,
                                                as_of=_as_of(as_of))
            due = service.run_due_actions(session, as_of=_as_of(as_of))
        console.print(f"{result.runs_started} run(s) started, {result.already_ran} already ran, "
                      f"{result.excluded_by_conditions} excluded, {result.rate_limited} rate-limited; "
                      f"actions: {result.actions_done + due.actions_done} done, "
                      f"{result.actions_failed + due.actions_failed} failed, {result.actions_scheduled} scheduled")

    @autos.command("enable")
    def enable(automation_id: int) -> None:
        from loyalist.automation import service

        with cli_unit_of_work() as session:
            service.set_enabled(session, automation_id=automation_id, enabled=True, actor=CLI_ACTOR)
        console.print(f"automation {automation_id} enabled")

    @autos.command("disable")
    def disable(automation_id: int) -> None:
        from loyalist.automation import service

        with cli_unit_of_work() as session:
            service.set_enabled(session, automation_id=automation_id, enabled=False, actor=CLI_ACTOR)
        console.print(f"automation {automation_id} disabled")

    @autos.command("runs")
    def runs(automation_id: int, limit: int = typer.Option(20)) -> None:
        """Run history with the outcome of each action."""
        from loyalist.automation import service

        with cli_unit_of_work() as session:
            page = service.list_runs(session, automation_id=automation_id, limit=limit)
        table = Table("run", "customer", "instance", "status", "actions")
        for r in page.items:
            table.add_row(str(r.id), str(r.customer_id), r.instance_key, r.status,
                          ", ".join(f"{a.type}:{a.status}" for a in r.actions))
        console.print(table)
        console.print(f"{page.total} run(s)")

    @autos.command("add-holiday")
    def add_holiday(code: str, name: str, day: datetime = typer.Argument(..., formats=["%Y-%m-%d"])) -> None:
        """Add a dated holiday to the calendar (one row per year)."""
        from loyalist.automation import service
        from loyalist.automation.schemas import HolidayCreate

        the_day: date = day.date()
        with cli_unit_of_work() as session:
            h = service.add_holiday(session, data=HolidayCreate(code=code, name=name, day=the_day), actor=CLI_ACTOR)
        console.print(f"holiday {h.code} on {h.day.isoformat()} added")

    app.add_typer(autos, name="automations")

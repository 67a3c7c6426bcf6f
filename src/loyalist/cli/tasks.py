"""`loyalist tasks ...`: a staff member's task list, create, complete with an outcome."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    tasks = typer.Typer(help="Staff tasks (call, write, greet...).", no_args_is_help=True)

    @tasks.command("list")
    def list_(assignee: int | None = typer.Option(None, help="Staff id (default: everyone)"),
              status: str | None = typer.Option("open", help="open | done | cancelled"),
              overdue: bool = typer.Option(False, "--overdue", help="Only overdue tasks"),
              customer: int | None = typer.Option(None, help="Only this customer's tasks"),
              limit: int = typer.Option(50)) -> None:
        """List tasks, nearest due date first."""
        from loyalist.tasks import service

        with cli_unit_of_work() as session:
            page = service.list_tasks(session, assignee_id=assignee, status=status, customer_id=customer,
                                      overdue=True if overdue else None, limit=limit)
        table = Table("id", "kind", "title", "customer", "assignee", "due", "status")
        for t in page.items:
            due = "-" if t.due_at is None else f"{t.due_at:%Y-%m-%d %H:%M}"
            table.add_row(str(t.id), t.kind, t.title, str(t.customer_id or "-"), str(t.assignee_id or "-"),
                          f"[red]{due} overdue[/red]" if t.overdue else due, t.status)
        console.print(table)
        console.print(f"{page.total} task(s)")

    @tasks.command("create")
    def create(kind: str, title: str, customer: int | None = typer.Option(None),
               assignee: int | None = typer.Option(None),
               due: datetime | None = typer.Option(None, help="Due time (UTC), e.g. 2026-12-01T10:00"),
               note: str | None = typer.Option(None)) -> None:
        """Create a task."""
        from datetime import UTC

        from loyalist.tasks import service

        with cli_unit_of_work() as session:
            t = service.create_task(session, kind=kind, title=title, customer_id=customer, assignee_id=assignee,
                                    due_at=None if due is None else due.replace(tzinfo=due.tzinfo or UTC),
                                    actor=CLI_ACTOR, note=note, source_type="cli")
        console.print(f"[green]task {t.id} created[/green]")

    @tasks.command("complete")
    def complete(task_id: int, outcome: str, note: str | None = typer.Option(None)) -> None:
        """Close a task with its outcome (recorded on the customer's timeline)."""
        from loyalist.tasks import service

        with cli_unit_of_work() as session:
            t = service.complete_task(session, task_id=task_id, outcome=outcome, note=note, actor=CLI_ACTOR)
        console.print(f"[green]task {t.id} done: {t.outcome}[/green]")

    @tasks.command("cancel")
    def cancel(task_id: int, reason: str | None = typer.Option(None)) -> None:
        """Withdraw an open task."""
        from loyalist.tasks import service

        with cli_unit_of_work() as session:
            t = service.cancel_task(session, task_id=task_id, actor=CLI_ACTOR, reason=reason)
        console.print(f"task {t.id} cancelled")

    app.add_typer(tasks, name="tasks")

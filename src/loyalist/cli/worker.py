"""`loyalist worker`: deliver the outbox and run every domain's scheduled jobs, until stopped.

SIGTERM/SIGINT finish the message in hand (it is acknowledged) and exit; whatever was claimed
but not started is picked up by another worker when its lease runs out.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import typer
from rich.table import Table

from loyalist.cli.common import console


def _print_report(report: Any) -> None:
    d = report.delivery
    ran = {name: o for name, o in report.jobs.items() if o.status in ("ok", "failed")}
    if not report.busy:
        return
    parts = [f"claimed {d.claimed}", f"[green]sent {d.sent}[/green]"]
    for label, value in (("retry", d.retried), ("deferred", d.deferred), ("skipped", d.skipped),
                         ("suppressed", d.suppressed), ("failed", d.failed), ("dead", d.dead)):
        if value:
            parts.append(f"{label} {value}")
    console.log("outbox: " + ", ".join(parts))
    for name, outcome in ran.items():
        style = "green" if outcome.status == "ok" else "red"
        detail = outcome.error if outcome.error else outcome.result
        console.log(f"job [bold]{name}[/bold]: [{style}]{outcome.status}[/{style}] {detail}")


def register(app: typer.Typer) -> None:
    worker = typer.Typer(help="Background worker: outbox delivery and scheduled jobs.", invoke_without_command=True)

    @worker.callback()
    def run(ctx: typer.Context,
            once: bool = typer.Option(False, "--once", help="One pass, then exit"),
            interval: float = typer.Option(5.0, "--interval", min=0.1, help="Seconds between passes when idle"),
            batch: int = typer.Option(100, "--batch", min=1, max=10_000, help="Messages claimed at a time"),
            worker_id: str | None = typer.Option(None, "--id", help="Name of this worker (default host:pid)")) -> None:
        """Run the worker loop (or one pass with --once)."""
        if ctx.invoked_subcommand is not None:
            return
        from loyalist.config import check_production_ready, get_settings
        from loyalist.db import get_engine
        from loyalist.worker import default_worker_id, run_forever, run_once

        try:  # the worker signs links and webhooks with the secret
            check_production_ready(get_settings())
        except ValueError as exc:
            console.print(f"[red]refusing to start:[/red] {exc}")
            raise typer.Exit(code=2) from exc

        engine = get_engine()
        name = worker_id or default_worker_id()
        if once:
            report = run_once(engine, worker_id=name, batch=batch)
            _print_report(report)
            d = report.delivery
            console.print(f"one pass: {d.sent} sent, {d.retried} to retry, {d.failed + d.dead} failed, "
                          f"{len([o for o in report.jobs.values() if o.status == 'ok'])} job(s) ran")
            return
        stop = threading.Event()

        def _stop(signum: int, _frame: Any) -> None:
            console.log(f"{signal.Signals(signum).name}: finishing the current message, then stopping")
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        console.log(f"worker [bold]{name}[/bold] started (batch {batch}, interval {interval:g}s)")
        run_forever(engine, interval=interval, batch=batch, worker_id=name, stop=stop, on_pass=_print_report)
        console.log("worker stopped")

    @worker.command("jobs")
    def jobs() -> None:
        """The scheduled jobs: interval, last run, next due, lease holder."""
        from loyalist.db import get_engine
        from loyalist.worker.jobs import discover_jobs, job_states

        states = {row.name: row for row in job_states(get_engine())}
        table = Table("job", "every", "last status", "last finished", "next due", "lease")
        for name, (_fn, interval) in sorted(discover_jobs().items()):
            row = states.get(name)
            table.add_row(name, f"{interval // 60} min", (row.last_status or "-") if row else "never",
                          f"{row.last_finished_at:%Y-%m-%d %H:%M}" if row and row.last_finished_at else "-",
                          f"{row.next_due_at:%Y-%m-%d %H:%M}" if row and row.next_due_at else "now",
                          (row.lease_owner or "-") if row else "-")
        console.print(table)

    app.add_typer(worker, name="worker")

"""`loyalist import events FILE.csv|.parquet`: bulk event import, one transaction.

Columns (header names; one row per purchase line, rows of one event share source +
idempotency_key and must agree on the event-level columns):

  event_type*        purchase | return | refund | review | referral | promotion |
                     survey_completed | birthday | any custom name ([a-z][a-z0-9_.-]*)
  idempotency_key*   unique per source; re-importing the same file replays, never re-credits
  source             default "import"
  customer_external_id | customer_id   (external ids unknown yet are created as customers)
  occurred_at*       ISO-8601 with a zone, e.g. 2026-03-01T10:00:00Z
  order_ref          purchases and returns
  currency store channel net_amount discount_amount
  amount             partial return by amount (returns without lines/amount are full)
  sku category quantity unit_price discount     one purchase (or returned) line
  referred_external_id                          referral: the new customer
  data               JSON object (kept with the event)

A malformed line stops the import with "line N, column C: ..." and nothing is written.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loyalist.cli.common import CLI_ACTOR, cli_unit_of_work, console


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Bulk imports.", no_args_is_help=True)

    @group.command("events")
    def events(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet file"),
        chunk_size: int = typer.Option(20_000, help="Events per set-based write"),
    ) -> None:
        """Import events (purchases, returns, reviews, referrals, ...) with their points."""
        from loyalist.events import bulk

        started = time.perf_counter()
        with cli_unit_of_work() as session:
            columns, first_line = bulk.read_file(file)
            with Progress(TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, transient=True) as bar:
                task = bar.add_task("events", total=None)

                def _progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                report = bulk.import_events(session, columns=columns, actor=CLI_ACTOR, first_line=first_line,
                                            chunk_size=chunk_size, progress=_progress)
        seconds = time.perf_counter() - started
        rate = report.events / seconds if seconds > 0 else 0.0
        console.print(
            f"[green]imported[/green] {report.rows} rows -> {report.events} events: "
            f"new {report.created}, replayed {report.replayed}, customers created {report.customers_created}, "
            f"points {report.points} in {seconds:.1f}s ({rate:,.0f} events/s)")

    app.add_typer(group, name="import")

"""`loyalist analyze`: retention analytics on a transactions file or on the operational database.

Writes report.html (self-contained), customers.csv / customers.parquet (per-customer scores) and
summary.json into --out. Input problems are printed by name (column, rows) with exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loyalist.cli.common import console, err_console

__all__ = ["register", "analyze_command", "database_table", "database_side_table"]


def database_table(url: str) -> tuple[Any, Any]:
    """Ibis connection to the operational database and the normalised `purchases` expression.

    Value of a purchase = net_amount - refunded_amount (refunds reduce the purchase, they are not
    separate negative rows in this table).
    """
    import ibis
    from sqlalchemy.engine import make_url

    from loyalist.analytics.errors import AnalyticsInputError

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise AnalyticsInputError("--from-db needs a file database; LOYALIST_DATABASE_URL points at memory")
        if not Path(parsed.database).exists():
            raise AnalyticsInputError(f"database file {parsed.database} does not exist")
        con = ibis.sqlite.connect(parsed.database)
    elif backend == "postgresql":
        con = ibis.postgres.connect(user=parsed.username, password=parsed.password, host=parsed.host or "localhost",
                                    port=parsed.port or 5432, database=parsed.database)
        # Days and months are UTC days/months: casting timestamptz to timestamp uses the session zone.
        con.raw_sql("SET TIME ZONE 'UTC'")
    else:
        raise AnalyticsInputError(f"--from-db supports SQLite and PostgreSQL, not {backend}")
    if "purchases" not in con.list_tables():
        raise AnalyticsInputError("the database has no `purchases` table (run `loyalist db upgrade`?)")
    t = con.table("purchases")
    expr = t.select(customer_id=t.customer_id, occurred_at=t.occurred_at.cast("timestamp"),
                    amount=t.net_amount.cast("float64") - t.refunded_amount.cast("float64"))
    return con, expr


def database_side_table(url: str, as_of: str | None) -> Any:
    """The churn model's dated side table (points postings, cases, NPS answers, enrolment,
    inbound interactions) read from the operational database up to the end of day `as_of`
    (default: now), through `scores.service.churn_side_table`.

    Read-only: SQLite is opened with mode=ro (no write lock, unlike the application's engine,
    which begins every transaction IMMEDIATE), PostgreSQL with default_transaction_read_only.
    The rows come from one statement, so they are one consistent snapshot."""
    from datetime import UTC, datetime, timedelta

    import pandas as pd
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from loyalist import clock
    from loyalist.analytics.errors import AnalyticsInputError
    from loyalist.scores import service as scores

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "").resolve()
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    else:
        engine = create_engine(parsed, connect_args={"options": "-c default_transaction_read_only=on"})
    if as_of:
        try:
            day = pd.Timestamp(as_of)
        except ValueError as exc:
            raise AnalyticsInputError(f"--as-of: {as_of!r} is not a date (use YYYY-MM-DD)") from exc
        until = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) - timedelta(microseconds=1)
    else:
        until = clock.now()
    try:
        with Session(engine) as session:
            return scores.churn_side_table(session, as_of=until)
    finally:
        engine.dispose()


def analyze_command(
    transactions: Annotated[Path | None, typer.Argument(help="CSV or Parquet file of transactions")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory for report.html, customers.csv/.parquet, "
                                      "summary.json")] = Path("loyalist-report"),
    customers: Annotated[Path | None, typer.Option(help="Customer snapshot: id, member flag, numeric columns "
                                                   "(churn features only if named by --static-columns)")] = None,
    feedback: Annotated[Path | None, typer.Option(help="NPS answers: customer id, date, score 0-10")] = None,
    events: Annotated[Path | None, typer.Option(help="Dated side table: customer id, date, kind (points, "
                                                "complaint, engagement, nps, enrolled), value; churn features "
                                                "as of each cut. With --from-db added to the database's")] = None,
    static_columns: Annotated[str | None, typer.Option(help="Comma-separated --customers columns that never "
                                                       "change (used by the churn model; the others are left "
                                                       "out: a snapshot leaks later values into training)")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Observation end date (default: last "
                                              "transaction)")] = None,
    from_db: Annotated[bool, typer.Option("--from-db", help="Read `purchases` from LOYALIST_DATABASE_URL")] = False,
    database_url: Annotated[str | None, typer.Option(help="Override LOYALIST_DATABASE_URL for --from-db")] = None,
    customer_col: Annotated[str | None, typer.Option(help="Customer id column")] = None,
    date_col: Annotated[str | None, typer.Option(help="Date/time column")] = None,
    value_col: Annotated[str | None, typer.Option(help="Amount column (negative = return)")] = None,
    order_col: Annotated[str | None, typer.Option(help="Order id column")] = None,
    quantity_col: Annotated[str | None, typer.Option(help="Quantity column")] = None,
    member_col: Annotated[str | None, typer.Option(help="Member flag column")] = None,
    names: Annotated[str | None, typer.Option(help="Comma-separated column names for a file without header")] = None,
    date_format: Annotated[str | None, typer.Option(help="strptime format of the dates, e.g. %d/%m/%Y")] = None,
    model: Annotated[str, typer.Option(help="Transaction model: bgnbd, paretonbd or mbgnbd")] = "bgnbd",
    horizon_months: Annotated[int, typer.Option(help="Predictive CLV horizon in months")] = 12,
    discount_rate: Annotated[float, typer.Option(help="Annual discount rate for CLV (0.10 = 10%)")] = 0.10,
    churn_horizon_days: Annotated[int, typer.Option(help="Churn = no purchase within this many days")] = 90,
    holdout_days: Annotated[int | None, typer.Option(help="Holdout length for model diagnostics")] = None,
    calibration_end: Annotated[str | None, typer.Option(help="End of the calibration period for model "
                                                        "diagnostics (instead of --holdout-days)")] = None,
    compare_from: Annotated[str | None, typer.Option("--compare-from", help="RFM segment movement from this date "
                                                     "to --as-of (default: 90 days earlier)")] = None,
    discrete_period: Annotated[str | None, typer.Option(help="Also fit BG/BB on purchases per month/quarter/"
                                                        "year")] = None,
    charts: Annotated[bool, typer.Option("--charts/--no-charts", help="Draw charts in the report")] = True,
    threads: Annotated[int | None, typer.Option(help="DuckDB threads")] = None,
    memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit, e.g. 3GB")] = None,
) -> None:
    """Who stays, who is leaving, what each customer is worth: the retention report."""
    import pandas as pd
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from loyalist.analytics.errors import AnalyticsInputError
    from loyalist.analytics.io import (
        customer_column_name,
        load_customers,
        load_events,
        load_feedback,
        load_transactions,
    )
    from loyalist.analytics.pipeline import AnalysisSettings, analyze, write_outputs

    if (transactions is None) == (not from_db):
        err_console.print("[red]error:[/red] give a TRANSACTIONS file or --from-db (exactly one)")
        raise typer.Exit(code=2)
    settings = AnalysisSettings(observation_end=as_of, model=model, horizon_months=horizon_months,
                                annual_discount_rate=discount_rate, churn_horizon_days=churn_horizon_days,
                                holdout_days=holdout_days, calibration_end=calibration_end,
                                compare_from=compare_from, discrete_period=discrete_period)
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=err_console, transient=False) as progress:
            task = progress.add_task("reading input", total=None)

            def step(name: str) -> None:
                progress.update(task, description=name)

            report = None
            side = []
            if from_db:
                from loyalist.config import Settings

                url = database_url or Settings().database_url
                _, table = database_table(url)
                step("reading points, cases, NPS, interactions")
                side.append(database_side_table(url, as_of))
                kw = {"customer_col": "customer_id", "date_col": "occurred_at", "value_col": "amount"}
            else:
                assert transactions is not None
                loaded = load_transactions(
                    transactions, customer_col=customer_col, date_col=date_col, value_col=value_col,
                    order_col=order_col, quantity_col=quantity_col, member_col=member_col,
                    names=[n.strip() for n in names.split(",")] if names else None, date_format=date_format,
                    threads=threads, memory_limit=memory_limit)
                table, report = loaded.table, loaded.report
                kw = {"customer_col": "customer_id", "date_col": "occurred_at", "value_col": "amount"}
            cust = load_customers(customers) if customers else None
            fb = load_feedback(feedback) if feedback else None
            if events:
                side.append(load_events(events))
            side = [frame for frame in side if not frame.empty]
            ev = None if not side else side[0] if len(side) == 1 else pd.concat(side, ignore_index=True)
            statics = ([customer_column_name(c.strip()) for c in static_columns.split(",") if c.strip()]
                       if static_columns else None)
            analysis = analyze(table, customers=cust, feedback=fb, events=ev, static_columns=statics,
                               settings=settings, input_report=report, progress=step, **kw)
            step("writing report")
            paths = write_outputs(analysis, out, charts=charts)
            progress.update(task, description="done")
    except AnalyticsInputError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=2) from exc
    if report is not None:
        for warning in report.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {warning}")
    for note in analysis.notes:
        err_console.print(f"[yellow]note:[/yellow] {note}")
    k = analysis.kpis
    console.print(f"{k['customers']:,} customers, {k['active_customers_365d']:,} active in the last 365 days, "
                  f"repeat-purchase rate {100 * k['repeat_purchase_rate']:.1f}%")
    for kind, path in paths.items():
        console.print(f"  {kind:8s} {path}")


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)

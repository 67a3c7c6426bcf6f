"""`loyalist demo`: a demo business on SQLite, then the server. The README's first command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loyalist.cli.common import console
from loyalist.demo.timing import PhaseTimer


def _timings_table(timer: PhaseTimer) -> Table:
    table = Table("phase", "seconds", "share", "CPU seconds", "SQL statements", title="Demo generation by phase")
    total = timer.total_seconds or 1.0
    for p in timer.phases.values():
        table.add_row(p.name, f"{p.seconds:.2f}", f"{100 * p.seconds / total:.0f}%", f"{p.cpu_seconds:.2f}",
                      f"{p.statements:,}")
    table.add_row("total", f"{timer.total_seconds:.2f}", "100%", f"{timer.total_cpu_seconds:.2f}",
                  f"{timer.total_statements:,}", style="bold")
    return table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        database: Path = typer.Option(Path("loyalist-demo.db"), help="SQLite file for the demo (recreated)"),
        customers: int = typer.Option(5000, min=10, help="How many demo customers"),
        seed: int = typer.Option(42, help="Random seed (same seed, same business)"),
        host: str = typer.Option("127.0.0.1", help="Interface to bind"),
        port: int = typer.Option(8000, help="TCP port"),
        serve: bool = typer.Option(True, help="Start the server after generating"),
        timings: bool = typer.Option(False, help="Print the time and SQL statements each phase took"),
    ) -> None:
        """Create a realistic demo shop (customers, purchases, points, tiers, rewards) and serve it."""
        from loyalist import config, db
        from loyalist.demo.generate import generate_demo
        from loyalist.migrate import upgrade

        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{database.resolve()}"
        os.environ["LOYALIST_DATABASE_URL"] = url
        os.environ["LOYALIST_DEMO_MODE"] = "true"
        config.get_settings.cache_clear()
        engine = db.make_engine(url)
        db.set_engine(engine)
        timer = PhaseTimer()
        with timer.counting(engine), timer.phase("schema"):
            upgrade(engine)

        started = time.perf_counter()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total or None)
                bar.update(tasks[stage], completed=done, total=total or None)

            # one unit of work, as `db.unit_of_work`, with the commit measured as a phase of its own
            with timer.counting(engine), db.get_session_factory()() as session:
                try:
                    summary = generate_demo(session, customers_count=customers, seed=seed, progress=progress,
                                            phase=timer.phase)
                    with timer.phase("commit"):
                        session.commit()
                except BaseException:
                    session.rollback()
                    raise
        seconds = time.perf_counter() - started

        console.print(f"[green]demo business ready[/green] in {seconds:.1f} s: {summary.customers} customers, "
                      f"{summary.purchases} purchases, {summary.points_earned} points earned, "
                      f"{summary.redemptions} redemptions, {summary.returns} returns -> {database}")
        story = summary.story
        cases_by_state = ", ".join(f"{n} {state}" for state, n in sorted(story.cases.items()))
        console.print(f"  listening: {story.survey_answers} NPS answers, {story.exit_interviews} exit interviews, "
                      f"{story.invitations} open survey invitations, {story.mentions} web reviews, "
                      f"{sum(story.cases.values())} complaint cases ({cases_by_state}), {story.flags} staff flags")
        console.print(f"  acting: {story.segments} segments, {story.offers_issued} personal offers, "
                      f"a win-back campaign with {story.campaign_members} customers (20% control), "
                      f"{story.automations} automations, {story.tasks} staff tasks")
        if timings:
            console.print(_timings_table(timer))
        keys = Table("role", "API key (send as 'Authorization: Bearer <key>')", title="Demo API keys")
        for role, key in summary.api_keys.items():
            keys.add_row(role, key)
        console.print(keys)
        logins = Table("staff login", "password", title="Demo staff logins")
        for email, password in summary.staff_logins.items():
            logins.add_row(email, password)
        console.print(logins)
        if not serve:
            return
        import uvicorn

        from loyalist.api.app import create_app, warm_dashboard
        from loyalist.runtime import settle_heap

        base = f"http://{host}:{port}"
        console.print(f"Staff console:   {base}/console   (log in with a staff login above)")
        console.print(f"Customer portal: {base}/portal    (sign in as customer0@demo.loyalist.example; "
                      "demo mode shows the one-time code on screen)")
        console.print(f"API:             {base}/v1   docs: {base}/docs   metrics: {base}/metrics   (Ctrl+C stops)")
        settings = config.get_settings()
        app = create_app(settings, engine=engine)
        if settings.warm_dashboard:
            warm_dashboard(app)
        settle_heap()
        uvicorn.run(app, host=host, port=port, log_level="info")

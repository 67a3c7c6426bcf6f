"""`loyalist demo`: a demo business on SQLite, then the server. The README's first command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loyalist.cli.common import console


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        database: Path = typer.Option(Path("loyalist-demo.db"), help="SQLite file for the demo (recreated)"),
        customers: int = typer.Option(5000, min=10, help="How many demo customers"),
        seed: int = typer.Option(42, help="Random seed (same seed, same business)"),
        host: str = typer.Option("127.0.0.1", help="Interface to bind"),
        port: int = typer.Option(8000, help="TCP port"),
        serve: bool = typer.Option(True, help="Start the server after generating"),
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
        upgrade(engine)

        started = time.perf_counter()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            tasks: dict[str, int] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total or None)
                bar.update(tasks[stage], completed=done, total=total or None)

            with db.unit_of_work() as session:
                summary = generate_demo(session, customers_count=customers, seed=seed, progress=progress)
        seconds = time.perf_counter() - started

        console.print(f"[green]demo business ready[/green] in {seconds:.1f} s: {summary.customers} customers, "
                      f"{summary.purchases} purchases, {summary.points_earned} points earned, "
                      f"{summary.redemptions} redemptions, {summary.returns} returns -> {database}")
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

        from loyalist.api.app import create_app

        console.print(f"API:  http://{host}:{port}/v1   docs: http://{host}:{port}/docs   (Ctrl+C stops)")
        uvicorn.run(create_app(config.get_settings(), engine=engine), host=host, port=port, log_level="info")

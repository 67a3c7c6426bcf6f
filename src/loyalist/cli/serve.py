"""`loyalist serve`: the API server (uvicorn)."""

from __future__ import annotations

import typer

from loyalist.cli.common import console


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind"),
        port: int = typer.Option(8000, help="TCP port"),
        workers: int = typer.Option(1, help="uvicorn worker processes"),
    ) -> None:
        """Start the API. A fresh SQLite database is migrated first."""
        import uvicorn

        from loyalist.config import get_settings
        from loyalist.db import get_engine
        from loyalist.migrate import upgrade

        settings = get_settings()
        if settings.database_url.startswith("sqlite"):
            upgrade(get_engine())
        console.print(f"Loyalist API on http://{host}:{port}  (docs: /docs)")
        uvicorn.run("loyalist.api.asgi:app", host=host, port=port, workers=workers, log_level="info")

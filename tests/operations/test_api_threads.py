"""`LOYALIST_API_THREADS` sizes the thread pool that runs the synchronous endpoints."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient

from loyalist.api.app import create_app
from loyalist.config import Settings


def _tokens() -> float:
    return anyio.to_thread.current_default_thread_limiter().total_tokens


def test_the_server_runs_endpoints_on_the_configured_number_of_threads(tmp_path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'threads.db'}", api_threads=3))
    with TestClient(app) as client:
        assert client.portal is not None
        assert client.portal.call(_tokens) == 3
        assert client.get("/healthz").status_code == 200


def test_the_default_keeps_anyios_forty_threads() -> None:
    assert Settings(database_url="sqlite://").api_threads == 40

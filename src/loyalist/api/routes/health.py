"""Liveness and readiness probes (public)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    from loyalist.migrate import current_revision, head_revision

    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = current_revision(conn)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        return JSONResponse(status_code=503, content={"status": "unavailable", "reason": type(exc).__name__})
    head = head_revision()
    if current != head:
        return JSONResponse(status_code=503, content={"status": "migrations_pending",
                                                      "current": current, "head": head})
    return JSONResponse(content={"status": "ready", "revision": current})

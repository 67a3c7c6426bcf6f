"""The one place that maps DomainErrors to HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from loyalist.errors import DomainError


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(status_code=exc.status_code, content={"error": exc.to_dict()},
                            headers=headers)

    @app.exception_handler(OperationalError)
    async def _database_away(_request: Request, exc: OperationalError) -> JSONResponse:
        # The database being unreachable or locked is a temporary condition, not a bug.
        return JSONResponse(
            status_code=503,
            content={"error": {"code": "database_unavailable", "message": "database unavailable, retry"}},
            headers={"Retry-After": "1"},
        )

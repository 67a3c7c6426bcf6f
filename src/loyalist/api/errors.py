"""The one place that maps DomainErrors to HTTP responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from loyalist.errors import DomainError


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if exc.status_code == 429:
            headers = {"Retry-After": str(exc.details.get("retry_after", 60))}
        return JSONResponse(status_code=exc.status_code, content={"error": exc.to_dict()},
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # One error shape for the whole API: request-parsing failures look like domain ones,
        # with `field` naming the first offending input (dotted, e.g. "lines.0.quantity").
        problems = [_problem(e) for e in exc.errors()]
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        body = {"code": "validation_failed", "message": f"{first['field']}: {first['message']}",
                "field": first["field"], "details": {"errors": problems}}
        return JSONResponse(status_code=422, content={"error": body})

    @app.exception_handler(OperationalError)
    async def _database_away(_request: Request, exc: OperationalError) -> JSONResponse:
        # The database being unreachable or locked is a temporary condition, not a bug.
        return JSONResponse(
            status_code=503,
            content={"error": {"code": "database_unavailable", "message": "database unavailable, retry"}},
            headers={"Retry-After": "1"},
        )


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] in {"body", "query", "path", "header", "cookie"}:
        where, location = location[0], location[1:]
    else:
        where = "body"
    return {"field": ".".join(location) or where, "in": where, "message": str(error.get("msg", "invalid"))}

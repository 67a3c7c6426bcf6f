"""The FastAPI application factory.

Routers are discovered from `loyalist.api.routes.*` (each module exposes `router`), so a domain
adds its endpoints without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine

import loyalist
from loyalist.api import routes as routes_pkg
from loyalist.api.errors import install_error_handlers
from loyalist.api.observability import observe
from loyalist.audit.service import current_request_id
from loyalist.config import Settings, get_settings
from loyalist.db import make_engine, make_session_factory
from loyalist.types import MAX_ROW_ID

# A client's X-Request-ID is kept only if it is short and plain (it ends up in logs and audit rows).
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Endpoints that need no credentials; everything else must declare a permission.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                          "/redoc"})
# Whole trees that do their own authentication (signed tokens, console and portal sessions):
# public survey answering, one-click unsubscribe, the staff console and the customer portal.
PUBLIC_PREFIXES: tuple[str, ...] = ("/v1/public/", "/console", "/portal")


# The databases' integers are 64-bit: a larger number in a query string (an offset, an id) would
# fail inside the driver (PostgreSQL "bigint out of range", SQLite OverflowError) as a 500.
_INTEGER = re.compile(r"[+-]?\d+")
_INT64_MAX = MAX_ROW_ID


def _path_id_beyond_bigint(path: str) -> bool:
    """True when a numeric path segment (an id) is larger than any BIGINT row id."""
    return any(segment.isdigit() and len(segment) >= 19 and int(segment) > _INT64_MAX for segment in path.split("/"))


def _refused_query_parameter(request: Request) -> tuple[str, str] | None:
    """(name, reason) of the first query parameter no database could take, else None."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:  # PostgreSQL text refuses NUL
            return name, "must not contain NUL characters"
        if _INTEGER.fullmatch(value.strip()) and abs(int(value)) > _INT64_MAX:
            return name, f"must be between {-_INT64_MAX} and {_INT64_MAX}"
    return None


def is_public(path: str) -> bool:
    """True for endpoints that take no API key (they authenticate by other means, or not at all)."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class RequestContextMiddleware:
    """Request id, access log and metrics around every request, as plain ASGI.

    Why not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the rest of the app in
    a second task and streams the response through a memory channel, which cost a measurable part
    of each request's CPU (bench/ledger.py; docs/events.md). This class only wraps `send` to learn
    the status and add the X-Request-ID header, and sets the request id in a context variable the
    audit log reads (the endpoint's worker thread inherits it).
    """

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if _path_id_beyond_bigint(scope["path"]):  # no row can have such an id: the thing does not exist
            await JSONResponse(status_code=404, content={"error": {
                "code": "not_found", "message": "no such id (beyond the largest possible)", "field": None}})(
                scope, receive, send)
            return
        refused = _refused_query_parameter(request) if scope.get("query_string") else None
        if refused is not None:
            name, why = refused
            await JSONResponse(status_code=422, content={"error": {
                "code": "validation_failed", "message": f"{name}: {why}", "field": name}})(scope, receive, send)
            return
        offered = request.headers.get("x-request-id", "")
        rid = offered if _SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        rid_header = (b"x-request-id", rid.encode("ascii"))
        status = 500

        async def send_with_request_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        token = current_request_id.set(rid)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            current_request_id.reset(token)
            observe(scope, scope["method"], status, started, rid, scope.get("state", {}).get("actor"))


def warm_dashboard(app: FastAPI) -> None:
    """Start computing the console dashboard's figures in the background when a server process
    starts (`LOYALIST_WARM_DASHBOARD`), so its first view is a cache read (see web.metrics)."""
    from loyalist.web import metrics

    metrics.warm_in_background(app.state.engine, app.state.settings.point_value)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Size the worker-thread pool that runs the (synchronous) endpoints (`LOYALIST_API_THREADS`).

    Why a setting: fewer threads mean less GIL and pool contention under many clients, more
    threads mean a slow endpoint (an export, a report) blocks fewer others. 8 and 40 measured
    alike for accruals with 32 clients on the 2-core machine (docs/events.md), so the default stays
    AnyIO's 40; requests beyond it wait on the event loop.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.settings.api_threads
    yield


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, echo=settings.sql_echo)
    app = FastAPI(
        lifespan=_lifespan,
        title="Loyalist API",
        version=loyalist.__version__,
        description="Customer loyalty and retention: customers, events, points ledger, rewards, tiers.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)

    app.add_middleware(RequestContextMiddleware)

    for info in sorted(pkgutil.iter_modules(routes_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"loyalist.api.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    from loyalist.portal import mount as mount_portal  # the customer self-service portal under /portal
    from loyalist.web import mount as mount_console  # the staff console under /console

    mount_console(app)
    mount_portal(app)
    return app


def iter_api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint as (full path, route), looking inside included routers.

    FastAPI keeps included routers as wrappers in `app.routes`, so a plain
    `isinstance(route, APIRoute)` over it would silently see none of them.
    """

    def walk(routes: Iterable[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                context = getattr(route, "include_context", None)
                yield from walk(original.routes, prefix + (getattr(context, "prefix", "") or ""))
            elif isinstance(route, APIRoute):
                yield prefix + route.path, route

    yield from walk(app.routes, "")

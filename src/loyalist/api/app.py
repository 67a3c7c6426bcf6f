"""The FastAPI application factory.

Routers are discovered from `loyalist.api.routes.*` (each module exposes `router`), so a domain
adds its endpoints without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine

import loyalist
from loyalist.api import routes as routes_pkg
from loyalist.api.errors import install_error_handlers
from loyalist.audit.service import current_request_id
from loyalist.config import Settings, get_settings
from loyalist.db import make_engine, make_session_factory

# Endpoints that need no credentials; everything else must declare a permission.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                          "/redoc"})


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, echo=settings.sql_echo)
    app = FastAPI(
        title="Loyalist API",
        version=loyalist.__version__,
        description="Customer loyalty and retention: customers, events, points ledger, rewards, tiers.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = current_request_id.set(rid)
        try:
            response = await call_next(request)
        finally:
            current_request_id.reset(token)
        response.headers["X-Request-ID"] = rid
        return response

    for info in sorted(pkgutil.iter_modules(routes_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"loyalist.api.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
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

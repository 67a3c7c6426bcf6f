"""The console application, mounted by the API factory under /console.

A separate (mounted) application rather than more API routes: the console authenticates with a
session cookie, answers errors with HTML pages, and sets browser security headers, none of which
the JSON API wants. It shares the root application's engine, session factory and settings.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError

from loyalist.errors import DomainError
from loyalist.web import auth
from loyalist.web import routes as routes_pkg
from loyalist.web.templating import STATIC, render

# No inline script or style anywhere in the console: the policy can forbid both.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def create_console(root: FastAPI) -> FastAPI:
    console = FastAPI(title="Loyalist console", docs_url=None, redoc_url=None, openapi_url=None)
    console.state.root = root
    console.mount("/static", StaticFiles(directory=STATIC), name="static")

    @console.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(request.scope.get("root_path", "") + "/static"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @console.exception_handler(auth.LoginRequired)
    async def _login(request: Request, exc: auth.LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        prefix = request.scope.get("root_path", "")
        if request.method != "GET":
            target = prefix + "/"
        from urllib.parse import urlencode

        response = RedirectResponse(f"{prefix}/login?{urlencode({'next': target})}", status_code=303)
        if exc.message != "not signed in":
            response = RedirectResponse(f"{prefix}/login?{urlencode({'next': target, 'expired': 1})}",
                                        status_code=303)
        return response

    @console.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
        return render(request, "error.html", status_code=exc.status_code,
                      title=titles.get(exc.status_code, "Cannot do that"), message=exc.message)

    @console.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                             for e in exc.errors())
        return render(request, "error.html", status_code=400, title="Invalid request", message=problems)

    @console.exception_handler(OperationalError)
    async def _db_away(request: Request, exc: OperationalError) -> Response:
        response = render(request, "error.html", status_code=503, title="Try again",
                          message="The database is busy or unreachable; retry in a moment.")
        response.headers["Retry-After"] = "1"
        return response

    @console.exception_handler(404)
    async def _not_found(request: Request, exc: Any) -> Response:
        return render(request, "error.html", status_code=404, title="Not found",
                      message="There is no such page in the console.")

    for info in sorted(pkgutil.iter_modules(routes_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"loyalist.web.routes.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            console.include_router(router)
    return console

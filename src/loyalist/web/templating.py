"""Jinja2 environment of the console: one base layout, filters for money/points/dates, and
`render()`, which adds the signed-in staff member, the CSRF token and the navigation.

The portal may reuse this module: `make_environment(extra_dirs)` builds an environment whose
loader searches the given template folders first and falls back to the console's `base.html`,
`_macros.html` (form fields with errors, pagination, tables) and the shared filters.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from loyalist.web import auth

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# (label, path under /console, permission, domain module that must exist or None)
NAV: list[tuple[str, str, str | None, str | None]] = [
    ("Dashboard", "/", "analytics:read", None),
    ("Customers", "/customers", "customers:read", None),
    ("Cases", "/cases", "cases:read", "cases"),
    ("My tasks", "/tasks", "tasks:read", "tasks"),
    ("Surveys", "/surveys", "surveys:read", "surveys"),
    ("Feedback", "/feedback", "feedback:read", "feedback"),
    ("Segments", "/segments", "segments:read", "segments"),
    ("Offers", "/offers", "offers:read", "offers"),
    ("Campaigns", "/campaigns", "campaigns:read", "campaigns"),
    ("Rewards", "/rewards", "rewards:read", None),
    ("Earning rules", "/rules", "rules:read", None),
    ("Audit log", "/audit", "audit:read", None),
    ("Settings", "/settings", "staff:read", None),
]


def domain_available(name: str) -> bool:
    """Whether `loyalist.<name>.service` is installed: pages of domains not built yet say so."""
    try:
        return importlib.util.find_spec(f"loyalist.{name}.service") is not None
    except ModuleNotFoundError:
        return False


def _money(value: Any, places: int = 2) -> str:
    if value is None:
        return "—"
    return f"{Decimal(str(value)):,.{places}f}"


def _points(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def _pct(value: Any, places: int = 1) -> str:
    return "—" if value is None else f"{float(value) * 100:.{places}f}%"


def _dt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _date(value: Any) -> str:
    if value is None:
        return "—"
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def make_environment(extra_dirs: Sequence[Path] = ()) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*map(str, extra_dirs), str(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(["html", "svg"], default=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined,
    )
    env.filters.update(money=_money, points=_points, pct=_pct, dt=_dt, date=_date)
    env.globals.update(csrf_field=auth.CSRF_FIELD, urlencode=urlencode)
    return env


ENV = make_environment()


def url(request: Request, path: str, **query: Any) -> str:
    """An absolute path inside the console (honours the mount prefix), with non-empty query args."""
    base = request.scope.get("root_path", "") + path
    args = {k: v for k, v in query.items() if v not in (None, "")}
    return base + ("?" + urlencode(args) if args else "")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    me = getattr(request.state, "console", None)
    prefix = request.scope.get("root_path", "")
    nav = []
    if me is not None:
        for label, path, permission, domain in NAV:
            if permission is not None and not auth.allows(me, permission):
                continue
            if domain is not None and not domain_available(domain):
                continue
            full = prefix + path
            current = request.url.path == full or (path != "/" and request.url.path.startswith(full + "/"))
            nav.append({"label": label, "href": full, "current": current})
    context.setdefault("errors", {})
    context.setdefault("form", {})
    context.setdefault("flash", request.query_params.get("flash"))
    login_csrf = context.pop("login_csrf", "")
    body = ENV.get_template(template).render(
        request=request, me=me, csrf_token=me.csrf_token if me else login_csrf,
        nav=nav, prefix=prefix, url=lambda path, **q: url(request, path, **q),
        can=lambda permission: auth.allows(me, permission), **context,
    )
    return HTMLResponse(body, status_code=status_code)

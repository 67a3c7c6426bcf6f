"""Rendering, the signed-in customer, CSRF (`loyalist.csrf`, shared with the console) and form
errors for the portal.

Why the session is read from a cookie on every request (and not cached): closing an account or
signing out elsewhere must end access at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from loyalist import csrf
from loyalist.config import get_settings
from loyalist.customer_auth import service as customer_auth
from loyalist.customers import service as customers
from loyalist.errors import Unauthenticated
from loyalist.portal.i18n import LANGUAGES, language_of, translate

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
SESSION_COOKIE = "loyalist_portal"
PRE_CSRF_COOKIE = "loyalist_portal_pre"

_env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInRequired(Exception):
    """Raised by pages that need a customer; turned into a redirect to the sign-in page."""


class CsrfRejected(Exception):
    """A state-changing form without the right CSRF token: refused with 403, nothing changed."""


class Me:
    """The signed-in customer of this request, with the helpers every page needs."""

    def __init__(self, customer_id: int, token: str, language: str, name: str | None) -> None:
        self.customer_id = customer_id
        self.token = token
        self.language = language
        self.name = name
        self.csrf = csrf.session_token("portal", token) if token else ""


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _to_sign_in(request: Request, exc: SignInRequired) -> Response:
        response = RedirectResponse("/portal/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/portal")
        return response

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return HTMLResponse("<!doctype html><title>403</title><p>This form has expired or did not come "
                            "from this site. Go back, reload the page and try again.</p>",
                            status_code=403, headers=SECURITY_HEADERS)


def current(request: Request, session: Session) -> Me:
    """The signed-in customer, or SignInRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    try:
        customer_id = customer_auth.authenticate(session, token)
    except Unauthenticated as exc:
        raise SignInRequired() from exc
    profile = customers.get_customer(session, customer_id)
    language = language_of(profile.locale, request.headers.get("accept-language"))
    return Me(customer_id, token or "", language, profile.first_name or profile.name)


def require_csrf(me: Me, presented: str | None) -> None:
    """Reject a state-changing form without this session's CSRF token (403, nothing changed)."""
    if not csrf.check_session("portal", me.token, presented):
        raise CsrfRejected()


def anonymous_csrf(request: Request) -> str:
    """Double-submit token for the forms shown before sign-in (cookie value == hidden field)."""
    return request.cookies.get(PRE_CSRF_COOKIE) or csrf.new_double_submit()


def check_anonymous_csrf(request: Request, presented: str | None) -> bool:
    return csrf.check_double_submit(request.cookies.get(PRE_CSRF_COOKIE), presented)


def secure_cookies() -> bool:
    return get_settings().public_base_url.startswith("https://")


def page(request: Request, template: str, *, language: str, me: Me | None = None, status_code: int = 200,
         pre_csrf: str | None = None, **context: Any) -> HTMLResponse:
    """Render a portal page in `language` with the shared layout variables."""

    def t(key: str, **values: object) -> str:
        return translate(language, key, **values)

    html = _env.get_template(template).render(
        t=t, lang=language, languages=LANGUAGES, me=me, request_path=request.url.path,
        business=get_settings().business_name, pre_csrf=pre_csrf, **context)
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if pre_csrf is not None and request.cookies.get(PRE_CSRF_COOKIE) != pre_csrf:
        response.set_cookie(PRE_CSRF_COOKIE, pre_csrf, httponly=True, samesite="lax", path="/portal",
                            secure=secure_cookies())
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

"""Sign in with an emailed code or magic link; sign out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from loyalist.api import ratelimit
from loyalist.api.deps import SessionDep
from loyalist.customer_auth import service as customer_auth
from loyalist.errors import InvalidToken, RateLimited
from loyalist.portal.i18n import language_of
from loyalist.portal.render import (
    SESSION_COOKIE,
    CsrfRejected,
    anonymous_csrf,
    check_anonymous_csrf,
    current,
    page,
    redirect,
    require_csrf,
    secure_cookies,
)

router = APIRouter(prefix="/portal", include_in_schema=False)
# per client address: asking for codes, and trying codes or links
SIGN_IN_REQUESTS = (10, timedelta(minutes=10))
SIGN_IN_ATTEMPTS = (30, timedelta(minutes=10))


def _limited(request: Request, scope: str, rule: tuple[int, timedelta]) -> Response | None:
    """None when allowed; else the sign-in page with 429 and Retry-After."""
    try:
        ratelimit.check(request, scope, limit=rule[0], per=rule[1])
    except RateLimited as exc:
        response = page(request, "sign_in.html", language=_browser_language(request), pre_csrf=anonymous_csrf(request),
                        notice="rate_limited", status_code=429)
        response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response
    return None


def _browser_language(request: Request) -> str:
    return language_of(request.query_params.get("lang"), request.headers.get("accept-language"))


def _signed_in(token: str) -> Response:
    response = redirect("/portal/home")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/portal",
                        secure=secure_cookies(), max_age=int(customer_auth.SESSION_ABSOLUTE.total_seconds()))
    return response


@router.get("")
@router.get("/")
def portal_root(request: Request, session: SessionDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    try:
        customer_auth.authenticate(session, token)
    except Exception:  # noqa: BLE001 - any failure means "not signed in"
        return redirect("/portal/sign-in")
    return redirect("/portal/home")


@router.get("/sign-in")
def sign_in_form(request: Request) -> Response:
    return page(request, "sign_in.html", language=_browser_language(request), pre_csrf=anonymous_csrf(request))


@router.post("/sign-in")
def sign_in_request(request: Request, session: SessionDep, email: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    if not check_anonymous_csrf(request, csrf):
        raise CsrfRejected()
    if (refused := _limited(request, "portal-sign-in", SIGN_IN_REQUESTS)) is not None:
        return refused
    language = _browser_language(request)
    if "@" not in email or len(email) > 320:
        return page(request, "sign_in.html", language=language, pre_csrf=anonymous_csrf(request),
                    errors={"email": "email"}, email=email, status_code=422)
    requested = customer_auth.request_sign_in(session, email=email)
    return page(request, "sign_in_code.html", language=language, pre_csrf=anonymous_csrf(request), email=email,
                demo_code=requested.demo_code)


@router.post("/sign-in/code")
def sign_in_code(request: Request, session: SessionDep, email: Annotated[str, Form()] = "",
                 code: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    if not check_anonymous_csrf(request, csrf):
        raise CsrfRejected()
    if (refused := _limited(request, "portal-sign-in-attempt", SIGN_IN_ATTEMPTS)) is not None:
        return refused
    result = customer_auth.verify_code(session, email=email, code=code)
    if result.ok and result.session_token:
        return _signed_in(result.session_token)
    return page(request, "sign_in_code.html", language=_browser_language(request), pre_csrf=anonymous_csrf(request),
                email=email, error=result.reason, attempts_left=result.attempts_left, status_code=422)


@router.get("/sign-in/link")
def sign_in_link_confirm(request: Request, token: str = "") -> Response:
    """Show a button instead of signing in on GET: mail scanners that prefetch links must not
    burn the single-use link."""
    return page(request, "sign_in_link.html", language=_browser_language(request),
                pre_csrf=anonymous_csrf(request), token=token)


@router.post("/sign-in/link")
def sign_in_link(request: Request, session: SessionDep, token: Annotated[str, Form()] = "",
                 csrf: Annotated[str, Form()] = "") -> Response:
    if not check_anonymous_csrf(request, csrf):
        raise CsrfRejected()
    if (refused := _limited(request, "portal-sign-in-attempt", SIGN_IN_ATTEMPTS)) is not None:
        return refused
    try:
        result = customer_auth.verify_link(session, token=token)
    except InvalidToken:
        return page(request, "sign_in.html", language=_browser_language(request), pre_csrf=anonymous_csrf(request),
                    notice="link_invalid", status_code=403)
    assert result.session_token is not None
    return _signed_in(result.session_token)


@router.post("/sign-out")
def sign_out(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    customer_auth.sign_out(session, me.token)
    response = redirect("/portal/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response

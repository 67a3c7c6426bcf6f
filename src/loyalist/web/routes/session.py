"""Sign in and sign out.

Sign-in has no session yet, so its CSRF protection is a double-submit token: a random value in a
short-lived cookie that must equal the hidden form field (a cross-site form cannot read or set
our cookie). A failed password still commits, so the staff lockout counter really advances.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from loyalist.api import ratelimit
from loyalist.errors import RateLimited, Unauthenticated
from loyalist.staff import sessions
from loyalist.staff.sessions import ABSOLUTE_TIMEOUT, ConsoleSession
from loyalist.web import auth
from loyalist.web.auth import COOKIE, LOGIN_CSRF_COOKIE, DbDep, needs
from loyalist.web.templating import render

router = APIRouter()


def _safe_next(request: Request, value: str | None) -> str:
    """Only a path inside the console: an open redirect would make phishing links look like ours."""
    prefix = request.scope.get("root_path", "")
    if value and value.startswith(prefix + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return prefix + "/"


def _login_page(request: Request, *, next_url: str, status_code: int = 200, errors: dict[str, str] | None = None,
                email: str = "") -> Response:
    token = auth.new_login_csrf()
    response = render(request, "login.html", status_code=status_code, title="Sign in", next=next_url,
                      expired=bool(request.query_params.get("expired")), errors=errors or {},
                      form={"email": email}, login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path=request.scope.get("root_path", "") or "/")
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    return _login_page(request, next_url=_safe_next(request, next))


LOGIN_ATTEMPTS = (20, timedelta(minutes=10))  # per client address


@router.post("/login")
def login(request: Request, db: DbDep, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    next_url = _safe_next(request, next)
    if not auth.check_login_csrf(cookie, csrf_token):
        return _login_page(request, next_url=next_url, status_code=403, email=email,
                           errors={"__all__": "The sign-in form expired; please try again."})
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "required"
    if not password:
        errors["password"] = "required"
    if errors:
        return _login_page(request, next_url=next_url, status_code=400, errors=errors, email=email)
    try:  # per client address, on top of the per-account lockout: guessing across many accounts
        ratelimit.check(request, "console-login", limit=LOGIN_ATTEMPTS[0], per=LOGIN_ATTEMPTS[1], session=db)
    except RateLimited as exc:
        page = _login_page(request, next_url=next_url, status_code=429, email=email,
                           errors={"__all__": "Too many sign-in attempts from here; wait a few minutes."})
        page.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return page
    try:
        token, _ = sessions.login(db, email=email, password=password, user_agent=request.headers.get("user-agent"))
    except Unauthenticated as exc:
        # The handler returns normally, so the unit of work commits the failure counter.
        return _login_page(request, next_url=next_url, status_code=401, email=email,
                           errors={"password": exc.message})
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(COOKIE, token, max_age=int(ABSOLUTE_TIMEOUT.total_seconds()), httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path=request.scope.get("root_path", "") or "/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=request.scope.get("root_path", "") or "/")
    return response


@router.post("/logout")
def logout(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs(None))]) -> Response:
    sessions.logout(db, token=request.cookies.get(COOKIE))
    prefix = request.scope.get("root_path", "")
    response = RedirectResponse(f"{prefix}/login", status_code=303)
    response.delete_cookie(COOKIE, path=prefix or "/")
    return response

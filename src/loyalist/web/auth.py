"""Console authentication: the per-request unit of work, the signed-in staff member, permissions
and CSRF.

Every console page declares `Depends(needs("perm:name"))` (the permission names and role table
are the API's, `loyalist.api.permissions`), and a test walks the console's routes to prove it.
`needs` also checks the CSRF token of every unsafe request (POST) before anything runs, so a
forged form is refused with 403 and the transaction never starts writing. Tokens come from
`loyalist.csrf`, the one scheme shared with the portal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from loyalist import csrf
from loyalist.api.permissions import roles_for
from loyalist.errors import PermissionDenied, Unauthenticated
from loyalist.staff import sessions
from loyalist.staff.sessions import ConsoleSession

COOKIE = "loyalist_console"
LOGIN_CSRF_COOKIE = "loyalist_console_login"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """Raised when a page needs a session and there is none; answered with a redirect to login."""

    def __init__(self, message: str = "not signed in") -> None:
        super().__init__(message)
        self.message = message


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


def root_state(request: Request) -> Any:
    """State of the API application the console is mounted on (engine, session factory, settings).

    Looked up per request, so a test that swaps the root's session factory is honoured."""
    return request.app.state.root.state


def get_db(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed after the page handler returns, rolled back on error."""
    session: Session = root_state(request).session_factory()
    try:
        session.begin()
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


DbDep = Annotated[Session, Depends(get_db, scope="function")]


def current_staff(request: Request, db: DbDep) -> ConsoleSession:
    cached = getattr(request.state, "console", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        found = sessions.resolve(db, request.cookies.get(COOKIE))
    except Unauthenticated as exc:
        raise LoginRequired(exc.message) from exc
    request.state.console = found
    return found


async def _form_token(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it: Form() parameters read the same object
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return request.headers.get("x-csrf-token")


class needs:  # noqa: N801 - reads as a declaration in route signatures
    """The signed-in staff member, admitted only if their role holds `permission`.

    `needs(None)` admits any signed-in staff member (used by logout and the own-tasks page).
    Unsafe methods must carry the session's CSRF token (form field `csrf_token`)."""

    def __init__(self, permission: str | None) -> None:
        if permission is not None:
            roles_for(permission)  # a typo fails at import time
        self.permission = permission

    async def __call__(self, request: Request,
                       me: Annotated[ConsoleSession, Depends(current_staff)]) -> ConsoleSession:
        if request.method in UNSAFE and not sessions.check_csrf(me, await _form_token(request)):
            raise CsrfFailed("the form has expired or did not come from this console; reload the page and retry")
        if self.permission is not None and not allows(me, self.permission):
            raise PermissionDenied(f"your role ({me.actor.role}) does not include {self.permission!r}")
        return me


def allows(me: ConsoleSession | None, permission: str) -> bool:
    return me is not None and me.actor.role in {r.value for r in roles_for(permission)}


def permission_of(route: Any) -> tuple[bool, str | None]:
    """(declares `needs`, its permission) for a console route; used by the console role test."""
    stack: list[Any] = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, needs):
            return True, dependant.call.permission
        stack.extend(dependant.dependencies)
    return False, None


def new_login_csrf() -> str:
    """Login happens before a session exists: a double-submit token (cookie + hidden field)."""
    return csrf.new_double_submit()


def check_login_csrf(cookie: str | None, presented: str | None) -> bool:
    return csrf.check_double_submit(cookie, presented)

"""FastAPI dependencies: the per-request unit of work and the authenticated actor.

The session commits after the endpoint returns but *before* the response is sent
(`scope="function"`), so a failed commit is reported to the client rather than lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from loyalist.api.permissions import roles_for
from loyalist.errors import PermissionDenied, Unauthenticated
from loyalist.staff import service as staff_service
from loyalist.types import Actor


def get_session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    session: Session = factory()
    try:
        session.begin()
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


def current_actor(request: Request) -> Actor:
    """Authenticate the API key in its own short session (independent of the request's UoW)."""
    key = _presented_key(request)
    if not key:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    factory = request.app.state.session_factory
    settings = request.app.state.settings
    actor = staff_service.authenticate_api_key_cached(
        factory, key, database=settings.database_url, max_age=settings.config_cache_seconds)
    request.state.actor = actor
    return actor


class require:  # noqa: N801 - reads as a declaration in route signatures
    """Dependency that admits only actors whose role holds `permission`."""

    def __init__(self, permission: str) -> None:
        roles_for(permission)  # fail at import time for a typo
        self.permission = permission

    def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in {r.value for r in roles_for(self.permission)}:
            raise PermissionDenied(
                f"role {actor.role!r} lacks permission {self.permission!r}"
            )
        return actor


def permission_of(route: Any) -> str | None:
    """The permission an endpoint (`APIRoute`) requires, found in its dependency tree; None if it
    declares none. Used by the role-matrix tests to prove every endpoint is guarded."""
    stack: list[Any] = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, require):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def Permit(permission: str) -> Callable[..., Actor]:  # noqa: N802
    """`actor: Annotated[Actor, Permit("x:y")]` — an authenticated actor holding the permission."""
    return Depends(require(permission))  # type: ignore[no-any-return]

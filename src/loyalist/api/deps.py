"""FastAPI dependencies: the per-request unit of work and the authenticated actor.

The session commits after the endpoint returns but *before* the response is sent
(`scope="function"`), so a failed commit is reported to the client rather than lost.

Why the dependencies are `async def` although the database code is synchronous: FastAPI runs
every sync dependency in the thread pool, and each hop (queue, thread wake-up, GIL hand-over)
cost a measurable part of a request (docs/events.md, "HTTP layer"). Opening a session and
checking a remembered API key do no I/O, so they run on the event loop; only the commit (and an
API key not yet remembered) goes to a worker thread. The endpoint itself still runs in one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from loyalist.api.permissions import roles_for
from loyalist.errors import PermissionDenied, Unauthenticated
from loyalist.staff import service as staff_service
from loyalist.types import Actor


def _finish(session: Session, failed: bool) -> None:
    """Commit (or roll back after a failure) and close: the blocking end of the unit of work."""
    try:
        if failed:
            session.rollback()
        else:
            try:
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        session.close()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's unit of work: commits when the endpoint returned, rolls back on any error.

    `begin()` does no I/O (the connection is taken at the first statement), so opening runs on
    the event loop; the commit runs in a worker thread, shielded from cancellation so that a
    client hanging up cannot leave the transaction half-finished (as FastAPI does for sync
    generator dependencies). A thread of its own capacity: waiting for a free pool thread while
    holding a database connection could starve the pool.
    """
    session: Session = request.app.state.session_factory()
    session.begin()
    try:
        yield session
    except BaseException:
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(_finish, session, True, limiter=CapacityLimiter(1))
        raise
    with CancelScope(shield=True):
        await anyio.to_thread.run_sync(_finish, session, False, limiter=CapacityLimiter(1))


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def current_actor(request: Request) -> Actor:
    """Authenticate the API key in its own short session (independent of the request's UoW);
    a key checked in the last `config_cache_seconds` is answered from memory, without a thread."""
    key = _presented_key(request)
    if not key:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached
    settings = request.app.state.settings
    actor = staff_service.remembered_api_key(key, database=settings.database_url,
                                             max_age=settings.config_cache_seconds)
    if actor is None:
        actor = await run_in_threadpool(
            staff_service.authenticate_api_key_cached, request.app.state.session_factory, key,
            database=settings.database_url, max_age=settings.config_cache_seconds)
    request.state.actor = actor
    return actor


class require:  # noqa: N801 - reads as a declaration in route signatures
    """Dependency that admits only actors whose role holds `permission`."""

    def __init__(self, permission: str) -> None:
        roles_for(permission)  # fail at import time for a typo
        self.permission = permission

    async def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
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

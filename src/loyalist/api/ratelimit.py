"""Rate limits for the endpoints people can hammer without an API key: sign-in, one-time codes,
public survey answering. Counted in the database (`loyalist.ratelimit`), shared by every worker.

The count is written in its own short transaction, so an attempt that fails (and rolls back the
request) still counts — otherwise failures, the very thing to limit, would be free.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from sqlalchemy.orm import Session

from loyalist.config import get_settings
from loyalist.errors import RateLimited
from loyalist.ratelimit import service as ratelimit


def client_address(request: Request) -> str:
    """The caller's IP: the socket peer, or the first X-Forwarded-For hop when configured to trust
    the reverse proxy in front (never by default: the header is trivially forged)."""
    if get_settings().trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.client.host if request.client else "unknown"


def check(request: Request, scope: str, *, limit: int, per: timedelta, extra: str = "",
          session: Session | None = None) -> None:
    """Count one attempt by this client (and `extra`, e.g. an email) in `scope`; raise RateLimited
    when over `limit` within the window. Pass `session` only where the caller commits even a
    failed attempt (the console's login page does); otherwise the count gets its own transaction."""
    key = ratelimit.bucket_key(scope, client_address(request), extra)
    if session is not None:
        verdict = ratelimit.hit(session, bucket=key, limit=limit, window=per)
    else:
        factory = request.app.state.session_factory
        with factory() as own, own.begin():
            verdict = ratelimit.hit(own, bucket=key, limit=limit, window=per)
    if not verdict.allowed:
        raise RateLimited(f"too many attempts; try again in {verdict.retry_after_seconds} s",
                          details={"retry_after": verdict.retry_after_seconds})


class Limit:
    """Dependency form: `dependencies=[Depends(Limit("survey-answer", limit=30, per=timedelta(minutes=1)))]`."""

    def __init__(self, scope: str, *, limit: int, per: timedelta) -> None:
        self.scope, self.limit, self.per = scope, limit, per

    def __call__(self, request: Request) -> None:
        check(request, self.scope, limit=self.limit, per=self.per)

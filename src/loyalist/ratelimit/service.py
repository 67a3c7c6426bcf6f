"""Count attempts per bucket in fixed windows, atomically, in the database.

Why the database and not process memory: production runs several API workers; a limit kept in
one worker's memory would let an attacker multiply it by the number of workers. One upsert per
attempt (`INSERT ... ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count`) is atomic on
SQLite and PostgreSQL. Bucket keys hold hashes, never raw emails or addresses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.ratelimit.models import RateLimitHit


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after_seconds: int


def bucket_key(scope: str, *parts: str) -> str:
    """`scope:<sha256 of the parts>` — stable, bounded length, and no personal data stored."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
    return f"{scope[:100]}:{digest}"


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = int(window.total_seconds())
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def hit(session: Session, *, bucket: str, limit: int, window: timedelta) -> Verdict:
    """Count one attempt in `bucket`; allowed while the window's count is at most `limit`."""
    now = clock.now()
    start = _window_start(now, window)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(RateLimitHit).values(bucket=bucket, window_start=start, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=["bucket", "window_start"],
                                      set_={"count": RateLimitHit.count + 1}).returning(RateLimitHit.count)
    count = int(session.execute(stmt).scalar_one())
    retry = int((start + window - now).total_seconds()) + 1
    return Verdict(allowed=count <= limit, count=count, limit=limit, retry_after_seconds=max(1, retry))


def prune(session: Session, *, as_of: datetime | None = None, keep: timedelta = timedelta(days=1)) -> int:
    """Drop counters of windows that ended long ago (a worker job)."""
    cutoff = (as_of or clock.now()) - keep
    result = session.execute(delete(RateLimitHit).where(RateLimitHit.window_start < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

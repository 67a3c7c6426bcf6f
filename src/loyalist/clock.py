"""An injectable clock so that expiry, SLAs and birthdays can be tested at any instant."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC (or the frozen instant inside `frozen_at`)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Normalise to aware UTC; naive values are rejected because their zone is unknowable."""
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


@contextmanager
def frozen_at(instant: datetime) -> Iterator[datetime]:
    """Freeze `now()` at `instant` for the duration of the block (tests, backfills)."""
    global _frozen
    previous = _frozen
    _frozen = ensure_utc(instant)
    try:
        yield _frozen
    finally:
        _frozen = previous

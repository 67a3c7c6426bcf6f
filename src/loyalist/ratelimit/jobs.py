"""Worker job: forget old rate-limit counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.ratelimit import service
from loyalist.types import SYSTEM, Actor


def prune(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> int:
    return service.prune(session, as_of=as_of)


JOBS = {"ratelimit.prune": prune}

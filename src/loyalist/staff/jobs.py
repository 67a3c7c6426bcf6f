"""Worker jobs of the staff package: clearing out ended console sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.staff import sessions
from loyalist.types import SYSTEM, Actor


def purge_sessions(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> int:
    """Delete console sessions that ended more than a week ago; returns how many."""
    return sessions.purge(session, as_of=as_of)


JOBS = {"staff.purge_sessions": purge_sessions}
SCHEDULE = {"staff.purge_sessions": 6 * 3600}

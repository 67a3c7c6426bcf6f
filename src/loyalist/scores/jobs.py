"""Worker job of the scores domain: the daily refresh (idempotent for a given as-of)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.scores import service
from loyalist.scores.schemas import RefreshResult
from loyalist.types import SYSTEM, Actor


def refresh(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> RefreshResult:
    """Recompute RFM, P(alive), churn risk and CLV for every customer with purchases."""
    return service.refresh(session, as_of=as_of, actor=actor)


JOBS = {"scores.refresh": refresh}
SCHEDULE = {"scores.refresh": 24 * 3600}

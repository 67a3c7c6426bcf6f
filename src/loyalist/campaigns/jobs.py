"""Worker jobs of the campaigns domain: launch scheduled campaigns, finish ended ones.
Launch is idempotent (locked campaign row, UNIQUE membership, dedupe keys), so two workers or a
retried run never send twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.campaigns import service
from loyalist.types import SYSTEM, Actor


def run_schedule(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> dict[str, int]:
    return service.run_schedule(session, as_of=as_of, actor=actor)


JOBS = {"campaigns.run_schedule": run_schedule}
# Every minute: a scheduled campaign should start close to its starts_at.
SCHEDULE = {"campaigns.run_schedule": 60}

"""Worker jobs of the tiers domain.

`reevaluate` is meant to run daily (or weekly): it is idempotent for a given `as_of`, so a
retried or doubled run changes nothing more. Each job takes the worker's session and commits
nothing itself (the worker's unit of work does).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.tiers import service
from loyalist.tiers.schemas import ReevaluationResult
from loyalist.types import SYSTEM, Actor


def reevaluate(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> ReevaluationResult:
    """Upgrades, grace periods and downgrades after grace for every customer."""
    return service.reevaluate_all(session, as_of=as_of, actor=actor)


JOBS = {"tiers.reevaluate": reevaluate}

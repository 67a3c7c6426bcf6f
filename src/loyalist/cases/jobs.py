"""Worker jobs of the cases domain.

`cases.scan_breaches` marks first-response and resolution SLA breaches of open cases and
escalates each breach once (re-runnable: the escalation row is unique per reason and cycle).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.cases import service
from loyalist.cases.schemas import BreachScanResult
from loyalist.types import SYSTEM, Actor


def scan_breaches(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> BreachScanResult:
    return service.scan_breaches(session, as_of=as_of, actor=actor)


JOBS = {"cases.scan_breaches": scan_breaches}
# Every five minutes: the shortest SLA (critical first response) is 30 business minutes.
SCHEDULE = {"cases.scan_breaches": 300}

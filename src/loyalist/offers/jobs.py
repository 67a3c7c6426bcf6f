"""Worker jobs of the offers domain (both re-runnable: issue keys and guarded UPDATEs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.offers import service
from loyalist.offers.schemas import BirthdayRunResult
from loyalist.types import SYSTEM, Actor


def birthday_offers(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> BirthdayRunResult:
    """Issue birthday offers to customers in their birthday week (their timezone), once a year."""
    return service.issue_birthday_offers(session, as_of=as_of, actor=actor)


def expire_offers(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> int:
    """Mark issued offers past their expiry as expired."""
    return service.expire_issues(session, as_of=as_of, actor=actor)


JOBS = {"offers.birthday_offers": birthday_offers, "offers.expire_offers": expire_offers}
# Hourly: a birthday week starts at local midnight in each customer's own timezone.
SCHEDULE = {"offers.birthday_offers": 3600, "offers.expire_offers": 3600}

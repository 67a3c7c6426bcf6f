"""Worker jobs of the rewards domain.

`expire_vouchers` is re-runnable (each voucher moves by a guarded UPDATE from 'issued'); the
refund policy is off by default, see `loyalist.rewards.service`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.rewards import service
from loyalist.rewards.schemas import ExpiryResult
from loyalist.types import SYSTEM, Actor


def expire_vouchers(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM,
                    refund: bool = False) -> ExpiryResult:
    """Mark issued vouchers past their expiry as expired (optionally refunding the points)."""
    return service.expire_vouchers(session, as_of=as_of, actor=actor, refund=refund)


JOBS = {"rewards.expire_vouchers": expire_vouchers}

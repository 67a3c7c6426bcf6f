"""Worker job of the segments domain: keep the rolling spend (30/90/365 days) as of today.

Hourly, and a no-op while the stored day is already today's UTC midnight, so it refreshes
within an hour after midnight and the edge windows a segment reads from `purchases` stay about
a day wide. A failed or missed run only makes segments slower (wider edges, then the monthly
buckets once the day is a whole window old), never wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.segments import service
from loyalist.types import SYSTEM, Actor

HOUR = 3600


def refresh_rolling(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Refresh the rolling spend as of the day of `as_of` (default now; never after today)."""
    today = clock.now().date()
    day = min((as_of or clock.now()).date(), today)
    current = service.rolling_spend_state(session)
    if current["as_of"] is not None and current["as_of"][:10] == day.isoformat():
        return {"as_of": current["as_of"], "skipped": "already computed for this day"}
    return service.refresh_rolling_spend(session, actor=actor, day=day)


JOBS = {"segments.refresh_rolling": refresh_rolling}
SCHEDULE = {"segments.refresh_rolling": HOUR}

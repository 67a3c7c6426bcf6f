"""Worker jobs of automation.

- automation.scan_timeline (every minute): event triggers from the customer timeline.
- automation.daily (hourly, despite the name): date triggers; hourly so that every timezone's
  local day is picked up soon after it begins (a birthday in Auckland starts 21 hours before
  one in Los Angeles). Re-running is harmless: each instance runs once.
- automation.delayed_actions (every five minutes): actions whose delay has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalist.automation import service
from loyalist.automation.schemas import DATE_TRIGGERS, EVENT_TRIGGERS
from loyalist.types import Actor


def scan_timeline(session: Session, *, as_of: datetime | None = None,
                  actor: Actor = service.AUTOMATION_ACTOR) -> dict[str, Any]:
    return service.run_all(session, kinds=EVENT_TRIGGERS, as_of=as_of, actor=actor).model_dump()


def daily(session: Session, *, as_of: datetime | None = None,
          actor: Actor = service.AUTOMATION_ACTOR) -> dict[str, Any]:
    return service.run_all(session, kinds=DATE_TRIGGERS, as_of=as_of, actor=actor).model_dump()


def delayed_actions(session: Session, *, as_of: datetime | None = None,
                    actor: Actor = service.AUTOMATION_ACTOR) -> dict[str, Any]:
    return service.run_due_actions(session, as_of=as_of, actor=actor).model_dump()


JOBS = {"automation.scan_timeline": scan_timeline, "automation.daily": daily,
        "automation.delayed_actions": delayed_actions}
SCHEDULE = {"automation.scan_timeline": 60, "automation.daily": 3600, "automation.delayed_actions": 300}

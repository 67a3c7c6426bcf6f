"""Worker jobs of the surveys domain.

`send_reminders` is re-runnable: each reminder moves the invitation's `reminder_count` by a
guarded UPDATE and is written to the outbox under its own dedupe key, so running it twice (or
on two workers) reminds each non-responder once per due reminder.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from loyalist.surveys import service
from loyalist.surveys.schemas import ReminderResult
from loyalist.types import SYSTEM, Actor


def send_reminders(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> ReminderResult:
    """Remind invited customers who have not answered yet (see `service.send_reminders`)."""
    return service.send_reminders(session, as_of=as_of, actor=actor)


JOBS = {"surveys.send_reminders": send_reminders}
# hourly: a reminder is due N days after the invitation, an hour late is harmless
SCHEDULE = {"surveys.send_reminders": 3600}

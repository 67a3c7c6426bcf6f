"""Worker jobs of the messaging domain (outbox delivery itself is the worker's main loop)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from loyalist.messaging import service
from loyalist.types import SYSTEM, Actor


def prune_bodies(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Forget the texts of old finished messages (daily)."""
    return {"pruned": service.prune_bodies(session, as_of=as_of)}


JOBS = {"messaging.prune_bodies": prune_bodies}
SCHEDULE = {"messaging.prune_bodies": 24 * 3600}

"""The worker's own bookkeeping: one row per scheduled job, doubling as its lease.

Several `loyalist worker` processes may run at once; a job is started only by the worker that
moves its row's lease forward with a guarded UPDATE, so a daily job runs once a day, not once
per worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import JSONDoc, UTCDateTime


class JobRun(Base):
    __tablename__ = "worker_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(10), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    last_result: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

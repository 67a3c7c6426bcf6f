"""Discovery and scheduling of the domains' jobs (`loyalist.<domain>.jobs.JOBS`).

Each job has an interval (the table below, or a domain's own `SCHEDULE = {name: seconds}` in
its jobs module; one hour otherwise). Its row in `worker_jobs` is both the schedule
(`next_due_at`) and a lease: a worker starts a job only if its guarded UPDATE moves the lease
to itself, so several workers never run the same job at the same time, and a worker that died
mid-job lets the next one take over once the lease has run out.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

import loyalist
from loyalist import clock
from loyalist.audit.service import jsonable
from loyalist.db import make_session_factory, unit_of_work
from loyalist.types import SYSTEM
from loyalist.worker.models import JobRun

log = logging.getLogger("loyalist.worker.jobs")

HOUR = 3600
DEFAULT_INTERVAL = HOUR
# how often each known job runs; a domain may also declare SCHEDULE in its jobs module
INTERVALS: dict[str, int] = {
    "rewards.expire_vouchers": HOUR,
    "tiers.reevaluate": 24 * HOUR,
    "ledger.expire_points": HOUR,
    "ledger.reconcile": 24 * HOUR,
    "messaging.prune_bodies": 24 * HOUR,
}
JOB_LEASE = timedelta(minutes=30)
RETRY_AFTER_FAILURE = timedelta(minutes=5)

JobFn = Callable[..., Any]


@dataclass
class JobOutcome:
    status: str  # ok | failed | not_due | busy
    result: Any = None
    error: str | None = None


def discover_jobs() -> dict[str, tuple[JobFn, int]]:
    """Every `JOBS` entry of every `loyalist.<domain>.jobs` module, with its interval in seconds."""
    found: dict[str, tuple[JobFn, int]] = {}
    for info in sorted(pkgutil.iter_modules(loyalist.__path__), key=lambda i: i.name):
        if not info.ispkg or info.name == "worker":
            continue
        name = f"loyalist.{info.name}.jobs"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        schedule = getattr(module, "SCHEDULE", {}) or {}
        for job_name, fn in (getattr(module, "JOBS", {}) or {}).items():
            interval = int(schedule.get(job_name, INTERVALS.get(job_name, DEFAULT_INTERVAL)))
            found[job_name] = (fn, interval)
    return found


def _ensure_row(factory: Any, name: str) -> None:
    with factory() as session:
        if session.get(JobRun, name) is not None:
            return
    try:
        with unit_of_work(factory) as session:
            session.add(JobRun(name=name))
    except IntegrityError:
        pass  # another worker created it first


def _acquire(factory: Any, name: str, worker_id: str, now: datetime) -> bool:
    with unit_of_work(factory) as session:
        result = session.execute(
            update(JobRun)
            .where(JobRun.name == name,
                   or_(JobRun.next_due_at.is_(None), JobRun.next_due_at <= now),
                   or_(JobRun.lease_until.is_(None), JobRun.lease_until < now))
            .values(lease_owner=worker_id, lease_until=now + JOB_LEASE, last_started_at=now)
            .execution_options(synchronize_session=False))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _finish(session: Any, name: str, *, now: datetime, status: str, next_due: datetime, result: Any = None,
            error: str | None = None) -> None:
    session.execute(update(JobRun).where(JobRun.name == name).values(
        lease_owner=None, lease_until=None, last_finished_at=clock.now(), last_status=status,
        last_error=None if error is None else error[:1000], last_result=result, next_due_at=next_due)
        .execution_options(synchronize_session=False))


def _jsonable_result(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return jsonable(value)


def run_due_jobs(engine: Engine, *, as_of: datetime | None = None, worker_id: str,
                 only: list[str] | None = None) -> dict[str, JobOutcome]:
    """Run each due job once, in its own transaction; a failing job is rolled back, recorded and
    retried after a few minutes, and does not stop the others."""
    factory = make_session_factory(engine)
    outcomes: dict[str, JobOutcome] = {}
    for name, (fn, interval) in discover_jobs().items():
        if only is not None and name not in only:
            continue
        now = as_of or clock.now()
        _ensure_row(factory, name)
        if not _acquire(factory, name, worker_id, now):
            with factory() as session:
                row = session.get(JobRun, name)
                busy = row is not None and row.lease_until is not None and row.lease_until >= now
            outcomes[name] = JobOutcome(status="busy" if busy else "not_due")
            continue
        try:
            with unit_of_work(factory) as session:
                result = fn(session, as_of=as_of, actor=SYSTEM)
                payload = _jsonable_result(result)
                _finish(session, name, now=now, status="ok", next_due=now + timedelta(seconds=interval),
                        result=payload)
            outcomes[name] = JobOutcome(status="ok", result=payload)
        except Exception as exc:  # noqa: BLE001 - record the failure, keep the worker alive
            log.exception("job %s failed", name)
            error = f"{exc.__class__.__name__}: {exc}"
            with unit_of_work(factory) as session:
                _finish(session, name, now=now, status="failed", error=error,
                        next_due=now + min(RETRY_AFTER_FAILURE, timedelta(seconds=interval)))
            outcomes[name] = JobOutcome(status="failed", error=error)
    return outcomes


def job_states(engine: Engine) -> list[JobRun]:
    """The schedule table, for `loyalist worker status`."""
    factory = make_session_factory(engine)
    with factory() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.name)))

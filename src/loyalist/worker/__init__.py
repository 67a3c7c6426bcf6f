"""The background worker: delivers the outbox and runs every domain's scheduled jobs.

`run_once(engine)` is one pass (tests and cron-style use call it directly); `run_forever` is the
`loyalist worker` loop. Each step is its own short transaction, so a crash at any point loses
nothing: a claimed message's lease runs out and another pass takes it again, and a job's lease
row lets only one of several workers run a scheduled job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from loyalist import clock
from loyalist.config import Settings
from loyalist.db import make_session_factory, unit_of_work
from loyalist.messaging import service as messaging
from loyalist.messaging.schemas import DeliveryFailure, DeliveryReport, MessagingPolicy, Outgoing
from loyalist.worker.jobs import JobOutcome, discover_jobs, run_due_jobs

__all__ = ["WorkerReport", "run_once", "deliver_outbox", "default_worker_id", "discover_jobs", "run_forever"]

log = logging.getLogger("loyalist.worker")


def default_worker_id() -> str:
    """host:pid:thread — unique among concurrently running workers."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident() % 100000}"


@dataclass
class WorkerReport:
    """What one pass did: delivery counts and each job's outcome."""

    worker_id: str
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    jobs: dict[str, JobOutcome] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.delivery.claimed > 0 or any(o.status != "not_due" for o in self.jobs.values())


def deliver_outbox(engine: Engine, *, as_of: datetime | None = None, worker_id: str | None = None,
                   batch: int = 100, max_messages: int | None = None, settings: Settings | None = None,
                   policy: MessagingPolicy | None = None, transports: dict[str, Any] | None = None,
                   stop: threading.Event | None = None) -> DeliveryReport:
    """Deliver every message due at `as_of` (default: now), batch by batch.

    Per batch: claim (commit) -> send-time policy for the whole batch (commit) -> per message:
    send -> acknowledge (commit). If the process dies after a send, that acknowledgement is
    missing, the lease expires and the message is sent again with the same Message-ID /
    Idempotency-Key. Messages not yet sent when the lease is running short (or `stop` is set)
    are released for another pass instead of risking a second worker sending them meanwhile.
    """
    worker_id = worker_id or default_worker_id()
    policy = policy or messaging.default_policy()
    factory = make_session_factory(engine)
    report = DeliveryReport()
    seen: set[int] = set()
    with messaging.open_transports(settings, transports) as open_transports:
        while max_messages is None or report.claimed < max_messages:
            if stop is not None and stop.is_set():
                break
            now = as_of or clock.now()
            limit = batch if max_messages is None else min(batch, max_messages - report.claimed)
            claimed_at = time.monotonic()
            with unit_of_work(factory) as session:
                ids = messaging.claim_due(session, worker_id=worker_id, now=now, limit=limit, policy=policy)
            fresh = [i for i in ids if i not in seen]
            again = [i for i in ids if i in seen]
            if again:  # already handled in this pass (e.g. deferred to `now`): leave them for the next
                with unit_of_work(factory) as session:
                    messaging.release(session, message_ids=again, worker_id=worker_id, now=now)
            if not fresh:
                break
            seen.update(fresh)
            report.claimed += len(fresh)
            deadline = claimed_at + policy.lease_seconds * LEASE_SAFETY
            released = report.released
            _deliver_batch(factory, open_transports, fresh, worker_id=worker_id, as_of=as_of, settings=settings,
                           policy=policy, report=report, deadline=deadline, stop=stop)
            if report.released > released:
                break  # out of lease time or asked to stop: the rest waits for the next pass
    return report


# stop sending from a batch once this share of the lease is used up (the rest is released)
LEASE_SAFETY = 0.8
# On PostgreSQL acknowledgements are committed in groups (at most this many, or this often): a
# crash loses at most one group of acknowledgements, whose messages are then re-sent with the same
# Message-ID / Idempotency-Key. SQLite commits each one, so the single writer lock is never held
# across a network send (the API would wait for it).
ACK_GROUP = 20
ACK_GROUP_SECONDS = 1.0


def _deliver_batch(factory: Any, transports: Any, ids: list[int], *, worker_id: str, as_of: datetime | None,
                   settings: Settings | None, policy: MessagingPolicy, report: DeliveryReport, deadline: float,
                   stop: threading.Event | None) -> None:
    approved: list[Outgoing] = []
    pending: dict[tuple[int, str], int] = {}
    with unit_of_work(factory) as session:
        for message_id in ids:
            try:
                with session.begin_nested():
                    outgoing = messaging.begin_delivery(session, message_id=message_id, worker_id=worker_id,
                                                        now=as_of or clock.now(), policy=policy, settings=settings,
                                                        pending=pending)
                    decided = None if outgoing is not None else messaging.get_message(session, message_id).status
            except Exception:  # noqa: BLE001 - one bad message must not stop the others; its lease expires
                log.exception("message %s: policy check failed; retried after its lease", message_id)
                continue
            if outgoing is not None:
                approved.append(outgoing)
            elif decided in ("suppressed", "skipped", "dead"):
                setattr(report, decided, getattr(report, decided) + 1)
            elif decided == "queued":
                report.deferred += 1
    bind = factory.kw.get("bind")
    group = ACK_GROUP if bind is not None and bind.dialect.name == "postgresql" else 1
    acks = factory()
    acks.begin()
    in_group, group_started = 0, time.monotonic()
    try:
        for index, outgoing in enumerate(approved):
            if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                acks.commit()
                rest = [o.message_id for o in approved[index:]]
                with unit_of_work(factory) as session:
                    messaging.release(session, message_ids=rest, worker_id=worker_id, now=as_of or clock.now())
                report.released += len(rest)
                return
            result = messaging.transmit(transports, outgoing)
            if isinstance(result, DeliveryFailure):
                after = messaging.record_failure(acks, message_id=outgoing.message_id, worker_id=worker_id,
                                                 failure=result, now=as_of or clock.now(), policy=policy)
                status = after.status if after else None
                log.warning("message %s: %s (%s)", outgoing.message_id, result.error, status)
                if status == "queued":
                    report.retried += 1
                elif status in ("failed", "dead"):
                    setattr(report, status, getattr(report, status) + 1)
            else:
                messaging.record_sent(acks, message_id=outgoing.message_id, worker_id=worker_id, result=result,
                                      now=as_of or clock.now())
                report.sent += 1
            in_group += 1
            if in_group >= group or time.monotonic() - group_started > ACK_GROUP_SECONDS:
                acks.commit()
                acks.begin()
                in_group, group_started = 0, time.monotonic()
        acks.commit()
    except BaseException:
        acks.rollback()
        raise
    finally:
        acks.close()


def run_once(engine: Engine, *, as_of: datetime | None = None, worker_id: str | None = None, batch: int = 100,
             settings: Settings | None = None, policy: MessagingPolicy | None = None,
             transports: dict[str, Any] | None = None, jobs: bool = True,
             only_jobs: list[str] | None = None, stop: threading.Event | None = None) -> WorkerReport:
    """One worker pass: deliver all due messages, then run every domain job that is due.

    Jobs run after delivery, and the messages they enqueue are delivered in the same pass.
    """
    worker_id = worker_id or default_worker_id()
    report = WorkerReport(worker_id=worker_id)
    report.delivery = deliver_outbox(engine, as_of=as_of, worker_id=worker_id, batch=batch, settings=settings,
                                     policy=policy, transports=transports, stop=stop)
    if jobs and not (stop is not None and stop.is_set()):
        report.jobs = run_due_jobs(engine, as_of=as_of, worker_id=worker_id, only=only_jobs)
        if any(o.status == "ok" for o in report.jobs.values()):
            more = deliver_outbox(engine, as_of=as_of, worker_id=worker_id, batch=batch, settings=settings,
                                  policy=policy, transports=transports, stop=stop)
            for name in DeliveryReport.model_fields:
                setattr(report.delivery, name, getattr(report.delivery, name) + getattr(more, name))
    return report


def run_forever(engine: Engine, *, interval: float = 5.0, batch: int = 100, worker_id: str | None = None,
                stop: threading.Event | None = None, on_pass: Any = None) -> None:
    """Repeat `run_once` every `interval` seconds until `stop` is set (SIGTERM sets it: the
    current message finishes and is acknowledged before the loop exits)."""
    stop = stop or threading.Event()
    worker_id = worker_id or default_worker_id()
    while not stop.is_set():
        try:
            report = run_once(engine, worker_id=worker_id, batch=batch, stop=stop)
        except Exception:  # noqa: BLE001 - a database outage must not end the worker; retry next pass
            log.exception("worker pass failed; retrying in %.1f s", interval)
            report = None
        if on_pass is not None and report is not None:
            on_pass(report)
        if report is not None and report.delivery.claimed >= batch:
            continue  # backlog: go again without sleeping
        stop.wait(interval)

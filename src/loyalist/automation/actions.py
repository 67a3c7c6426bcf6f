"""Executing one action of a run. Every action is idempotent on a key derived from the run and
the action's position, so executing it again (a retried job, a crash after the action but before
the commit) returns the first effect instead of doubling it: points are granted once, one
message, one task, one voucher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from loyalist.automation.schemas import ActionSpec
from loyalist.customers import service as customers
from loyalist.errors import NotFound
from loyalist.ledger import service as ledger
from loyalist.messaging import service as messaging
from loyalist.offers import service as offers
from loyalist.tasks import service as tasks
from loyalist.types import Actor

LEDGER_SOURCE = "automation"


def action_key(automation_id: int, customer_id: int, instance_key: str, position: int) -> str:
    """The idempotency key of one action: the run's identity, not its row id, so it is stable."""
    return f"automation:{automation_id}:{customer_id}:{instance_key}:{position}"


def _title(spec: ActionSpec, automation_name: str, customer_id: int) -> str:
    return spec.title or f"{automation_name}: customer {customer_id}"


def execute(
    session: Session, *, spec: ActionSpec, automation_id: int, automation_name: str, run_id: int,
    customer_id: int, instance_key: str, position: int, trigger_data: dict[str, Any], now: datetime,
    actor: Actor,
) -> dict[str, Any]:
    """Do the action; returns what it produced (ids) for the run history. Raises DomainError."""
    key = action_key(automation_id, customer_id, instance_key, position)
    if spec.type == "send_message":
        msg = messaging.enqueue(
            session, channel=spec.channel or "email", customer_id=customer_id, dedupe_key=key, actor=actor,
            template=spec.template, subject=spec.subject, text=spec.text,
            context={"automation": automation_name, "trigger": trigger_data}, category=spec.category,
            source_type="automation", source_id=str(run_id))
        return {"message_id": msg.id, "message_status": msg.status}
    if spec.type == "grant_points":
        entry = ledger.earn(
            session, customer_id=customer_id, points=int(spec.points or 0), source=LEDGER_SOURCE,
            idempotency_key=key, reason=spec.reason or automation_name, actor=actor,
            expires_at=now + timedelta(days=spec.expires_in_days) if spec.expires_in_days else None,
            reference_type="automation_run", reference_id=str(run_id))
        return {"ledger_entry_id": entry.id, "points": int(spec.points or 0)}
    if spec.type == "issue_voucher":
        issued = offers.issue_offer(session, offer_id=int(spec.offer_id or 0), customer_id=customer_id, actor=actor,
                                    issue_key=key, check_audience=False, as_of=now,
                                    data={"automation_id": automation_id, "run_id": run_id})
        return {"issued_offer_id": issued.id, "offer_id": issued.offer_id}
    if spec.type == "add_tag":
        tags = customers.add_tag(session, customer_id=customer_id, tag=spec.tag or "", actor=actor)
        return {"tag": customers.normalise_tag(spec.tag or ""), "tags": tags}
    if spec.type == "remove_tag":
        try:
            customers.remove_tag(session, customer_id=customer_id, tag=spec.tag or "", actor=actor)
        except NotFound:
            return {"tag": customers.normalise_tag(spec.tag or ""), "removed": False}
        return {"tag": customers.normalise_tag(spec.tag or ""), "removed": True}
    if spec.type == "create_task":
        task = tasks.create_task(
            session, kind=spec.task_kind or "call", title=_title(spec, automation_name, customer_id),
            customer_id=customer_id, assignee_id=spec.assignee_id,
            due_at=now + timedelta(hours=spec.due_in_hours) if spec.due_in_hours is not None else None,
            actor=actor, note=spec.text, source_type="automation", source_id=str(run_id), dedupe_key=key)
        return {"task_id": task.id}
    if spec.type == "notify_manager":
        if spec.webhook_event:
            sent = messaging.publish_webhook(
                session, event=spec.webhook_event, dedupe_key=key[:150], actor=actor,
                payload={"automation_id": automation_id, "automation": automation_name, "run_id": run_id,
                         "customer_id": customer_id, "instance_key": instance_key, "trigger": trigger_data})
            return {"webhook_message_ids": [m.id for m in sent]}
        task = tasks.create_task(
            session, kind="review", title=_title(spec, automation_name, customer_id), customer_id=customer_id,
            assignee_id=spec.assignee_id,
            due_at=now + timedelta(hours=spec.due_in_hours) if spec.due_in_hours is not None else None,
            actor=actor, note=spec.text, source_type="automation", source_id=str(run_id), dedupe_key=key)
        return {"task_id": task.id}
    raise AssertionError(f"unknown action type {spec.type}")  # schemas restrict the type

"""Launch is set-based: its SQL statement count does not grow with the audience, and the bulk
writes leave every row the one-customer-at-a-time path did (issue, greet task, message,
timeline entries, audit rows)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import event, func, select
from tests.campaigns.conftest import T0, amount_offer, make_campaign

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.campaigns import service
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.interactions.models import Interaction
from loyalist.messaging import service as messaging
from loyalist.messaging.models import Message
from loyalist.messaging.schemas import TemplateCreate
from loyalist.offers.models import IssuedOffer
from loyalist.tasks.models import Task

VALUES = [["personal_attention"], ["early_access"], ["discounts"], []]


def _audience(session, actor, n: int, tag: str) -> list[int]:
    """Customers of every kind the launch treats differently: greeted in person (a task),
    other variants, and some without an email address (their message is kept as skipped)."""
    return [customers.create_customer(session, actor=actor, data=CustomerCreate(
        first_name=f"{tag}{i}", email=None if i % 5 == 4 else f"{tag}{i}@ex.dk", values=VALUES[i % 4])).id
        for i in range(n)]


def _launch_counting(session, actor, ids: list[int], offer_id: int, name: str) -> tuple[int, object]:
    camp = make_campaign(session, actor, name=name, customer_ids=ids, offer_id=offer_id, template="winback",
                         control_percent=20, budget="100000", message_cost="0.05")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", count)
    try:
        with clock.frozen_at(T0):
            result = service.launch(session, campaign_id=camp.id, actor=actor)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    return len(statements), result


def _n(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_launch_statement_count_does_not_grow_with_the_audience(session, actor):
    messaging.create_template(session, actor=actor, data=TemplateCreate(
        key="winback", subject="{{ offer.headline }}", text="{{ offer.body }}"))
    offer = amount_offer(session, actor)
    small, small_result = _launch_counting(session, actor, _audience(session, actor, 15, "s"), offer.id, "small")
    large, large_result = _launch_counting(session, actor, _audience(session, actor, 150, "l"), offer.id, "large")
    assert small_result.sent == small_result.treatment > 0
    assert large_result.sent == large_result.treatment > 100
    assert large == small, (small, large)

    # every treated customer got the full set of rows the per-customer path wrote
    camp = large_result.campaign.id
    treated = [m for m in service.list_members(session, camp, group="treatment", limit=1000)]
    assert all(m.outcome == "sent" and m.issue_id and m.message_id for m in treated)
    issues = list(session.scalars(select(IssuedOffer).where(IssuedOffer.campaign_id == camp)))
    assert {i.customer_id for i in issues} == {m.customer_id for m in treated}
    greeted = [i for i in issues if i.variant == "personal_greeting"]
    assert greeted and all(i.data.get("greet_task_id") for i in greeted)
    tasks = list(session.scalars(select(Task).where(Task.source_type == "offer_issue",
                                                    Task.source_id.in_([str(i.id) for i in greeted]))))
    assert sorted(t.id for t in tasks) == sorted(i.data["greet_task_id"] for i in greeted)
    messages = list(session.scalars(select(Message).where(Message.source_id == str(camp))))
    assert Counter(m.status for m in messages) == Counter(
        "skipped" if m.to_address is None else "queued" for m in messages)
    assert any(m.status == "skipped" for m in messages)
    kinds = Counter(session.scalars(select(Interaction.kind).where(
        Interaction.customer_id.in_([m.customer_id for m in treated]))))
    skipped = sum(1 for m in messages if m.status == "skipped")
    assert kinds["offer"] == kinds["campaign"] == len(treated) and kinds["message"] == skipped
    actions = Counter(session.scalars(select(AuditEntry.action).where(AuditEntry.action.in_(
        ["offer.issue", "message.enqueue", "task.create", "campaign.launch"]))))
    assert actions["campaign.launch"] == 2
    assert actions["offer.issue"] == actions["message.enqueue"] == (small_result.treatment + len(treated))
    assert actions["task.create"] == _n(session, Task, Task.source_type == "offer_issue")

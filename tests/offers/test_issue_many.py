"""`issue_offers` (the bulk twin of `issue_offer`): the same rows per customer, refusals returned
rather than raised, replays, and a `limit` that stops issuing in order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.errors import IdempotencyConflict, InvalidState, LimitExceeded
from loyalist.interactions.models import Interaction
from loyalist.offers import service
from loyalist.offers.models import IssuedOffer
from loyalist.tasks.models import Task

from .conftest import make_customer, make_offer

AT = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _left_behind(session, issue: IssuedOffer) -> tuple:
    timeline = session.scalars(select(Interaction).where(Interaction.source_type == "offer_issue",
                                                         Interaction.source_id == str(issue.id))).one()
    audit_after = session.scalars(select(AuditEntry.after).where(AuditEntry.action == "offer.issue",
                                                                 AuditEntry.target_id == str(issue.id))).one()
    task = session.scalars(select(Task).where(Task.source_type == "offer_issue",
                                              Task.source_id == str(issue.id))).one_or_none()
    return (issue.variant, issue.headline, issue.body.replace(issue.code or "", "<code>"), issue.status,
            issue.expires_at, issue.code is not None and len(issue.code), bool(issue.data.get("greet_task_id")),
            timeline.kind, timeline.summary, {k: v for k, v in timeline.data.items() if k not in ("issue_id", "code")},
            {k: v for k, v in audit_after.items() if k not in ("customer_id", "issue_key")},
            None if task is None else (task.kind, task.title, task.due_at, task.note))


@pytest.mark.parametrize("values", [["personal_attention"], ["early_access"], []])
def test_bulk_leaves_what_one_by_one_leaves(session, actor, values):
    offer = make_offer(session, actor, reward_type="amount", discount_value=Decimal("5"))
    one, many = make_customer(session, actor, values=values), make_customer(session, actor, values=values)
    with clock.frozen_at(AT):
        service.issue_offer(session, offer_id=offer.id, customer_id=one, actor=actor, issue_key="k-one",
                            check_audience=False)
        [result] = service.issue_offers(session, offer_id=offer.id, requests=[(many, "k-many")], actor=actor,
                                        check_audience=False)
    assert not isinstance(result, Exception) and result is not None
    rows = {r.customer_id: r for r in session.scalars(select(IssuedOffer))}
    assert _left_behind(session, rows[one]) == _left_behind(session, rows[many])


def test_refusals_replays_and_limit(session, actor):
    offer = make_offer(session, actor)
    a, b, c, d = (make_customer(session, actor) for _ in range(4))
    service.issue_offer(session, offer_id=offer.id, customer_id=a, actor=actor, issue_key="first-a",
                        check_audience=False)
    from loyalist.customers.schemas import CustomerUpdate

    customers.update_customer(session, customer_id=c, data=CustomerUpdate(status="closed"), actor=actor)
    results = service.issue_offers(session, offer_id=offer.id, actor=actor, check_audience=False, limit=2, requests=[
        (a, "first-a"),      # replay of the earlier issue: counts towards the limit
        (a, "second-a"),     # limit of one per customer: refused, counts nothing
        (c, "c"),            # not active: refused
        (b, "b"),            # issued: the limit of 2 is reached
        (d, "d"),            # past the limit: neither checked nor issued
    ])
    assert results[0].issue_key == "first-a"
    assert isinstance(results[1], LimitExceeded) and isinstance(results[2], InvalidState)
    assert results[3].customer_id == b and results[4] is None
    assert {r.issue_key for r in session.scalars(select(IssuedOffer))} == {"first-a", "b"}
    with pytest.raises(IdempotencyConflict):
        service.issue_offers(session, offer_id=offer.id, actor=actor, requests=[(d, "b")], check_audience=False)

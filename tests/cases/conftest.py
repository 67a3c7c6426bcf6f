"""Helpers for cases tests: customers, staff, a frozen Monday, and a case driven to any state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.audit.models import AuditEntry
from loyalist.cases import service
from loyalist.cases.models import Case, CaseAction, CaseEvent
from loyalist.cases.schemas import CaseCreate
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.interactions.models import Interaction
from loyalist.staff import service as staff
from loyalist.staff.schemas import Role, StaffCreate

# Monday 2 March 2026, 09:00 UTC (the settings timezone in tests is UTC; Mon-Fri 09-17 calendar).
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_n = count(1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in March 2026 (UTC)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with clock.frozen_at(MONDAY) as now:
        yield now


def make_customer(session, actor) -> int:
    return customers.create_customer(session, data=CustomerCreate(first_name="Olga", last_name="Berg"),
                                     actor=actor).id


def make_staff(session, actor, role: Role = Role.agent, name: str | None = None) -> int:
    n = next(_n)
    return staff.create_staff(session, data=StaffCreate(email=f"staff{n}@example.com", name=name or f"Staff {n}",
                                                        role=role), actor=actor).id


def new_case(session, actor, customer_id: int | None = None, **overrides: Any):
    fields: dict[str, Any] = {
        "customer_id": customer_id or make_customer(session, actor), "channel": "phone", "category": "delivery",
        "severity": "normal", "subject": "Parcel arrived broken", "description": "The vase was in pieces.",
    }
    fields.update(overrides)
    return service.create_case(session, data=CaseCreate(**fields), actor=actor)


# The legal path through the machine; `drive_to` walks it, satisfying every precondition.
PATH = ("new", "acknowledged", "in_progress", "waiting_for_customer", "resolved", "follow_up_done", "closed")


def drive_to(session, actor, state: str, **case_fields: Any) -> int:
    case = new_case(session, actor, **case_fields)
    cid = case.id
    for step in PATH[1:PATH.index(state) + 1]:
        if step == "acknowledged":
            service.acknowledge(session, case_id=cid, text="We are sorry about the broken vase.", actor=actor)
            service.add_action(session, case_id=cid, description="Replacement dispatched", actor=actor)
        elif step == "resolved":
            service.resolve(session, case_id=cid, resolution="Replacement delivered", actor=actor)
        elif step == "follow_up_done":
            service.record_follow_up(session, case_id=cid, csat=4, comment="Fine now", actor=actor)
        else:
            service.transition(session, case_id=cid, to=step, actor=actor)
    assert service.get_case(session, cid).state == state
    return cid


def snapshot(session, case_id: int) -> dict[str, Any]:
    """Everything a refused action must leave untouched."""
    session.flush()
    session.expire_all()
    row = session.get(Case, case_id)
    assert row is not None
    return {
        "case": {c.name: getattr(row, c.name) for c in Case.__table__.columns},
        "events": session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)),
        "actions": session.scalar(select(func.count()).select_from(CaseAction).where(CaseAction.case_id == case_id)),
        "timeline": session.scalar(select(func.count()).select_from(Interaction)
                                   .where(Interaction.customer_id == row.customer_id)),
        "audit": session.scalar(select(func.count()).select_from(AuditEntry)),
    }

"""Builders shared by the automation tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select

from loyalist import clock
from loyalist.automation import service
from loyalist.automation.models import AutomationAction, AutomationRun
from loyalist.automation.schemas import AutomationCreate
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate

T0 = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def make_customer(session, actor, *, birthday: date | None = None, tz: str | None = None,
                  email: str | None = None, joined: datetime = T0, name: str = "Ada") -> int:
    with clock.frozen_at(joined):
        return customers.create_customer(session, data=CustomerCreate(first_name=name, birthday=birthday,
                                                                      timezone=tz, email=email), actor=actor).id


def make_automation(session, actor, trigger: dict, actions: list[dict] | None = None, **extra):
    when = extra.pop("at", T0)
    data = AutomationCreate(name=extra.pop("name", f"auto {trigger['type']}"), trigger=trigger,
                            actions=actions or [{"type": "add_tag", "tag": "fired"}], **extra)
    with clock.frozen_at(when):
        return service.create_automation(session, data=data, actor=actor)


def runs(session, automation_id: int) -> list[tuple[int, str, str]]:
    rows = session.execute(select(AutomationRun.customer_id, AutomationRun.instance_key, AutomationRun.status)
                           .where(AutomationRun.automation_id == automation_id).order_by(AutomationRun.id))
    return [tuple(r) for r in rows]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def counts(session) -> tuple[int, int]:
    return count(session, AutomationRun), count(session, AutomationAction)


def daily(session, at: datetime):
    with clock.frozen_at(at):
        from loyalist.automation import jobs

        return jobs.daily(session, as_of=at)


def scan(session, at: datetime):
    with clock.frozen_at(at):
        from loyalist.automation import jobs

        return jobs.scan_timeline(session, as_of=at)

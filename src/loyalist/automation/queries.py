"""Read side of automation, including the set-based trigger selections.

Documented exception to "only service and schemas across domains": the date triggers select
their customers in SQL over other domains' tables (customers, purchases, ledger_lots,
customer_scores, interactions), READ-ONLY, through lightweight `table()` descriptions rather than
those domains' models. One query per trigger and timezone instead of one service call per
customer is what makes the daily job usable at a million customers; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, String, and_, column, extract, func, or_, select, table
from sqlalchemy.orm import Session

from loyalist.automation.models import Automation, AutomationAction, AutomationRun, Holiday
from loyalist.types import BigId, JSONDoc, UTCDateTime

customers_t = table("customers", column("id", BigId), column("birthday", Date), column("timezone", String),
                    column("status", String), column("created_at", UTCDateTime))
purchases_t = table("purchases", column("customer_id", BigId), column("occurred_at", UTCDateTime))
lots_t = table("ledger_lots", column("customer_id", BigId), column("remaining", Integer),
               column("pending", Boolean), column("expires_at", UTCDateTime))
scores_t = table("customer_scores", column("customer_id", BigId), column("churn_risk", Float),
                 column("previous_churn_risk", Float), column("computed_at", UTCDateTime))
interactions_t = table("interactions", column("id", BigId), column("customer_id", BigId), column("kind", String),
                       column("data", JSONDoc), column("occurred_at", UTCDateTime))

_ACTIVE = customers_t.c.status == "active"


def timezones(session: Session) -> list[str | None]:
    """Distinct customer timezones (None = not set); few, so triggers run one query per zone."""
    return list(session.scalars(select(customers_t.c.timezone).where(_ACTIVE).distinct()))


def _in_zone(tz: str | None) -> Any:
    return customers_t.c.timezone.is_(None) if tz is None else customers_t.c.timezone == tz


def _month_day(col: Any, pairs: Iterable[tuple[int, int]]) -> Any:
    return or_(*[and_(extract("month", col) == m, extract("day", col) == d) for m, d in sorted(pairs)])


def birthdays_on(session: Session, tz: str | None, pairs: set[tuple[int, int]]) -> list[tuple[int, Any]]:
    if not pairs:
        return []
    b = customers_t.c.birthday
    rows = session.execute(select(customers_t.c.id, b).where(_ACTIVE, _in_zone(tz), b.is_not(None),
                                                             _month_day(b, pairs)).order_by(customers_t.c.id))
    return [(int(r[0]), r[1]) for r in rows]


def joined_around(session: Session, tz: str | None, pairs: set[tuple[int, int]]) -> list[tuple[int, datetime]]:
    """Customers whose UTC join day is one of `pairs` (callers pass a day of slack each side and
    decide exactly in the customer's zone)."""
    if not pairs:
        return []
    c = customers_t.c.created_at
    rows = session.execute(select(customers_t.c.id, c).where(_ACTIVE, _in_zone(tz), _month_day(c, pairs))
                           .order_by(customers_t.c.id))
    return [(int(r[0]), r[1]) for r in rows]


def active_in_zone(session: Session, tz: str | None) -> list[int]:
    return [int(i) for i in session.scalars(select(customers_t.c.id).where(_ACTIVE, _in_zone(tz))
                                            .order_by(customers_t.c.id))]


def holidays_between(session: Session, code: str, start: Any, end: Any) -> list[Holiday]:
    return list(session.scalars(select(Holiday).where(Holiday.code == code, Holiday.day >= start,
                                                      Holiday.day <= end).order_by(Holiday.day)))


def last_purchases(session: Session, *, before: datetime, not_before: datetime | None) -> list[tuple[int, datetime]]:
    """Active customers whose latest purchase is older than `before` (and not older than
    `not_before`, if given): (customer id, latest purchase time)."""
    last = func.max(purchases_t.c.occurred_at)
    query = (select(purchases_t.c.customer_id, last)
             .join(customers_t, customers_t.c.id == purchases_t.c.customer_id).where(_ACTIVE)
             .group_by(purchases_t.c.customer_id).having(last < before))
    if not_before is not None:
        query = query.having(last >= not_before)
    return [(int(r[0]), _aware(r[1])) for r in session.execute(query.order_by(purchases_t.c.customer_id))]


def _aware(value: Any) -> datetime:
    """Aggregates lose the column type on some backends; bring the value back to aware UTC."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise TypeError(f"expected a timestamp, got {value!r}")
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def expiring_lots(session: Session, *, after: datetime, until: datetime) -> list[tuple[int, datetime, int]]:
    """Active customers with available points expiring in (after, until]: (id, first expiry, points)."""
    first = func.min(lots_t.c.expires_at)
    query = (select(lots_t.c.customer_id, first, func.sum(lots_t.c.remaining))
             .join(customers_t, customers_t.c.id == lots_t.c.customer_id)
             .where(_ACTIVE, lots_t.c.remaining > 0, lots_t.c.pending.is_(False),
                    lots_t.c.expires_at > after, lots_t.c.expires_at <= until)
             .group_by(lots_t.c.customer_id).order_by(lots_t.c.customer_id))
    return [(int(r[0]), _aware(r[1]), int(r[2])) for r in session.execute(query)]


def churn_crossings(session: Session, threshold: float) -> list[tuple[int, float, float | None, datetime]]:
    """Customers whose latest churn risk is at/above `threshold` while the previous one was below
    (or absent): a crossing, not a state, so a customer who stays risky is not targeted daily."""
    s = scores_t.c
    rows = session.execute(
        select(s.customer_id, s.churn_risk, s.previous_churn_risk, s.computed_at)
        .join(customers_t, customers_t.c.id == s.customer_id)
        .where(_ACTIVE, s.churn_risk >= threshold,
               or_(s.previous_churn_risk.is_(None), s.previous_churn_risk < threshold))
        .order_by(s.customer_id))
    return [(int(r[0]), float(r[1]), None if r[2] is None else float(r[2]), r[3]) for r in rows]


def max_interaction_id(session: Session) -> int:
    return int(session.scalar(select(func.max(interactions_t.c.id))) or 0)


def interactions_after(session: Session, *, after_id: int, kinds: Iterable[str], limit: int,
                       until_id: int | None = None) -> list[Any]:
    """Timeline rows newer than the high-water mark (and not past `until_id`), oldest first."""
    query = (select(interactions_t.c.id, interactions_t.c.customer_id, interactions_t.c.kind, interactions_t.c.data,
                    interactions_t.c.occurred_at)
             .where(interactions_t.c.id > after_id, interactions_t.c.kind.in_(list(kinds))))
    if until_id is not None:
        query = query.where(interactions_t.c.id <= until_id)
    return list(session.execute(query.order_by(interactions_t.c.id).limit(limit)))


def customer_active(session: Session, customer_id: int) -> bool:
    return session.scalar(select(customers_t.c.id).where(customers_t.c.id == customer_id, _ACTIVE)) is not None


def existing_runs(session: Session, automation_id: int, keys: set[str]) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        rows = session.execute(select(AutomationRun.customer_id, AutomationRun.instance_key).where(
            AutomationRun.automation_id == automation_id, AutomationRun.instance_key.in_(chunk)))
        found.update((int(r[0]), str(r[1])) for r in rows)
    return found


def runs_since(session: Session, automation_id: int, since: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(AutomationRun).where(
        AutomationRun.automation_id == automation_id, AutomationRun.created_at >= since)) or 0)


def enabled_automations(session: Session, trigger_types: Iterable[str]) -> list[Automation]:
    return list(session.scalars(select(Automation).where(Automation.enabled.is_(True),
                                                         Automation.trigger_type.in_(list(trigger_types)))
                                .order_by(Automation.id)))


def due_actions(session: Session, *, as_of: datetime, limit: int) -> list[int]:
    query = (select(AutomationAction.id).where(AutomationAction.status == "pending",
                                               AutomationAction.due_at <= as_of)
             .order_by(AutomationAction.due_at, AutomationAction.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [int(i) for i in session.scalars(query)]


def actions_of(session: Session, run_ids: list[int]) -> dict[int, list[AutomationAction]]:
    out: dict[int, list[AutomationAction]] = {i: [] for i in run_ids}
    if run_ids:
        for row in session.scalars(select(AutomationAction).where(AutomationAction.run_id.in_(run_ids))
                                   .order_by(AutomationAction.run_id, AutomationAction.position)):
            out[row.run_id].append(row)
    return out

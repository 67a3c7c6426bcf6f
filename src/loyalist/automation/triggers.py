"""Which customers a trigger selects now, each with the instance key that makes its run unique.

Date triggers (birthday, anniversary, holiday, inactivity, points_expiring, churn_risk) are
selected set-based in SQL (`queries`); event triggers (tier_change, nps_detractor,
case_resolved, custom_event) match timeline rows newer than the automation's high-water mark.

Instance keys, and so "once per instance":
- birthday-2027 / anniversary-2027: once a year; holiday-<code>-<date>: once per holiday date;
- inactive-<date of the last purchase>: once per period of silence (a new purchase starts a new one);
- expiry-<first expiry date>: once per batch of points about to lapse;
- churn-<date of the score computation>: once per upward crossing of the threshold;
- interaction-<id>: once per timeline event.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from loyalist.automation import calendar, queries
from loyalist.automation.schemas import Candidate, TriggerSpec

TIMELINE_KINDS = {"tier_change": "tier_change", "nps_detractor": "survey_answer", "case_resolved": "case_update",
                  "custom_event": "custom"}
SCAN_BATCH = 1000
# How long after its insert a timeline row may still become visible (a transaction committing
# late on PostgreSQL): rows this young are scanned again even when the mark has passed them.
SETTLE_WINDOW = timedelta(minutes=5)


def _zones(session: Session, business_tz: str) -> Iterator[tuple[str | None, Any]]:
    for name in queries.timezones(session):
        yield name, calendar.zone(name, business_tz)


def _targets(as_of: datetime, tz: Any, spec: TriggerSpec) -> list[date]:
    """Local days the trigger is due for: today (minus catch-up days), shifted by days_before."""
    return [d + timedelta(days=spec.days_before) for d in calendar.window(as_of, tz, spec.catch_up_days)]


def birthday(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    out: list[Candidate] = []
    for name, tz in _zones(session, business_tz):
        targets = _targets(as_of, tz, spec)
        pairs = set().union(*(calendar.month_days_on(t) for t in targets))
        for customer_id, born in queries.birthdays_on(session, name, pairs):
            for t in targets:
                if calendar.falls_on(born.month, born.day, t):
                    out.append(Candidate(customer_id=customer_id, instance_key=f"birthday-{t.year}",
                                         data={"birthday_on": t.isoformat(), "age": t.year - born.year}))
                    break
    return out


def anniversary(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    out: list[Candidate] = []
    for name, tz in _zones(session, business_tz):
        targets = _targets(as_of, tz, spec)
        # the UTC join day may differ from the local one by a day either way: pre-select with slack
        slack = {t + timedelta(days=k) for t in targets for k in (-1, 0, 1)}
        pairs = set().union(*(calendar.month_days_on(t) for t in slack))
        for customer_id, joined in queries.joined_around(session, name, pairs):
            local = calendar.local_day(joined, tz)
            for t in targets:
                if t.year > local.year and calendar.falls_on(local.month, local.day, t):
                    out.append(Candidate(customer_id=customer_id, instance_key=f"anniversary-{t.year}",
                                         data={"anniversary_on": t.isoformat(), "years": t.year - local.year}))
                    break
    return out


def holiday(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    code = spec.holiday or ""
    out: list[Candidate] = []
    for name, tz in _zones(session, business_tz):
        targets = _targets(as_of, tz, spec)
        days = queries.holidays_between(session, code, min(targets), max(targets))
        for h in days:
            if h.day in targets:
                key = f"holiday-{code}-{h.day.isoformat()}"
                out.extend(Candidate(customer_id=cid, instance_key=key,
                                     data={"holiday": code, "holiday_name": h.name, "holiday_on": h.day.isoformat()})
                           for cid in queries.active_in_zone(session, name))
    return out


def inactivity(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    days = spec.days or 0
    not_before = as_of - timedelta(days=spec.max_days) if spec.max_days else None
    return [Candidate(customer_id=cid, instance_key=f"inactive-{last.date().isoformat()}",
                      data={"last_purchase_at": last.isoformat(), "days_inactive": (as_of - last).days})
            for cid, last in queries.last_purchases(session, before=as_of - timedelta(days=days),
                                                    not_before=not_before)]


def points_expiring(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    until = as_of + timedelta(days=spec.days or 0)
    return [Candidate(customer_id=cid, instance_key=f"expiry-{first.date().isoformat()}",
                      data={"expiring_points": points, "expires_at": first.isoformat()})
            for cid, first, points in queries.expiring_lots(session, after=as_of, until=until)]


def churn_risk(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    threshold = spec.threshold or 1.0
    return [Candidate(customer_id=cid, instance_key=f"churn-{computed.date().isoformat()}",
                      data={"churn_risk": risk, "previous_churn_risk": prev, "threshold": threshold})
            for cid, risk, prev, computed in queries.churn_crossings(session, threshold)]


DATE_SELECTORS = {"birthday": birthday, "anniversary": anniversary, "holiday": holiday, "inactivity": inactivity,
                  "points_expiring": points_expiring, "churn_risk": churn_risk}


def date_candidates(session: Session, spec: TriggerSpec, as_of: datetime, business_tz: str) -> list[Candidate]:
    return DATE_SELECTORS[spec.type](session, spec, as_of, business_tz)


def event_matches(spec: TriggerSpec, kind: str, data: dict[str, Any] | None) -> bool:
    """Whether one timeline row is an instance of the event trigger."""
    data = data or {}
    if kind != TIMELINE_KINDS.get(spec.type):
        return False
    if spec.type == "nps_detractor":
        return data.get("nps_category") == "detractor"
    if spec.type == "case_resolved":
        return data.get("to") == "resolved"
    if spec.type == "custom_event":
        return spec.event_type is None or data.get("event_type") == spec.event_type
    if spec.type == "tier_change":
        if spec.to_tier is not None and data.get("to_code") != spec.to_tier:
            return False
        if spec.direction is not None:
            before, after = data.get("from_rank"), data.get("to_rank")
            before = -1 if before is None else int(before)
            after = -1 if after is None else int(after)
            return after > before if spec.direction == "up" else after < before
        return True
    return False


def event_candidates(session: Session, spec: TriggerSpec, *, after_id: int, limit: int = SCAN_BATCH,
                     until_id: int | None = None) -> tuple[list[tuple[int, Candidate | None]], int]:
    """(interaction id, candidate or None when it does not match) for the rows after the mark
    (up to `until_id` when given), and the highest id scanned (the new mark when every match is
    processed)."""
    rows = queries.interactions_after(session, after_id=after_id, kinds=[TIMELINE_KINDS[spec.type]], limit=limit,
                                      until_id=until_id)
    out: list[tuple[int, Candidate | None]] = []
    high = after_id
    for row in rows:
        high = max(high, int(row.id))
        data = row.data if isinstance(row.data, dict) else None
        if event_matches(spec, row.kind, data):
            out.append((int(row.id), Candidate(customer_id=int(row.customer_id), instance_key=f"interaction-{row.id}",
                                               data={"interaction_id": int(row.id), "kind": row.kind,
                                                     **{k: v for k, v in (data or {}).items()
                                                        if isinstance(v, (str, int, float, bool)) or v is None}})))
        else:
            out.append((int(row.id), None))
    return out, high

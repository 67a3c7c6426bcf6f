"""Event ingestion and earning rules: events in, points out.

One event, one transaction step (the caller's unit of work):
1. replay check on UNIQUE(source, idempotency_key): same payload hash -> the stored outcome,
   other payload -> IdempotencyConflict (409);
2. the event row, then its domain effect (purchase stored, return refunded and clawed back);
3. the rule engine (`engine.evaluate`) -> awards, cut by caps and by campaign budgets, whose
   consumption is a guarded atomic UPDATE (never over-spent under concurrency);
4. one ledger earn per (customer, pending period, expiry) group of awards, idempotent on
   `events:<event id>:<customer>:<pending>:<expiry>`;
5. a timeline row per customer touched, an audit row, and an immediate tier evaluation.

Dry-run runs the very same path inside a savepoint that is rolled back, so its arithmetic can
never drift from the real one and it provably writes nothing.

Clawback on returns: the points the purchase earned its customer (E) are clawed back in
proportion to the refunded net amount, cumulatively floored so partial returns never take more
than a full return: after a refund, clawed_total = floor(E * refunded / net); this return takes
clawed_total(after) - clawed_total(before). The policy (allow_negative / cap_at_balance) comes
from the setting `clawback_policy` (env `LOYALIST_CLAWBACK_POLICY`, default allow_negative;
an unknown value is refused at start-up).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.config import Settings, get_settings
from loyalist.customers import service as customers
from loyalist.db import execute_together, insert_once
from loyalist.errors import DomainError, IdempotencyConflict, NotFound, ValidationFailed
from loyalist.events.engine import Facts, Line, RuleAward, RuleSpec, evaluate
from loyalist.events.models import EarningRule, Event
from loyalist.events.models import RuleAward as RuleAwardRow
from loyalist.events.schemas import (
    PARAMS_BY_KIND,
    Award,
    BatchItemResult,
    BatchResult,
    EventIn,
    EventPage,
    EventRead,
    EventResult,
    RuleCreate,
    RuleKind,
    RuleOutcome,
    RuleRead,
    RuleUpdate,
)
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.purchases import service as purchases
from loyalist.purchases.schemas import PurchaseLineIn, ReturnLineIn
from loyalist.types import Actor, to_money

LEDGER_SOURCE = "events"
_EVENTS = cast(Table, Event.__table__)
_AWARD_INSERT = insert(RuleAwardRow.__table__)
# the event's outcome, written once its points are known (built once: see db.prebuilt_insert)
_EVENT_OUTCOME = (update(_EVENTS).where(_EVENTS.c.id == bindparam("e_id"))
                  .values(points=bindparam("e_points"), outcome=bindparam("e_outcome")))
MAX_CLOCK_SKEW = timedelta(minutes=5)
TIMELINE_KIND = {
    "purchase": "purchase", "return": "return", "refund": "return", "review": "review",
    "referral": "referral", "survey_completed": "survey_answer", "birthday": "points_change",
}


# ------------------------------------------------------------------------------------ helpers


def payload_hash(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an event (sorted keys, no whitespace)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _m(value: Decimal | None) -> str | None:
    return None if value is None else str(to_money(value))


def canonical(
    *, type: str, idempotency_key: str, source: str, customer_id: int | None, customer_external_id: str | None,
    occurred_at: datetime | None, order_ref: str | None = None, currency: str | None = None,
    lines: Iterable[tuple[str | None, str | None, int, Decimal | None, Decimal]] = (),
    net_amount: Decimal | None = None, discount_amount: Decimal | None = None, amount: Decimal | None = None,
    store: str | None = None, channel: str | None = None, referred: tuple[int | None, str | None] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one canonical form of an event, hashed for replay detection by the API and by the
    bulk importer alike: money normalised to 4 places, times to UTC ISO-8601, absent fields
    omitted. So "25" and "25.00", or 11:00+01:00 and 10:00Z, are the same payload."""
    out: dict[str, Any] = {"type": type, "idempotency_key": idempotency_key, "source": source}
    optional = {
        "customer_id": customer_id, "customer_external_id": customer_external_id,
        "occurred_at": None if occurred_at is None else occurred_at.astimezone(UTC).isoformat(),
        "order_ref": order_ref, "currency": currency, "net_amount": _m(net_amount),
        "discount_amount": _m(discount_amount), "amount": _m(amount), "store": store, "channel": channel,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    line_list = [{"sku": sku, "category": cat, "quantity": qty, "unit_price": _m(price), "discount": _m(disc)}
                 for sku, cat, qty, price, disc in lines]
    if line_list:
        out["lines"] = line_list
    if referred is not None:
        out["referred"] = {"customer_id": referred[0], "external_id": referred[1]}
    if data:
        out["data"] = data
    return out


def canonical_payload(data: EventIn) -> dict[str, Any]:
    return canonical(
        type=data.type, idempotency_key=data.idempotency_key, source=data.source, customer_id=data.customer_id,
        customer_external_id=data.customer_external_id, occurred_at=data.occurred_at, order_ref=data.order_ref,
        currency=data.currency, lines=[(li.sku, li.category, li.quantity, li.unit_price, li.discount)
                                       for li in data.lines],
        net_amount=data.net_amount, discount_amount=data.discount_amount, amount=data.amount, store=data.store,
        channel=data.channel,
        referred=(data.referred.customer_id, data.referred.external_id) if data.referred else None,
        data=audit.jsonable(data.data) if data.data else None)


def business_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def add_months(value: datetime, months: int) -> datetime:
    """Same day-of-month `months` later (clamped to the month's last day)."""
    year, month0 = divmod(value.month - 1 + months, 12)
    year += value.year
    month = month0 + 1
    for day in (value.day, 30, 29, 28):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def lot_dates(occurred_at: datetime, pending_days: int, expiry_months: int | None) -> tuple[datetime, datetime | None]:
    """(available_at, expires_at) for points earned by an event at `occurred_at`: the pending
    period (e.g. the return window) runs from the event; expiry counts from availability."""
    available_at = occurred_at + timedelta(days=pending_days)
    return available_at, (add_months(available_at, expiry_months) if expiry_months else None)


def timeline_channel(channel: str | None, fallback: str = "api") -> str:
    return channel if channel in interactions.CHANNELS else fallback


def clawback_points(earned: int, net: Decimal, refunded_before: Decimal, refunded_after: Decimal) -> int:
    """Points to claw back for a refund moving `refunded` from before to after (see module doc)."""
    if earned <= 0 or net <= 0:
        return 0
    total_after = earned if refunded_after >= net else int(earned * refunded_after / net)
    total_before = int(earned * refunded_before / net)
    return max(total_after - total_before, 0)


def summary_of(t: str, order_ref: str | None, points: int, clawed: int = 0) -> str:
    if t == "purchase":
        what = f"Purchase {order_ref}"
    elif t in ("return", "refund"):
        what = f"Return on order {order_ref}"
    elif t == "referral":
        what = "Referral"
    else:
        what = t.replace("_", " ").capitalize()
    parts = [what]
    if points:
        parts.append(f"+{points} points")
    if clawed:
        parts.append(f"-{clawed} points clawed back")
    return ", ".join(parts)


# ------------------------------------------------------------------------------------ rules


def _rule_read(row: EarningRule) -> RuleRead:
    return RuleRead.model_validate(row)


def _rule_snapshot(row: EarningRule) -> dict[str, Any]:
    return _rule_read(row).model_dump(mode="json", exclude={"created_at", "updated_at"})


def create_rule(session: Session, *, data: RuleCreate, actor: Actor) -> RuleRead:
    now = clock.now()
    row = EarningRule(
        name=data.name, kind=data.kind.value, event_types=list(data.event_types or []), priority=data.priority,
        stacking=data.stacking.value, active=data.active, starts_at=data.starts_at, ends_at=data.ends_at,
        conditions=data.conditions.model_dump(mode="json", exclude_none=True), params=data.params,
        cap_per_day=data.cap_per_day, cap_per_month=data.cap_per_month, budget_total=data.budget_total,
        budget_used=0, pending_days=data.pending_days, expiry_months=data.expiry_months,
        created_at=now, updated_at=now,
    )
    session.add(row)
    session.flush()
    _rules_written(session)
    audit.record(session, actor=actor, action="rule.create", target_type="earning_rule", target_id=row.id,
                 after=_rule_snapshot(row))
    return _rule_read(row)


def _rule_row(session: Session, rule_id: int) -> EarningRule:
    row = session.get(EarningRule, rule_id)
    if row is None:
        raise NotFound(f"rule {rule_id} not found", field="rule_id")
    return row


def get_rule(session: Session, rule_id: int) -> RuleRead:
    return _rule_read(_rule_row(session, rule_id))


def list_rules(session: Session, *, active: bool | None = None) -> list[RuleRead]:
    query = select(EarningRule).order_by(EarningRule.priority.desc(), EarningRule.id)
    if active is not None:
        query = query.where(EarningRule.active == active)
    return [_rule_read(r) for r in session.scalars(query)]


def update_rule(session: Session, *, rule_id: int, data: RuleUpdate, actor: Actor) -> RuleRead:
    row = _rule_row(session, rule_id)
    before = _rule_snapshot(row)
    changes = data.model_dump(exclude_unset=True)
    merged = {**before, **{k: v for k, v in data.model_dump(mode="json", exclude_unset=True).items()}}
    merged.pop("id", None)
    merged.pop("budget_used", None)
    if data.params is not None:
        try:
            PARAMS_BY_KIND[RuleKind(row.kind)].model_validate(data.params)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(["params", *(str(p) for p in err["loc"])])
            raise ValidationFailed(f"{field}: {err['msg']}", field=field) from exc
    try:  # validate the resulting rule as a whole (params against kind, window order...)
        valid = RuleCreate.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        raise ValidationFailed(f"{field}: {err['msg']}", field=field) from exc
    for key in changes:
        if key == "conditions":
            row.conditions = valid.conditions.model_dump(mode="json", exclude_none=True)
        elif key == "params":
            row.params = valid.params
        elif key == "stacking":
            row.stacking = valid.stacking.value
        else:
            setattr(row, key, getattr(valid, key))
    row.updated_at = clock.now()
    session.flush()
    _rules_written(session)
    audit.record(session, actor=actor, action="rule.update", target_type="earning_rule", target_id=row.id,
                 before=before, after=_rule_snapshot(row))
    return _rule_read(row)


def delete_rule(session: Session, *, rule_id: int, actor: Actor) -> RuleRead:
    """Retire a rule. A rule that ever awarded points is only deactivated (its awards and the
    events' outcomes keep pointing at it); an unused one is deleted."""
    row = _rule_row(session, rule_id)
    before = _rule_snapshot(row)
    used = session.scalar(select(RuleAwardRow.id).where(RuleAwardRow.rule_id == rule_id).limit(1))
    read = _rule_read(row)
    if used is None:
        session.delete(row)
        read.active = False
        action = "rule.delete"
    else:
        row.active = False
        row.updated_at = clock.now()
        read = _rule_read(row)
        action = "rule.deactivate"
    session.flush()
    _rules_written(session)
    audit.record(session, actor=actor, action=action, target_type="earning_rule", target_id=rule_id, before=before)
    return read


# Active rules, parsed, per database, for `config_cache_seconds`: every accrual needs them, they
# change rarely. A rule written in this process clears the cache at once and again when its
# transaction commits (a reader that refilled it in between saw the old rules), and the writing
# session itself always reads fresh. Other processes see a change within the TTL. Budgets and caps
# are never cached: they are counted in the database (guarded UPDATE, rule_awards).
_RULES_CACHE: dict[str, tuple[float, list[RuleSpec]]] = {}
_RULES_WRITTEN = "loyalist.rules_written"


def invalidate_rule_cache() -> None:
    _RULES_CACHE.clear()


def _cache_key(session: Session) -> str:
    bind = session.get_bind()
    return bind.engine.url.render_as_string(hide_password=True)


def _end_of_rule_write(session: Session, *args: Any) -> None:
    session.info.pop(_RULES_WRITTEN, None)
    invalidate_rule_cache()


def _rules_written(session: Session) -> None:
    """Called by every rule write: see `_RULES_CACHE`."""
    session.info[_RULES_WRITTEN] = True
    invalidate_rule_cache()
    for name in ("after_commit", "after_rollback"):
        if not sa_event.contains(session, name, _end_of_rule_write):
            sa_event.listen(session, name, _end_of_rule_write)


def active_rule_specs(session: Session, *, max_age: float = 0.0) -> list[RuleSpec]:
    """The active rules; reused for up to `max_age` seconds (see `_RULES_CACHE`), 0 = read now."""
    use_cache = max_age > 0 and not session.info.get(_RULES_WRITTEN)
    if use_cache:
        key = _cache_key(session)
        hit = _RULES_CACHE.get(key)
        if hit is not None and time.monotonic() - hit[0] < max_age:
            return hit[1]
    started = time.monotonic()
    rows = session.scalars(select(EarningRule).where(EarningRule.active.is_(True))).all()
    specs = [RuleSpec.from_row(r) for r in rows]
    if use_cache:
        _RULES_CACHE[key] = (started, specs)
    return specs


def rules_need_tier(rules: Iterable[RuleSpec]) -> bool:
    return any(r.conditions.tiers is not None or (r.kind == RuleKind.multiplier and r.params.use_tier_multiplier)
               for r in rules)


class DbUsage:
    """Caps and budgets read from `rule_awards`/`earning_rules` in the current transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _sum(self, *conds: Any) -> int:
        return int(self.session.scalar(select(func.coalesce(func.sum(RuleAwardRow.points), 0)).where(*conds)) or 0)

    def day_total(self, rule_id: int, customer_id: int, day: date) -> int:
        return self._sum(RuleAwardRow.rule_id == rule_id, RuleAwardRow.customer_id == customer_id,
                         RuleAwardRow.local_day == day)

    def month_total(self, rule_id: int, customer_id: int, month: str) -> int:
        return self._sum(RuleAwardRow.rule_id == rule_id, RuleAwardRow.customer_id == customer_id,
                         RuleAwardRow.local_month == month)

    def year_count(self, rule_id: int, customer_id: int, year: int) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(RuleAwardRow).where(
                RuleAwardRow.rule_id == rule_id, RuleAwardRow.customer_id == customer_id,
                RuleAwardRow.local_month.like(f"{year:04d}-%"))) or 0)

    def budget_used(self, rule_id: int) -> int:
        return int(self.session.scalar(select(EarningRule.budget_used).where(EarningRule.id == rule_id)) or 0)


def _reserve_budget(session: Session, rule: RuleSpec, points: int) -> int:
    """Atomically take up to `points` from the rule's budget; returns what was granted."""
    if rule.budget_total is None:
        return points
    for _ in range(5):
        done = session.execute(
            update(EarningRule).where(EarningRule.id == rule.id,
                                      EarningRule.budget_used + points <= EarningRule.budget_total)
            .values(budget_used=EarningRule.budget_used + points)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if done:
            return points
        used = session.scalar(select(EarningRule.budget_used).where(EarningRule.id == rule.id)) or 0
        points = min(points, max(rule.budget_total - int(used), 0))
        if points == 0:
            return 0
    return 0


# ------------------------------------------------------------------------------------ events


def _resolve(session: Session, *, customer_id: int | None, external_id: str | None, field_id: str, field_ext: str,
             create: bool, actor: Actor) -> int:
    try:
        if customer_id is None and external_id is not None and create:
            return customers.ensure_customer(session, external_id=external_id, actor=actor)
        return customers.resolve_customer_id(session, customer_id=customer_id, external_id=external_id)
    except DomainError as exc:
        field = field_id if customer_id is not None else field_ext
        raise type(exc)(exc.message.replace("external_id", field) if customer_id is None else exc.message,
                        field=field) from exc


def _replay_of(session: Session, data: EventIn, digest: str) -> EventResult | None:
    """The stored outcome of the event with this key (same payload), None if there is none;
    IdempotencyConflict when the key was used for another payload."""
    existing = session.scalar(select(Event).where(Event.source == data.source,
                                                  Event.idempotency_key == data.idempotency_key))
    if existing is None:
        return None
    if existing.payload_hash != digest:
        raise IdempotencyConflict(f"idempotency_key {data.idempotency_key!r} was already used with another "
                                  "payload", field="idempotency_key")
    return _stored_result(existing, replayed=True)


def _stored_result(event: Event, *, replayed: bool) -> EventResult:
    result = EventResult.model_validate(event.outcome)
    result.replayed = replayed
    return result


def _tier_of(session: Session, customer_id: int) -> tuple[str | None, Decimal | None]:
    from loyalist.tiers import service as tiers

    status = tiers.current_tier(session, customer_id)
    return (status.code, status.multiplier) if status is not None else (None, None)


def tiers_of(session: Session, customer_ids: Iterable[int]) -> dict[int, tuple[str | None, Decimal | None]]:
    """`_tier_of` for many customers (bulk import): one query per 1,000 instead of one each."""
    from loyalist.tiers import service as tiers

    ids = list(customer_ids)
    found = tiers.current_tiers(session, ids)
    return {c: ((found[c].code, found[c].multiplier) if c in found else (None, None)) for c in ids}


def ingest(
    session: Session,
    *,
    data: EventIn,
    actor: Actor,
    settings: Settings | None = None,
    create_customers: bool = False,
) -> EventResult:
    """Record one event and award its points (see module doc). `result.replayed` tells a replay."""
    settings = settings or get_settings()
    payload = canonical_payload(data)
    digest = payload_hash(payload)
    try:
        customer_id = _resolve(session, customer_id=data.customer_id, external_id=data.customer_external_id,
                               field_id="customer_id", field_ext="customer_external_id", create=create_customers,
                               actor=actor)
        now = clock.now()
        occurred_at = data.occurred_at.astimezone(UTC) if data.occurred_at else now
        if occurred_at > now + MAX_CLOCK_SKEW:
            raise ValidationFailed("occurred_at: is in the future", field="occurred_at")
    except DomainError:
        # Refused now, but possibly the replay of an event accepted earlier: answer that.
        replay = _replay_of(session, data, digest)
        if replay is not None:
            return replay
        raise
    # The event row is the idempotency guard: INSERT ... ON CONFLICT DO NOTHING in one statement;
    # no row back means the key is taken (earlier, or by a concurrent request): a replay.
    event_id = insert_once(session, _EVENTS, {
        "source": data.source, "idempotency_key": data.idempotency_key, "type": data.type,
        "customer_id": customer_id, "occurred_at": occurred_at, "received_at": now, "payload": payload,
        "payload_hash": digest, "points": 0, "outcome": {}}, unique=["source", "idempotency_key"])
    if event_id is None:
        replay = _replay_of(session, data, digest)
        assert replay is not None
        return replay

    zone = business_zone(settings)
    local_day = occurred_at.astimezone(zone).date()
    facts = Facts(type=data.type, customer_id=customer_id, occurred_at=occurred_at, local_day=local_day,
                  currency=data.currency, store=data.store, channel=data.channel)
    purchase_id: int | None = None
    clawed = 0
    entry_ids: list[int] = []
    timeline_data: dict[str, Any] = {"event_id": event_id, "event_type": data.type}

    if data.type == "purchase":
        lines = [PurchaseLineIn(sku=li.sku, category=li.category, quantity=li.quantity,
                                unit_price=li.unit_price or Decimal("0"), discount=li.discount) for li in data.lines]
        bought = purchases.record_purchase(
            session, customer_id=customer_id, order_ref=data.order_ref or "", occurred_at=occurred_at,
            currency=data.currency or settings.default_currency, lines=lines, net_amount=data.net_amount,
            discount_amount=data.discount_amount, store=data.store, channel=data.channel, event_id=event_id)
        purchase_id = bought.id
        facts.currency = bought.currency
        facts.net_amount = bought.net_amount
        facts.lines = [Line(sku=li.sku, category=li.category, net=li.line_total) for li in bought.lines]
        timeline_data.update(order_ref=bought.order_ref, net_amount=bought.net_amount, currency=bought.currency)
    elif data.type in ("return", "refund"):
        before = purchases.get_purchase_by_ref(session, data.order_ref or "")
        if before.customer_id != customer_id:
            raise ValidationFailed(f"order {data.order_ref!r} belongs to another customer", field="order_ref")
        returned = purchases.record_return(
            session, order_ref=before.order_ref, occurred_at=occurred_at, amount=data.amount,
            lines=[ReturnLineIn(sku=li.sku or "", quantity=li.quantity) for li in data.lines], event_id=event_id)
        purchase_id = before.id
        facts.currency = before.currency
        facts.net_amount = returned.amount
        earned = 0
        if before.event_id is not None:
            source_event = session.get(Event, before.event_id)
            if source_event is not None:
                earned = sum(a["points"] for a in source_event.outcome.get("awards", [])
                             if a["customer_id"] == customer_id)
        clawed = clawback_points(earned, before.net_amount, before.refunded_amount, returned.refunded_amount)
        if clawed:
            entry = ledger.clawback(
                session, customer_id=customer_id, points=clawed, source=LEDGER_SOURCE,
                idempotency_key=f"event:{event_id}:clawback",
                reason=f"Return on order {before.order_ref}: {returned.amount} of {before.net_amount} "
                       f"{before.currency} refunded",
                actor=actor, reference_type="event", reference_id=str(before.event_id), policy=settings.clawback_policy)
            entry_ids.append(entry.id)
        timeline_data.update(order_ref=before.order_ref, refunded=returned.amount, currency=before.currency,
                             clawed_back=clawed)
    elif data.type == "referral":
        assert data.referred is not None
        referred = _resolve(session, customer_id=data.referred.customer_id, external_id=data.referred.external_id,
                            field_id="referred.customer_id", field_ext="referred.external_id",
                            create=create_customers, actor=actor)
        if referred == customer_id:
            raise ValidationFailed("a customer cannot refer themselves", field="referred")
        facts.referred_customer_id = referred
        timeline_data["referred_customer_id"] = referred

    rules = active_rule_specs(session, max_age=settings.config_cache_seconds)
    if rules_need_tier(rules):
        facts.tier_code, facts.tier_multiplier = _tier_of(session, customer_id)
    awards, outcomes = evaluate(rules, facts, DbUsage(session))
    awards, outcomes = _commit_awards(session, awards, outcomes, event_id=event_id, local_day=local_day)

    per_customer: dict[int, int] = {}
    for award in awards:
        per_customer[award.customer_id] = per_customer.get(award.customer_id, 0) + award.points
    entry_ids += _post_earnings(session, awards, event_id=event_id, occurred_at=occurred_at, data=data,
                                actor=actor)
    points = per_customer.get(customer_id, 0)

    channel = timeline_channel(data.channel)
    kind = TIMELINE_KIND.get(data.type, "custom")
    # The timeline rows, the event's outcome and the audit row need nothing back: one round trip.
    timeline = [dict(customer_id=customer_id, kind=kind, channel=channel,
                     summary=summary_of(data.type, data.order_ref, points, clawed), direction="inbound",
                     occurred_at=occurred_at, actor=actor, source_type="event", source_id=str(event_id),
                     data={**timeline_data, "points": points})]
    for other, pts in per_customer.items():
        if other != customer_id:
            timeline.append(dict(
                customer_id=other, kind=kind, channel=channel, summary=f"Referral bonus, +{pts} points",
                direction="inbound", occurred_at=occurred_at, actor=actor, source_type="event",
                source_id=str(event_id),
                data={"event_id": event_id, "event_type": data.type, "points": pts,
                      "referrer_customer_id": customer_id}))
    writes = [interactions.insert_statement(timeline)]

    result = EventResult(
        event_id=event_id, type=data.type, source=data.source, idempotency_key=data.idempotency_key,
        customer_id=customer_id, occurred_at=occurred_at, points=points,
        awards=[Award(customer_id=c, points=p) for c, p in per_customer.items()], clawed_back=clawed,
        rules=outcomes, purchase_id=purchase_id, ledger_entry_ids=entry_ids)
    writes.append(audit.record_statement(
        actor=actor, action="event.ingest", target_type="event", target_id=event_id,
        after={"type": data.type, "customer_id": customer_id, "points": points, "clawed_back": clawed,
               "idempotency_key": data.idempotency_key, "source": data.source}))
    writes.append((_EVENT_OUTCOME, {"e_id": event_id, "e_points": points,
                                    "e_outcome": result.model_dump(mode="json", exclude={"replayed", "dry_run"})}))
    execute_together(session, writes)
    from loyalist.tiers import service as tiers

    if (data.type in ("purchase", "return", "refund") or per_customer) and tiers.any_active_tier(
            session, max_age=settings.config_cache_seconds):
        for cid in {customer_id, *per_customer}:
            tiers.evaluate_customer(session, customer_id=cid, actor=actor)
    return result


def _commit_awards(
    session: Session, awards: list[RuleAward], outcomes: list[RuleOutcome], *, event_id: int, local_day: date
) -> tuple[list[RuleAward], list[RuleOutcome]]:
    """Take budgets atomically, then write one `rule_awards` row per award."""
    final: list[RuleAward] = []
    by_rule = {o.rule_id: o for o in outcomes}
    for award in awards:
        granted = _reserve_budget(session, award.rule, award.points)
        if granted != award.points:
            out = by_rule[award.rule.id]
            out.points -= award.points - granted
            out.arithmetic = f"{out.arithmetic}; budget exhausted: {granted} granted"
            out.fired = out.points > 0
            if not out.fired:
                out.reason = "budget exhausted"
        if granted > 0:
            final.append(RuleAward(rule=award.rule, customer_id=award.customer_id, points=granted))
    if final:
        rows = [{"rule_id": a.rule.id, "customer_id": a.customer_id, "event_id": event_id, "points": a.points,
                 "local_day": local_day, "local_month": local_day.strftime("%Y-%m")} for a in final]
        # one row as plain parameters: executemany's batching machinery buys nothing for one row
        session.execute(_AWARD_INSERT, rows[0] if len(rows) == 1 else rows)
    return final, outcomes


def earning_groups(awards: list[RuleAward]) -> dict[tuple[int, int, int | None], list[RuleAward]]:
    """Awards grouped into ledger credits: one lot per (customer, pending days, expiry months)."""
    groups: dict[tuple[int, int, int | None], list[RuleAward]] = {}
    for a in awards:
        groups.setdefault((a.customer_id, a.rule.pending_days, a.rule.expiry_months), []).append(a)
    return groups


def earn_reason(data_type: str, rules: list[RuleAward]) -> str:
    names = ", ".join(sorted({a.rule.name for a in rules}))
    return f"{data_type} event: {names}"[:500]


def _post_earnings(session: Session, awards: list[RuleAward], *, event_id: int, occurred_at: datetime,
                   data: EventIn, actor: Actor) -> list[int]:
    ids: list[int] = []
    for (cid, pending_days, expiry_months), group in earning_groups(awards).items():
        available_at, expires_at = lot_dates(occurred_at, pending_days, expiry_months)
        entry = ledger.earn(
            session, customer_id=cid, points=sum(a.points for a in group), source=LEDGER_SOURCE,
            idempotency_key=f"event:{event_id}:{cid}:{pending_days}:{expiry_months or 0}",
            reason=earn_reason(data.type, group), actor=actor, available_at=available_at, expires_at=expires_at,
            reference_type="event", reference_id=str(event_id),
            payload={"rules": sorted(a.rule.id for a in group)}, occurred_at=occurred_at, record_timeline=False)
        ids.append(entry.id)
    return ids


def dry_run(session: Session, *, data: EventIn, actor: Actor, settings: Settings | None = None) -> EventResult:
    """What `ingest` would do, computed by `ingest` itself inside a savepoint rolled back after."""
    nested = session.begin_nested()
    try:
        result = ingest(session, data=data, actor=actor, settings=settings, create_customers=False)
    finally:
        nested.rollback()
    session.expire_all()
    result.dry_run = True
    if not result.replayed:
        result.event_id = None
        result.purchase_id = None
        result.ledger_entry_ids = []
    return result


def _error_body(exc: Exception) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, DomainError):
        return exc.status_code, exc.to_dict()
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "body"
        return 422, {"code": "validation_failed", "message": f"{field}: {err['msg']}", "field": field}
    raise exc


def ingest_batch(session: Session, *, items: list[dict[str, Any]], actor: Actor,
                 settings: Settings | None = None) -> BatchResult:
    """All-or-nothing batch: every item is validated and applied in one savepoint; if any item
    fails, the savepoint is rolled back (nothing of the batch is kept) and every item's verdict is
    still reported, each error naming its index and field."""
    results: list[BatchItemResult] = []
    created = replayed = failed = 0
    nested = session.begin_nested()
    try:
        for index, raw in enumerate(items):
            try:
                data = EventIn.model_validate(raw)
                with session.begin_nested():
                    result = ingest(session, data=data, actor=actor, settings=settings)
            except (DomainError, ValidationError) as exc:
                status, body = _error_body(exc)
                failed += 1
                results.append(BatchItemResult(index=index, ok=False, status=status, error=body))
                continue
            if result.replayed:
                replayed += 1
            else:
                created += 1
            results.append(BatchItemResult(index=index, ok=True, status=200 if result.replayed else 201,
                                           result=result))
    except BaseException:
        nested.rollback()
        raise
    if failed:
        nested.rollback()
        session.expire_all()
    else:
        nested.commit()
    return BatchResult(committed=failed == 0, created=created if not failed else 0,
                       replayed=replayed if not failed else 0, failed=failed, items=results)


def list_events(session: Session, *, customer_id: int | None = None, type: str | None = None,
                limit: int = 50, offset: int = 0) -> EventPage:
    query = select(Event)
    if customer_id is not None:
        query = query.where(Event.customer_id == customer_id)
    if type is not None:
        query = query.where(Event.type == type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit).offset(offset))
    return EventPage(items=[EventRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


def validate_params(kind: RuleKind, params: dict[str, Any]) -> dict[str, Any]:
    return PARAMS_BY_KIND[kind].model_validate(params).model_dump(mode="json")


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Events and rule awards follow the surviving customer (caps then count them together)."""
    session.execute(update(Event).where(Event.customer_id == duplicate_id).values(customer_id=survivor_id)
                    .execution_options(synchronize_session=False))
    session.execute(update(RuleAwardRow).where(RuleAwardRow.customer_id == duplicate_id)
                    .values(customer_id=survivor_id).execution_options(synchronize_session=False))
    session.flush()


def export_events(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """GDPR export section: the customer's events as received, with their outcome."""
    rows = session.scalars(select(Event).where(Event.customer_id == customer_id).order_by(Event.id))
    return [EventRead.model_validate(r).model_dump(mode="json") for r in rows]


def _register_hooks() -> None:
    from loyalist.customers import hooks

    hooks.register_merge_handler(_merge_handler)
    hooks.register_export_section("events", export_events)


_register_hooks()

"""Personalised offers: definitions, issuing (manual, audience, birthday, campaign), redemption of
offer codes at the till, bonus-point claims, event invitations with RSVP and a waitlist.

Why it is built this way:
- Every issue has an `issue_key` (UNIQUE): birthday ``birthday:<offer>:<customer>:<year>``,
  campaign ``campaign:<campaign>:<customer>``, audience run ``audience:<offer>:<customer>``,
  manual issues take the caller's key. Re-running any job or retrying a request never issues twice;
  the same key for another customer/offer is an IdempotencyConflict.
- Codes (percent / amount discounts and catalogue vouchers) belong to the offer issue and move
  from ``issued`` to ``redeemed`` by one guarded UPDATE, so a code is used at most once even when
  two tills scan it together. The rewards domain only issues vouchers against points; an offer
  voucher is a gift, so the offer code carries the catalogue reward (its name and value) instead.
- Cost is recorded when value is actually given (code redeemed, points claimed), so campaign
  ROI is computed from what was spent, not from what was offered.
- Personalisation by "what this customer values" (customers.values) picks ONE variant by a fixed
  priority (documented in docs/campaigns.md and `VALUE_VARIANTS`):
  personal_attention/greetings/recognition -> personal_greeting; early_access/exclusivity ->
  early_access; discounts -> discount (only when the offer carries a discount, voucher or points);
  gifts -> gift; convenience/service_quality -> convenience; otherwise standard. The
  personal_greeting variant also creates an unassigned staff "greet" task (due within 3 days, or
  by the offer's expiry), because for these customers a person beats a coupon.
- Birthdays are computed in the customer's timezone (else the business timezone). The offer is
  issued from `lead_days` before the birthday up to the birthday itself, once per birthday year.
  Customers born on 29 February celebrate on 28 February in non-leap years.
- RSVP: only 'confirmed' holds a seat. "yes" when the event is full is waitlisted (first come,
  first served by the time of the yes); a confirmed guest who says "no" or "maybe" frees the seat
  and the longest-waiting guest is promoted. The offer row is locked while seats are counted.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import CursorResult, Date, column, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock, db
from loyalist.audit import service as audit
from loyalist.config import get_settings
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerRead
from loyalist.errors import IdempotencyConflict, InvalidState, LimitExceeded, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.offers import recommend as recommender
from loyalist.offers.models import IssuedOffer, Offer, Rsvp
from loyalist.offers.schemas import (
    MAX_ID,
    AudienceIssueResult,
    BirthdayRunResult,
    CustomerOffer,
    IssuedOfferRead,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    Recommendation,
    RsvpRead,
    RsvpSummary,
)
from loyalist.rewards import service as rewards
from loyalist.tasks import service as tasks
from loyalist.types import SYSTEM, Actor, UTCDateTime

LEDGER_SOURCE = "offers"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_REWARDS = ("voucher", "percent", "amount")
GREET_WITHIN_DAYS = 3

# (values that select it, variant) in priority order: the first match wins.
VALUE_VARIANTS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"personal_attention", "greetings", "recognition"}), "personal_greeting"),
    (frozenset({"early_access", "exclusivity"}), "early_access"),
    (frozenset({"discounts"}), "discount"),
    (frozenset({"gifts"}), "gift"),
    (frozenset({"convenience", "service_quality"}), "convenience"),
)


def _changed(session: Session, stmt: Any) -> int:
    result = cast("CursorResult[Any]", session.execute(stmt.execution_options(synchronize_session=False)))
    return result.rowcount


def _refresh_loaded(session: Session, *models: type) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, models):
            session.expire(obj)


# ---------------------------------------------------------------------------------------------
# Definitions
# ---------------------------------------------------------------------------------------------


def _snapshot(row: Offer) -> dict[str, Any]:
    return OfferRead.model_validate(row).model_dump(exclude={"created_at", "updated_at"})


def _check_rules(session: Session, row: Offer) -> None:
    """Cross-field rules, each failure naming its field."""
    if row.reward_type == "voucher":
        if row.reward_id is None:
            raise ValidationFailed("reward_id: required for a voucher offer", field="reward_id")
        try:
            rewards.get_reward(session, row.reward_id)
        except NotFound as exc:
            raise ValidationFailed(f"reward_id: reward {row.reward_id} not found", field="reward_id") from exc
    elif row.reward_id is not None:
        raise ValidationFailed("reward_id: only for reward_type 'voucher'", field="reward_id")
    if row.reward_type == "points" and row.points is None:
        raise ValidationFailed("points: required for a points offer", field="points")
    if row.reward_type != "points" and row.points is not None:
        raise ValidationFailed("points: only for reward_type 'points'", field="points")
    if row.reward_type in ("percent", "amount"):
        if row.discount_value is None:
            raise ValidationFailed(f"discount_value: required for a {row.reward_type} offer", field="discount_value")
        if row.reward_type == "percent" and row.discount_value > 100:
            raise ValidationFailed("discount_value: a percent discount cannot exceed 100", field="discount_value")
    elif row.discount_value is not None:
        raise ValidationFailed("discount_value: only for percent or amount offers", field="discount_value")
    if row.max_discount is not None and row.reward_type != "percent":
        raise ValidationFailed("max_discount: only for percent offers", field="max_discount")
    if row.valid_from is not None and row.valid_until is not None and row.valid_until <= row.valid_from:
        raise ValidationFailed("valid_until: must be after valid_from", field="valid_until")
    if row.kind == "event_invitation":
        if row.event_at is None:
            raise ValidationFailed("event_at: required for an event invitation", field="event_at")
    elif row.capacity is not None:
        raise ValidationFailed("capacity: only for event invitations", field="capacity")
    if row.segment_id is not None and row.rule is not None:
        raise ValidationFailed("rule: give a segment_id or a rule, not both", field="rule")
    if (row.min_purchases is None) != (row.purchase_window_days is None):
        raise ValidationFailed("purchase_window_days: min_purchases and purchase_window_days go together",
                               field="purchase_window_days" if row.purchase_window_days is None
                               else "min_purchases")
    if row.segment_id is not None or row.rule is not None:
        _segment_members(session, row, probe=True)


def _segment_members(session: Session, row: Offer, *, probe: bool = False) -> list[int]:
    """Members of the offer's segment/rule (the segments engine validates the rule)."""
    from loyalist.segments import service as segments  # imported late: segments is built in parallel

    if probe:
        try:
            if row.segment_id is not None:
                segments.get_segment(session, row.segment_id)
            else:
                segments.validate_rule(row.rule)
        except NotFound as exc:
            raise ValidationFailed(f"segment_id: segment {row.segment_id} not found", field="segment_id") from exc
        except ValidationFailed as exc:
            raise ValidationFailed(f"rule: {exc}", field="rule") from exc
        return []
    return segments.member_ids(session, segment_id=row.segment_id, rule=row.rule)


def create_offer(session: Session, *, data: OfferCreate, actor: Actor) -> OfferRead:
    now = clock.now()
    values = data.model_dump()
    for name in ("valid_from", "valid_until", "event_at"):
        if values[name] is not None:
            try:
                values[name] = clock.ensure_utc(values[name])
            except ValueError as exc:
                raise ValidationFailed(f"{name}: must include a timezone", field=name) from exc
    row = Offer(**values, created_at=now, updated_at=now)
    with session.no_autoflush:
        _check_rules(session, row)
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(session, actor=actor, action="offer.create", target_type="offer", target_id=row.id,
                 after=_snapshot(row))
    return OfferRead.model_validate(row)


def _offer_row(session: Session, offer_id: int, *, lock: bool = False) -> Offer:
    row = (session.get(Offer, offer_id, with_for_update=lock, populate_existing=lock)
           if 0 < offer_id <= MAX_ID else None)
    if row is None:
        raise NotFound(f"offer {offer_id} not found", field="offer_id")
    return row


def get_offer(session: Session, offer_id: int) -> OfferRead:
    return OfferRead.model_validate(_offer_row(session, offer_id))


def list_offers(session: Session, *, kind: str | None = None, active: bool | None = None,
                limit: int | None = None, offset: int = 0) -> list[OfferRead]:
    """Offers by id; `limit`/`offset` page the list (the console shows 25 at a time)."""
    q = select(Offer).order_by(Offer.id)
    if kind is not None:
        q = q.where(Offer.kind == kind)
    if active is not None:
        q = q.where(Offer.active == active)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    return [OfferRead.model_validate(r) for r in session.scalars(q)]


def update_offer(session: Session, *, offer_id: int, data: OfferUpdate, actor: Actor) -> OfferRead:
    row = _offer_row(session, offer_id)
    changes = data.model_dump(exclude_unset=True)
    for name in ("name", "description", "per_customer_limit", "active"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name}: may not be null", field=name)
    before = _snapshot(row)
    with session.no_autoflush:
        for name, value in changes.items():
            if name in ("valid_from", "valid_until") and value is not None:
                try:
                    value = clock.ensure_utc(value)
                except ValueError as exc:
                    session.expire(row)
                    raise ValidationFailed(f"{name}: must include a timezone", field=name) from exc
            setattr(row, name, value)
        try:
            _check_rules(session, row)
        except ValidationFailed:
            session.expire(row)
            raise
    row.updated_at = clock.now()
    session.flush()
    session.refresh(row)
    audit.record(session, actor=actor, action="offer.update", target_type="offer", target_id=row.id,
                 before=before, after=_snapshot(row))
    return OfferRead.model_validate(row)


# ---------------------------------------------------------------------------------------------
# Audience
# ---------------------------------------------------------------------------------------------

_PURCHASES = table("purchases", column("id"), column("customer_id"), column("occurred_at", UTCDateTime()))
_SCORES = table("customer_scores", column("customer_id"), column("rfm_segment"))
_CUSTOMERS = table("customers", column("id"), column("status"), column("birthday", Date()), column("timezone"))


def _chunks(ids: list[int], size: int = 1000) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def audience_ids(session: Session, offer_id: int, *, as_of: dt.datetime | None = None) -> list[int]:
    """Active customers the offer may go to, ascending: the segment/rule (else everyone active),
    narrowed by the regulars criteria (purchases in the window, RFM segments). Set-based SQL."""
    row = _offer_row(session, offer_id)
    now = as_of or clock.now()
    if row.segment_id is not None or row.rule is not None:
        ids = _segment_members(session, row)
    else:
        ids = list(session.scalars(select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.status == "active")
                                   .order_by(_CUSTOMERS.c.id)))
    return _regulars_filter(session, row, ids, now)


def _regulars_filter(session: Session, row: Offer, ids: list[int], now: dt.datetime) -> list[int]:
    keep = set(ids)
    if row.min_purchases is not None and row.purchase_window_days is not None:
        since = now - dt.timedelta(days=row.purchase_window_days)
        found: set[int] = set()
        for chunk in _chunks(sorted(keep)):
            found |= set(session.scalars(
                select(_PURCHASES.c.customer_id)
                .where(_PURCHASES.c.customer_id.in_(chunk), _PURCHASES.c.occurred_at > since,
                       _PURCHASES.c.occurred_at <= now)
                .group_by(_PURCHASES.c.customer_id)
                .having(func.count(_PURCHASES.c.id) >= row.min_purchases)))
        keep &= found
    if row.rfm_segments:
        found = set()
        for chunk in _chunks(sorted(keep)):
            found |= set(session.scalars(select(_SCORES.c.customer_id).where(
                _SCORES.c.customer_id.in_(chunk), _SCORES.c.rfm_segment.in_(list(row.rfm_segments)))))
        keep &= found
    return sorted(keep)


def is_eligible(session: Session, *, offer_id: int, customer_id: int, as_of: dt.datetime | None = None) -> bool:
    """Whether one customer is in the offer's audience now."""
    row = _offer_row(session, offer_id)
    now = as_of or clock.now()
    if row.segment_id is not None or row.rule is not None:
        from loyalist.segments import service as segments

        if not segments.matches(session, customer_id=customer_id, segment_id=row.segment_id, rule=row.rule):
            return False
    return _regulars_filter(session, row, [customer_id], now) == [customer_id]


# ---------------------------------------------------------------------------------------------
# Personalisation
# ---------------------------------------------------------------------------------------------


def _money_text(value: Decimal) -> str:
    text = f"{value:.2f}"
    return text[:-3] if text.endswith(".00") else text


def _reward_text(session: Session, offer: OfferRead) -> str:
    if offer.reward_type == "voucher" and offer.reward_id is not None:
        return f"a voucher for {rewards.get_reward(session, offer.reward_id).name}"
    if offer.reward_type == "points":
        return f"{offer.points} bonus points"
    if offer.reward_type == "percent" and offer.discount_value is not None:
        return f"{_money_text(offer.discount_value)}% off"
    if offer.reward_type == "amount" and offer.discount_value is not None:
        return f"{_money_text(offer.discount_value)} {get_settings().default_currency} off"
    return ""


def first_name(customer: CustomerRead) -> str:
    return customer.first_name or customer.display_name or "Hello"


def choose_variant(values: list[str] | set[str], reward_type: str) -> str:
    """The variant for a customer's values (see VALUE_VARIANTS; 'discount' only with a reward)."""
    held = set(values)
    for selectors, variant in VALUE_VARIANTS:
        if held & selectors:
            if variant == "discount" and reward_type == "none":
                continue
            return variant
    return "standard"


def personalise(session: Session, *, offer: OfferRead, customer: CustomerRead, code: str | None = None,
                recommendations: list[Recommendation] | None = None) -> tuple[str, str, str]:
    """(variant, headline, body) for this customer: wording follows what they value."""
    variant = choose_variant(customer.values, offer.reward_type)
    first = first_name(customer)
    reward = _reward_text(session, offer)
    what = {
        "birthday": "for your birthday",
        "regulars_exclusive": "for our regulars only",
        "recommendation": "picked for you",
        "event_invitation": "an invitation",
        "generic": offer.name,
    }[offer.kind]
    if offer.kind == "event_invitation" and offer.event_at is not None:
        where = f" at {offer.location}" if offer.location else ""
        detail = f"You are invited to {offer.name} on {offer.event_at:%Y-%m-%d %H:%M} UTC{where}."
    elif offer.kind == "recommendation" and recommendations:
        detail = "We think you will like: " + ", ".join(r.sku for r in recommendations) + "."
    else:
        detail = f"{offer.name}: {reward} {what}." if reward else f"{offer.name} {what}."
    if reward and offer.kind in ("event_invitation", "recommendation"):
        detail += f" With it: {reward}."
    headline, opening = {
        "personal_greeting": (f"{first}, a personal note from us",
                              f"Dear {first}, we wanted to thank you personally for being with us."),
        "early_access": (f"{first}, you are first in line",
                         "Before anyone else hears about it, we are telling you."),
        "discount": (f"{first}, {reward} for you" if reward else f"{first}, a saving for you",
                     "A saving we set aside for you."),
        "gift": (f"{first}, a gift for you", "A small gift from us, no strings attached."),
        "convenience": (f"{first}, ready when you are",
                        "No printing, no forms: it is already on your account."),
        "standard": (offer.name, f"Hello {first},"),
    }[variant]
    body = f"{opening} {detail}"
    if code:
        body += f" Your code: {code}."
    return variant, headline[:300], body


# ---------------------------------------------------------------------------------------------
# Issuing
# ---------------------------------------------------------------------------------------------


def _new_code(session: Session) -> str:
    while True:
        code = "OF" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
        if session.scalar(select(IssuedOffer.id).where(IssuedOffer.code == code)) is None:
            return code


def _issue_read(row: IssuedOffer) -> IssuedOfferRead:
    return IssuedOfferRead.model_validate(row)


def _replay(row: IssuedOffer, *, offer_id: int, customer_id: int) -> IssuedOfferRead:
    if row.offer_id != offer_id or row.customer_id != customer_id:
        raise IdempotencyConflict(
            f"issue_key: already used for offer {row.offer_id} and customer {row.customer_id}",
            field="issue_key")
    return _issue_read(row)


def _check_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise ValidationFailed("issue_key: 1 to 200 characters required", field="issue_key")
    return key


def _refusal(offer: OfferRead, customer: CustomerRead, now: dt.datetime,
             given: int) -> InvalidState | LimitExceeded | None:
    """Why this customer may not get this offer now (checked before anything is written), or None.
    `given` is how many non-void issues of the offer the customer already holds."""
    if customer.status != "active":
        return InvalidState(f"customer_id: customer {customer.id} is {customer.status}", field="customer_id")
    if not offer.active:
        return InvalidState(f"offer_id: offer {offer.id} is not active", field="offer_id")
    if offer.valid_from is not None and now < offer.valid_from:
        return InvalidState(f"offer_id: offer {offer.id} starts at {offer.valid_from.isoformat()}", field="offer_id")
    if offer.valid_until is not None and now >= offer.valid_until:
        return InvalidState(f"offer_id: offer {offer.id} ended at {offer.valid_until.isoformat()}", field="offer_id")
    if offer.kind == "event_invitation" and offer.event_at is not None and now >= offer.event_at:
        return InvalidState(f"offer_id: the event of offer {offer.id} has already started", field="offer_id")
    # a birthday offer is limited to one per birthday year by its issue key instead
    if offer.kind != "birthday" and given >= offer.per_customer_limit:
        return LimitExceeded(f"customer_id: offer {offer.id} already given to customer {customer.id} "
                             f"{given} time(s) (limit {offer.per_customer_limit})", field="customer_id")
    return None


def _new_issue(session: Session, *, offer: OfferRead, customer: CustomerRead, key: str, code: str | None,
               now: dt.datetime, campaign_id: int | None, expires_at: dt.datetime | None,
               data: dict[str, Any] | None, actor: Actor) -> IssuedOffer:
    """The personalised issue row (not yet added to the session)."""
    recs: list[Recommendation] | None = None
    extra = dict(data or {})
    if offer.kind == "recommendation":
        recs = recommender.recommend(session, customer.id, limit=offer.recommendation_count)
        extra["recommendations"] = [r.model_dump() for r in recs]
    variant, headline, body = personalise(session, offer=offer, customer=customer, code=code, recommendations=recs)
    until = expires_at or now + dt.timedelta(days=offer.code_validity_days)
    if offer.kind == "event_invitation" and offer.event_at is not None:
        until = offer.event_at  # an invitation is answerable until the event starts
    return IssuedOffer(
        offer_id=offer.id, customer_id=customer.id, issue_key=key, variant=variant, headline=headline, body=body,
        code=code, status="issued", issued_at=now, expires_at=until, campaign_id=campaign_id, data=extra,
        actor=actor.label,
    )


def _greet_task(offer: OfferRead, row: IssuedOffer, now: dt.datetime) -> dict[str, Any]:
    """What this customer values is a person, not a coupon: a staff member greets them too."""
    return dict(kind="greet", title=f"Greet personally: {offer.name}", customer_id=row.customer_id,
                assignee_id=None, due_at=min(row.expires_at, now + dt.timedelta(days=GREET_WITHIN_DAYS)),
                source_type="offer_issue", source_id=str(row.id), dedupe_key=f"offer-issue-greet:{row.id}",
                note="The customer values personal attention: a short call or a word in store along with the offer.")


def _issue_audit(row: IssuedOffer) -> dict[str, Any]:
    return {"offer_id": row.offer_id, "customer_id": row.customer_id, "issue_key": row.issue_key,
            "variant": row.variant, "campaign_id": row.campaign_id}


def _issue_timeline(offer: OfferRead, row: IssuedOffer, actor: Actor) -> dict[str, Any]:
    return dict(customer_id=row.customer_id, kind="invitation" if offer.kind == "event_invitation" else "offer",
                channel="system", direction="outbound", occurred_at=row.issued_at, actor=actor,
                summary=f"{row.headline} ({offer.name})", source_type="offer_issue", source_id=str(row.id),
                data={"offer_id": offer.id, "issue_id": row.id, "offer_kind": offer.kind, "variant": row.variant,
                      "code": row.code, "campaign_id": row.campaign_id, "expires_at": row.expires_at.isoformat()})


def _given(session: Session, offer_id: int, customer_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for chunk in _chunks(sorted(set(customer_ids))):
        counts.update({int(c): int(n) for c, n in session.execute(
            select(IssuedOffer.customer_id, func.count()).where(
                IssuedOffer.offer_id == offer_id, IssuedOffer.customer_id.in_(chunk), IssuedOffer.status != "void")
            .group_by(IssuedOffer.customer_id))})
    return counts


def issue_offer(
    session: Session, *, offer_id: int, customer_id: int, actor: Actor, issue_key: str,
    campaign_id: int | None = None, check_audience: bool = True, as_of: dt.datetime | None = None,
    expires_at: dt.datetime | None = None, data: dict[str, Any] | None = None,
) -> IssuedOfferRead:
    """Give the offer to one customer, personalised; idempotent on `issue_key`.

    Refuses (nothing written): unknown offer/customer, inactive offer or outside its window,
    customer not active, not in the audience (unless `check_audience=False`, e.g. a campaign
    that chose its own audience), per-customer limit reached."""
    key = _check_key(issue_key)
    found = session.scalar(select(IssuedOffer).where(IssuedOffer.issue_key == key))
    if found is not None:
        return _replay(found, offer_id=offer_id, customer_id=customer_id)
    offer = OfferRead.model_validate(_offer_row(session, offer_id))
    customer = customers.get_customer(session, customer_id)
    now = as_of or clock.now()
    refused = _refusal(offer, customer, now, _given(session, offer_id, [customer_id]).get(customer_id, 0))
    if refused is not None:
        raise refused
    if check_audience and not is_eligible(session, offer_id=offer_id, customer_id=customer_id, as_of=now):
        raise InvalidState(f"customer_id: customer {customer_id} is not in the audience of offer {offer_id}",
                           field="customer_id")
    code = _new_code(session) if offer.reward_type in CODE_REWARDS else None
    row = _new_issue(session, offer=offer, customer=customer, key=key, code=code, now=now, campaign_id=campaign_id,
                     expires_at=expires_at, data=data, actor=actor)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = session.scalar(select(IssuedOffer).where(IssuedOffer.issue_key == key))
        if found is None:
            raise
        return _replay(found, offer_id=offer_id, customer_id=customer_id)
    if row.variant == "personal_greeting":
        task = tasks.create_task(session, actor=actor, **_greet_task(offer, row, now))
        row.data = {**row.data, "greet_task_id": task.id}
        session.flush()
    audit.record(session, actor=actor, action="offer.issue", target_type="offer_issue", target_id=row.id,
                 after=_issue_audit(row))
    interactions.record(session, **_issue_timeline(offer, row, actor))
    return _issue_read(row)


def _new_codes(session: Session, n: int) -> list[str]:
    """`n` distinct fresh codes, checked against the table in one query per 1,000."""
    codes: dict[str, None] = {}
    while len(codes) < n:
        batch = [c for c in dict.fromkeys("OF" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))
                                          for _ in range(n - len(codes))) if c not in codes]
        for start in range(0, len(batch), 1000):
            chunk = batch[start:start + 1000]
            taken = set(session.scalars(select(IssuedOffer.code).where(IssuedOffer.code.in_(chunk))))
            codes.update((c, None) for c in chunk if c not in taken)
    return list(codes)


def issue_offers(
    session: Session, *, offer_id: int, requests: list[tuple[int, str]], actor: Actor,
    campaign_id: int | None = None, check_audience: bool = True, as_of: dt.datetime | None = None,
    limit: int | None = None,
) -> list[IssuedOfferRead | InvalidState | LimitExceeded | None]:
    """`issue_offer` for many (customer id, issue key) pairs in a constant number of statements per
    1,000 customers (with `check_audience` the audience test still costs a query per customer).

    Same rows, greet tasks, audit rows and timeline entries as one `issue_offer` per pair, in the
    order given. Per pair the result is the issue (a replay for a key already used) or the refusal
    `issue_offer` would have raised (InvalidState / LimitExceeded), returned rather than raised so
    the caller decides; anything else (unknown offer or customer, bad key, a key used for another
    customer) raises and writes nothing. With `limit` (what a budget pays for), pairs are taken in
    order until `limit` of them hold an issue (replays included); the pairs after that are neither
    checked nor issued and get None. Should a concurrent writer take a key or code between the
    check and the insert, the batch falls back to `issue_offer` per pair."""
    keys = [_check_key(k) for _c, k in requests]
    found: dict[str, IssuedOffer] = {}
    for start in range(0, len(keys), 1000):
        found.update({r.issue_key: r for r in session.scalars(
            select(IssuedOffer).where(IssuedOffer.issue_key.in_(keys[start:start + 1000])))})
    offer = OfferRead.model_validate(_offer_row(session, offer_id))
    fresh = [cid for (cid, _k), key in zip(requests, keys, strict=True) if key not in found]
    profiles = customers.get_customers(session, fresh)
    missing = [cid for cid in fresh if cid not in profiles]
    if missing:
        raise NotFound(f"customer {missing[0]} not found", field="customer_id")
    now = as_of or clock.now()
    given = _given(session, offer_id, fresh)
    results: list[IssuedOfferRead | InvalidState | LimitExceeded | None] = [None] * len(requests)
    first_of_key: dict[str, int] = {}  # key -> the position that issues it in this batch
    held = 0
    for i, ((cid, _k), key) in enumerate(zip(requests, keys, strict=True)):
        if limit is not None and held >= limit:
            break
        if key in found:
            results[i] = _replay(found[key], offer_id=offer_id, customer_id=cid)
        elif key not in first_of_key:
            refused = _refusal(offer, profiles[cid], now, given.get(cid, 0))
            if refused is None and check_audience and not is_eligible(session, offer_id=offer_id,
                                                                      customer_id=cid, as_of=now):
                refused = InvalidState(f"customer_id: customer {cid} is not in the audience of offer {offer_id}",
                                       field="customer_id")
            if refused is not None:
                results[i] = refused
                continue
            given[cid] = given.get(cid, 0) + 1
            first_of_key[key] = i
        held += 1
    codes = iter(_new_codes(session, len(first_of_key)) if offer.reward_type in CODE_REWARDS else [])
    rows = {i: _new_issue(session, offer=offer, customer=profiles[requests[i][0]], key=key, code=next(codes, None),
                          now=now, campaign_id=campaign_id, expires_at=None, data=None, actor=actor)
            for key, i in first_of_key.items()}
    try:
        with session.begin_nested():
            rows = dict(zip(rows, db.insert_many(session, list(rows.values()), key="issue_key"), strict=True))
    except IntegrityError:
        return _issue_one_by_one(session, offer_id=offer_id, requests=requests, actor=actor,
                                 campaign_id=campaign_id, check_audience=check_audience, as_of=as_of, limit=limit)
    greeted = [row for row in rows.values() if row.variant == "personal_greeting"]
    made = tasks.create_tasks(session, items=[_greet_task(offer, row, now) for row in greeted], actor=actor)
    for row, task in zip(greeted, made, strict=True):
        row.data = {**row.data, "greet_task_id": task.id}
    session.flush()
    audit.record_many(session, actor=actor, action="offer.issue", target_type="offer_issue",
                      items=[(row.id, _issue_audit(row)) for row in rows.values()])
    interactions.record_many(session, [_issue_timeline(offer, row, actor) for row in rows.values()])
    for i, ((cid, _k), key) in enumerate(zip(requests, keys, strict=True)):
        if i in rows:
            results[i] = _issue_read(rows[i])
        elif results[i] is None and key in first_of_key and i > first_of_key[key]:
            results[i] = _replay(rows[first_of_key[key]], offer_id=offer_id, customer_id=cid)
    return results


def _issue_one_by_one(session: Session, *, offer_id: int, requests: list[tuple[int, str]], actor: Actor,
                      campaign_id: int | None, check_audience: bool, as_of: dt.datetime | None,
                      limit: int | None) -> list[IssuedOfferRead | InvalidState | LimitExceeded | None]:
    """`issue_offers` the slow way (after a lost race): `issue_offer` per pair, same results."""
    results: list[IssuedOfferRead | InvalidState | LimitExceeded | None] = [None] * len(requests)
    held = 0
    for i, (cid, key) in enumerate(requests):
        if limit is not None and held >= limit:
            break
        try:
            results[i] = issue_offer(session, offer_id=offer_id, customer_id=cid, actor=actor, issue_key=key,
                                     campaign_id=campaign_id, check_audience=check_audience, as_of=as_of)
            held += 1
        except (InvalidState, LimitExceeded) as exc:
            results[i] = exc
    return results


def issue_to_audience(session: Session, *, offer_id: int, actor: Actor,
                      as_of: dt.datetime | None = None) -> AudienceIssueResult:
    """Issue the offer to everyone in its audience (re-runnable: key audience:<offer>:<customer>)."""
    ids = audience_ids(session, offer_id, as_of=as_of)
    issued = already = skipped = 0
    for cid in ids:
        key = f"audience:{offer_id}:{cid}"
        if session.scalar(select(IssuedOffer.id).where(IssuedOffer.issue_key == key)) is not None:
            already += 1
            continue
        try:
            with session.begin_nested():
                issue_offer(session, offer_id=offer_id, customer_id=cid, actor=actor, issue_key=key,
                            check_audience=False, as_of=as_of)
            issued += 1
        except LimitExceeded:
            skipped += 1
    return AudienceIssueResult(offer_id=offer_id, eligible=len(ids), issued=issued, already=already, skipped=skipped)


# ---------------------------------------------------------------------------------------------
# Birthdays
# ---------------------------------------------------------------------------------------------


def birthday_in(birthday: dt.date, year: int) -> dt.date:
    """The day the birthday is celebrated in `year` (29 Feb -> 28 Feb in non-leap years)."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return dt.date(year, 2, 28)


def birthday_due(birthday: dt.date, local_today: dt.date, lead_days: int) -> int | None:
    """The birthday year to issue for, when `local_today` is in [birthday - lead_days, birthday]."""
    for year in (local_today.year, local_today.year + 1):
        day = birthday_in(birthday, year)
        if 0 <= (day - local_today).days <= lead_days:
            return year
    return None


def _zone(name: str | None) -> ZoneInfo:
    for candidate in (name, get_settings().timezone, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def issue_birthday_offers(session: Session, *, as_of: dt.datetime | None = None,
                          actor: Actor = SYSTEM) -> BirthdayRunResult:
    """Job: issue each active birthday offer to customers whose birthday week (in their own
    timezone) it is; once per birthday year (key birthday:<offer>:<customer>:<year>)."""
    now = clock.ensure_utc(as_of) if as_of is not None else clock.now()
    offers = [o for o in session.scalars(select(Offer).where(Offer.kind == "birthday", Offer.active.is_(True))
                                         .order_by(Offer.id))
              if (o.valid_from is None or o.valid_from <= now) and (o.valid_until is None or now < o.valid_until)]
    issued = already = 0
    if not offers:
        return BirthdayRunResult(as_of=now, issued=0, already=0)
    people = session.execute(select(_CUSTOMERS.c.id, _CUSTOMERS.c.birthday, _CUSTOMERS.c.timezone).where(
        _CUSTOMERS.c.status == "active", _CUSTOMERS.c.birthday.is_not(None)).order_by(_CUSTOMERS.c.id)).all()
    for offer in offers:
        members = set(audience_ids(session, offer.id, as_of=now)) if (
            offer.segment_id is not None or offer.rule is not None or offer.min_purchases or offer.rfm_segments
        ) else None
        for person in people:
            if members is not None and person.id not in members:
                continue
            local_today = now.astimezone(_zone(person.timezone)).date()
            year = birthday_due(person.birthday, local_today, offer.lead_days)
            if year is None:
                continue
            key = f"birthday:{offer.id}:{person.id}:{year}"
            if session.scalar(select(IssuedOffer.id).where(IssuedOffer.issue_key == key)) is not None:
                already += 1
                continue
            day = birthday_in(person.birthday, year)
            zone = _zone(person.timezone)
            # valid until the end of the birthday + the offer's validity, in the customer's zone
            end_local = dt.datetime.combine(day + dt.timedelta(days=offer.code_validity_days), dt.time(0), zone)
            try:
                with session.begin_nested():
                    issue_offer(session, offer_id=offer.id, customer_id=person.id, actor=actor, issue_key=key,
                                check_audience=False, as_of=now, expires_at=end_local.astimezone(dt.UTC),
                                data={"birthday_year": year, "birthday_on": day.isoformat()})
                issued += 1
            except LimitExceeded:
                continue
    return BirthdayRunResult(as_of=now, issued=issued, already=already)


# ---------------------------------------------------------------------------------------------
# Redemption, claims, expiry
# ---------------------------------------------------------------------------------------------


def _issue_row(session: Session, issue_id: int) -> IssuedOffer:
    row = session.get(IssuedOffer, issue_id) if 0 < issue_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"offer issue {issue_id} not found", field="issue_id")
    return row


def get_issue(session: Session, issue_id: int) -> IssuedOfferRead:
    return _issue_read(_issue_row(session, issue_id))


def _unusable(row: IssuedOffer, now: dt.datetime) -> str:
    if row.status == "redeemed":
        return f"already used at {row.redeemed_at.isoformat() if row.redeemed_at else '?'}"
    if row.status == "void":
        return "cancelled"
    if row.status == "expired" or now >= row.expires_at:
        return f"expired at {row.expires_at.isoformat()}"
    return "not usable"


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def redeem_code(session: Session, *, code: str, actor: Actor, order_amount: Decimal | None = None,
                order_ref: str | None = None) -> IssuedOfferRead:
    """Use an offer code at the till exactly once; records the discount given as the cost.

    Percent offers need `order_amount` (the discount is amount x percent, capped by max_discount);
    amount offers give at most the order amount when it is known; vouchers cost the reward's value."""
    canon = (code or "").strip().upper().replace("-", "").replace(" ", "")
    if not canon or len(canon) > 20:
        raise ValidationFailed("code: not a valid offer code", field="code")
    row = session.scalar(select(IssuedOffer).where(IssuedOffer.code == canon))
    if row is None:
        raise NotFound(f"code: offer code {canon} not found", field="code")
    offer = _offer_row(session, row.offer_id)
    if order_amount is not None and order_amount < 0:
        raise ValidationFailed("order_amount: must be 0 or more", field="order_amount")
    if offer.reward_type == "percent":
        if order_amount is None:
            raise ValidationFailed("order_amount: required to redeem a percent discount", field="order_amount")
        assert offer.discount_value is not None
        cost = _q(order_amount * offer.discount_value / 100)
        if offer.max_discount is not None:
            cost = min(cost, offer.max_discount)
    elif offer.reward_type == "amount":
        assert offer.discount_value is not None
        cost = offer.discount_value if order_amount is None else min(offer.discount_value, order_amount)
    else:
        value = rewards.get_reward(session, offer.reward_id).value if offer.reward_id else None
        cost = value if value is not None else Decimal("0")
    now = clock.now()
    done = _changed(session, update(IssuedOffer)
                    .where(IssuedOffer.id == row.id, IssuedOffer.status == "issued", IssuedOffer.expires_at > now)
                    .values(status="redeemed", redeemed_at=now, order_ref=order_ref, cost=cost))
    session.refresh(row)
    if done != 1:
        raise InvalidState(f"code: offer code {canon} cannot be used: {_unusable(row, now)}", field="code",
                           details={"status": row.status})
    audit.record(session, actor=actor, action="offer.redeem", target_type="offer_issue", target_id=row.id,
                 before={"status": "issued"}, after={"status": "redeemed", "cost": cost, "order_ref": order_ref})
    interactions.record(session, customer_id=row.customer_id, kind="offer", channel="system", direction="inbound",
                        occurred_at=now, actor=actor, summary=f"Offer code {canon} used ({offer.name})",
                        source_type="offer_issue", source_id=str(row.id),
                        data={"offer_id": offer.id, "issue_id": row.id, "event": "redeemed", "cost": str(cost),
                              "order_ref": order_ref, "campaign_id": row.campaign_id})
    return _issue_read(row)


def claim(session: Session, *, issue_id: int, customer_id: int, actor: Actor) -> IssuedOfferRead:
    """The customer takes a bonus-points offer: the points are credited once (ledger key
    offer-issue-<id>) and the point value recorded as the cost."""
    row = _issue_row(session, issue_id)
    if row.customer_id != customer_id:
        raise NotFound(f"offer issue {issue_id} not found", field="issue_id")
    offer = _offer_row(session, row.offer_id)
    if offer.reward_type != "points" or offer.points is None:
        raise InvalidState(f"issue_id: offer {offer.id} is not a points offer (use its code or RSVP)",
                           field="issue_id")
    now = clock.now()
    cost = _q(Decimal(offer.points) * get_settings().point_value)
    with session.begin_nested():
        done = _changed(session, update(IssuedOffer)
                        .where(IssuedOffer.id == row.id, IssuedOffer.status == "issued", IssuedOffer.expires_at > now)
                        .values(status="redeemed", redeemed_at=now, cost=cost))
        if done != 1:
            session.refresh(row)
            raise InvalidState(f"issue_id: offer cannot be claimed: {_unusable(row, now)}", field="issue_id")
        ledger.earn(session, customer_id=customer_id, points=offer.points, source=LEDGER_SOURCE,
                    idempotency_key=f"offer-issue-{row.id}", reason=f"offer: {offer.name}", actor=actor,
                    reference_type="offer_issue", reference_id=str(row.id),
                    payload={"issue_id": row.id, "points": offer.points})
    session.refresh(row)
    audit.record(session, actor=actor, action="offer.claim", target_type="offer_issue", target_id=row.id,
                 before={"status": "issued"}, after={"status": "redeemed", "points": offer.points, "cost": cost})
    interactions.record(session, customer_id=customer_id, kind="offer", channel="system", direction="inbound",
                        occurred_at=now, actor=actor, summary=f"Claimed {offer.points} bonus points ({offer.name})",
                        source_type="offer_issue", source_id=str(row.id),
                        data={"offer_id": offer.id, "issue_id": row.id, "event": "claimed", "points": offer.points,
                              "campaign_id": row.campaign_id})
    return _issue_read(row)


def void_issue(session: Session, *, issue_id: int, actor: Actor, reason: str = "withdrawn by staff"
               ) -> IssuedOfferRead:
    row = _issue_row(session, issue_id)
    now = clock.now()
    done = _changed(session, update(IssuedOffer).where(IssuedOffer.id == row.id, IssuedOffer.status == "issued")
                    .values(status="void"))
    session.refresh(row)
    if done != 1:
        raise InvalidState(f"issue_id: offer issue {issue_id} is {row.status}", field="issue_id")
    audit.record(session, actor=actor, action="offer.void", target_type="offer_issue", target_id=row.id,
                 before={"status": "issued"}, after={"status": "void", "reason": reason})
    interactions.record(session, customer_id=row.customer_id, kind="offer", channel="system", occurred_at=now,
                        actor=actor, summary=f"Offer withdrawn: {row.headline}", source_type="offer_issue",
                        source_id=str(row.id), data={"issue_id": row.id, "event": "void", "reason": reason})
    return _issue_read(row)


def expire_issues(session: Session, *, as_of: dt.datetime | None = None, actor: Actor = SYSTEM) -> int:
    """Job: issued offers past expiry become 'expired' (guarded UPDATE per row; re-runnable)."""
    now = clock.ensure_utc(as_of) if as_of is not None else clock.now()
    due = list(session.scalars(select(IssuedOffer).where(IssuedOffer.status == "issued",
                                                         IssuedOffer.expires_at <= now).order_by(IssuedOffer.id)))
    n = 0
    for row in due:
        if _changed(session, update(IssuedOffer).where(IssuedOffer.id == row.id, IssuedOffer.status == "issued")
                    .values(status="expired")) == 1:
            n += 1
    _refresh_loaded(session, IssuedOffer)
    if n:
        audit.record(session, actor=actor, action="offer.expire", target_type="offer_issue", target_id=None,
                     after={"as_of": now, "expired": n})
    return n


def list_customer_offers(session: Session, customer_id: int, *, status: str | None = None,
                         limit: int | None = None, offset: int = 0) -> list[CustomerOffer]:
    """What the portal shows: the customer's offers, newest first, with the RSVP of invitations.

    `limit`/`offset` page it in the database (the console's 360 asks for one row more than it
    shows); without a limit every offer is returned, as the portal and the API expect."""
    if limit is not None and not 1 <= limit <= 1000:
        raise ValidationFailed("limit: must be between 1 and 1000", field="limit")
    if offset < 0:
        raise ValidationFailed("offset: must not be negative", field="offset")
    customers.get_customer(session, customer_id)
    q = (select(IssuedOffer, Offer).join(Offer, Offer.id == IssuedOffer.offer_id)
         .where(IssuedOffer.customer_id == customer_id).order_by(IssuedOffer.id.desc()))
    if status is not None:
        q = q.where(IssuedOffer.status == status)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    rows = session.execute(q).all()
    offer_ids = {o.id for _, o in rows}
    rsvps = {r.offer_id: r.status for r in session.scalars(
        select(Rsvp).where(Rsvp.customer_id == customer_id, Rsvp.offer_id.in_(offer_ids)))} if offer_ids else {}
    return [CustomerOffer(issue=_issue_read(i), kind=o.kind, name=o.name, reward_type=o.reward_type,
                          event_at=o.event_at, location=o.location, rsvp=rsvps.get(o.id))
            for i, o in rows]


def recommendations(session: Session, customer_id: int, *, limit: int = 3) -> list[Recommendation]:
    customers.get_customer(session, customer_id)
    if not 1 <= limit <= 50:
        raise ValidationFailed("limit: 1-50", field="limit")
    return recommender.recommend(session, customer_id, limit=limit)


# ---------------------------------------------------------------------------------------------
# Campaign support
# ---------------------------------------------------------------------------------------------


def unit_cost(session: Session, offer_id: int) -> Decimal:
    """The most one issue of this offer can cost (for budgets): voucher value, amount, points x
    point value, percent cap; 0 when unknown (a percent offer without a cap, an invitation)."""
    offer = _offer_row(session, offer_id)
    if offer.reward_type == "voucher" and offer.reward_id is not None:
        return rewards.get_reward(session, offer.reward_id).value or Decimal("0")
    if offer.reward_type == "amount" and offer.discount_value is not None:
        return offer.discount_value
    if offer.reward_type == "points" and offer.points is not None:
        return _q(Decimal(offer.points) * get_settings().point_value)
    if offer.reward_type == "percent" and offer.max_discount is not None:
        return offer.max_discount
    return Decimal("0")


def campaign_cost(session: Session, *, campaign_id: int) -> Decimal:
    """Value actually given through a campaign's offers (redeemed codes, claimed points)."""
    total = session.scalar(select(func.sum(IssuedOffer.cost)).where(
        IssuedOffer.campaign_id == campaign_id, IssuedOffer.status == "redeemed"))
    return _q(Decimal(total or 0))


# ---------------------------------------------------------------------------------------------
# RSVP
# ---------------------------------------------------------------------------------------------


def _rsvp_read(session: Session, r: Rsvp) -> RsvpRead:
    position = None
    if r.status == "waitlisted":
        position = 1 + (session.scalar(select(func.count()).select_from(Rsvp).where(
            Rsvp.offer_id == r.offer_id, Rsvp.status == "waitlisted",
            (Rsvp.waitlisted_at < r.waitlisted_at) | ((Rsvp.waitlisted_at == r.waitlisted_at) & (Rsvp.id < r.id)),
        )) or 0)
    return RsvpRead(id=r.id, offer_id=r.offer_id, customer_id=r.customer_id, issue_id=r.issue_id,
                    response=r.response, status=r.status, responded_at=r.responded_at, waitlist_position=position)


def _confirmed(session: Session, offer_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Rsvp).where(
        Rsvp.offer_id == offer_id, Rsvp.status == "confirmed")) or 0


def rsvp(session: Session, *, offer_id: int, customer_id: int, response: str, actor: Actor) -> RsvpRead:
    """Answer an invitation (yes / no / maybe); see module doc for seats and the waitlist."""
    if response not in ("yes", "no", "maybe"):
        raise ValidationFailed("response: one of yes, no, maybe", field="response")
    customers.get_customer(session, customer_id)
    offer = _offer_row(session, offer_id, lock=True)  # serialises seat counting per event
    if offer.kind != "event_invitation":
        raise InvalidState(f"offer_id: offer {offer_id} is not an event invitation", field="offer_id")
    now = clock.now()
    if offer.event_at is not None and now >= offer.event_at:
        raise InvalidState(f"offer_id: the event of offer {offer_id} has already started", field="offer_id")
    invitation = session.scalar(select(IssuedOffer).where(
        IssuedOffer.offer_id == offer_id, IssuedOffer.customer_id == customer_id,
        IssuedOffer.status.in_(("issued", "redeemed"))).order_by(IssuedOffer.id.desc()).limit(1))
    if invitation is None:
        raise InvalidState(f"customer_id: customer {customer_id} has no invitation to offer {offer_id}",
                           field="customer_id")
    row = session.scalar(select(Rsvp).where(Rsvp.offer_id == offer_id, Rsvp.customer_id == customer_id))
    before = row.status if row is not None else None
    if row is not None and row.response == response:
        return _rsvp_read(session, row)
    freed = before == "confirmed" and response != "yes"
    if response == "yes":
        full = offer.capacity is not None and _confirmed(session, offer_id) >= offer.capacity
        status = "waitlisted" if full else "confirmed"
    else:
        status = "declined" if response == "no" else "maybe"
    if row is None:
        row = Rsvp(offer_id=offer_id, customer_id=customer_id, issue_id=invitation.id, response=response,
                   status=status, responded_at=now, waitlisted_at=now if status == "waitlisted" else None)
        session.add(row)
    else:
        row.response, row.status, row.responded_at = response, status, now
        row.waitlisted_at = now if status == "waitlisted" else None
    session.flush()
    audit.record(session, actor=actor, action="offer.rsvp", target_type="offer_rsvp", target_id=row.id,
                 before={"status": before}, after={"offer_id": offer_id, "customer_id": customer_id,
                                                   "response": response, "status": status})
    label = {"confirmed": "confirmed a place at", "waitlisted": "is on the waitlist for",
             "declined": "declined", "maybe": "might come to"}[status]
    interactions.record(session, customer_id=customer_id, kind="invitation", channel="system", direction="inbound",
                        occurred_at=now, actor=actor, summary=f"RSVP {response}: {label} {offer.name}",
                        source_type="offer_rsvp", source_id=str(row.id),
                        data={"offer_id": offer_id, "response": response, "status": status})
    if freed:
        _promote(session, offer, actor, now)
    return _rsvp_read(session, row)


def _promote(session: Session, offer: Offer, actor: Actor, now: dt.datetime) -> None:
    """Fill freed seats from the waitlist, longest waiting first."""
    while offer.capacity is None or _confirmed(session, offer.id) < offer.capacity:
        nxt = session.scalar(select(Rsvp).where(Rsvp.offer_id == offer.id, Rsvp.status == "waitlisted")
                             .order_by(Rsvp.waitlisted_at, Rsvp.id).limit(1))
        if nxt is None:
            return
        nxt.status, nxt.waitlisted_at = "confirmed", None
        session.flush()
        audit.record(session, actor=actor, action="offer.rsvp_promote", target_type="offer_rsvp", target_id=nxt.id,
                     before={"status": "waitlisted"}, after={"status": "confirmed"})
        interactions.record(session, customer_id=nxt.customer_id, kind="invitation", channel="system",
                            direction="outbound", occurred_at=now, actor=actor,
                            summary=f"A place became free: confirmed for {offer.name}",
                            source_type="offer_rsvp", source_id=str(nxt.id),
                            data={"offer_id": offer.id, "status": "confirmed", "promoted": True})


def rsvp_summary(session: Session, offer_id: int) -> RsvpSummary:
    offer = _offer_row(session, offer_id)
    rows = list(session.scalars(select(Rsvp).where(Rsvp.offer_id == offer_id).order_by(Rsvp.id)))
    count = {s: sum(1 for r in rows if r.status == s) for s in ("confirmed", "waitlisted", "maybe", "declined")}
    return RsvpSummary(offer_id=offer_id, capacity=offer.capacity, rsvps=[_rsvp_read(session, r) for r in rows],
                       **count)


# ---------------------------------------------------------------------------------------------
# Customer hooks
# ---------------------------------------------------------------------------------------------


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Issued offers follow the customer; of two RSVPs to the same event the survivor's stays."""
    session.execute(update(IssuedOffer).where(IssuedOffer.customer_id == duplicate_id)
                    .values(customer_id=survivor_id).execution_options(synchronize_session=False))
    survivor_events = set(session.scalars(select(Rsvp.offer_id).where(Rsvp.customer_id == survivor_id)))
    for r in list(session.scalars(select(Rsvp).where(Rsvp.customer_id == duplicate_id))):
        if r.offer_id in survivor_events:
            session.delete(r)
        else:
            r.customer_id = survivor_id
    session.flush()
    _refresh_loaded(session, IssuedOffer, Rsvp)


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Unused codes are voided (an erased account's code must not work at a till); the texts
    addressed to the person are blanked; RSVPs hold no personal data beyond the link and go."""
    session.execute(update(IssuedOffer).where(IssuedOffer.customer_id == customer_id, IssuedOffer.status == "issued")
                    .values(status="void").execution_options(synchronize_session=False))
    session.execute(update(IssuedOffer).where(IssuedOffer.customer_id == customer_id)
                    .values(headline="[erased]", body="[erased]").execution_options(synchronize_session=False))
    for r in list(session.scalars(select(Rsvp).where(Rsvp.customer_id == customer_id))):
        session.delete(r)
    session.flush()
    _refresh_loaded(session, IssuedOffer, Rsvp)


def _export_section(session: Session, customer_id: int) -> dict[str, Any]:
    issues = session.scalars(select(IssuedOffer).where(IssuedOffer.customer_id == customer_id)
                             .order_by(IssuedOffer.id))
    rsvps = session.scalars(select(Rsvp).where(Rsvp.customer_id == customer_id).order_by(Rsvp.id))
    return {"issued": [_issue_read(i).model_dump(mode="json") for i in issues],
            "rsvps": [_rsvp_read(session, r).model_dump(mode="json") for r in rsvps]}


def _view_section(session: Session, customer_id: int) -> dict[str, Any]:
    now = clock.now()
    open_ = [o.model_dump(mode="json") for o in list_customer_offers(session, customer_id, status="issued")
             if o.issue.expires_at > now]
    return {"open": open_, "count": len(open_)}


def _register_hooks() -> None:
    hooks.register_merge_handler(_merge_handler)
    hooks.register_erasure_handler(_erasure_handler)
    hooks.register_export_section("offers", _export_section)
    hooks.register_view_section("offers", _view_section)


_register_hooks()

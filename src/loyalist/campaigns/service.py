"""Campaigns: audience, offer and message, schedule, budget, and a randomised stratified holdout
whose outcome is measured from real purchases.

Why it is built this way:
- Launch freezes the audience into `campaign_members` (one row per customer, UNIQUE per campaign)
  with its group and stratum, so results always compare the groups as they were drawn, even if
  the segment changes later. Launch locks the campaign row and is idempotent: a second launch
  (or a retried job) returns the first launch's figures and sends nothing more. Messages use
  the dedupe key ``campaign:<id>:<customer>`` and offers the issue key of the same form.
- Holdout: `holdout.assign` (deterministic from seed + customer id, stratified). Stratum = the
  RFM segment from `customer_scores` when any audience member has a score (customers without
  one form the stratum "rfm:none"), else the current tier code, else one stratum "all".
- Budget: each treatment member commits the most its offer can cost (`offers.unit_cost`) plus
  the message cost; issuing stops when the next one would exceed the budget. Treatment members
  are served in the seed's random order, so the members cut off by the budget are a random
  subset; they are recorded with outcome ``budget`` and left out of the treatment outcome (the
  served treatment subset and the full control are both random samples of the audience).
- Results come from the purchases table: conversion = at least one purchase in the attribution
  window [launch, launch + attribution_days); revenue = net minus refunded amount of those
  purchases (non-buyers count 0); retained = account still active and a purchase within
  `retention_days` before the window end. Arithmetic in `uplift` (normal approximation for
  proportions, Welch for revenue). Cost = value actually given (redeemed codes, claimed points)
  + messages actually sent x message cost. ROI = (incremental revenue x margin - cost) / cost.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import column, insert, select, table
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.campaigns import holdout, uplift
from loyalist.campaigns.models import Campaign, CampaignMember
from loyalist.campaigns.schemas import (
    MAX_ID,
    CampaignCreate,
    CampaignRead,
    CampaignResults,
    CampaignUpdate,
    Estimate,
    GroupOutcome,
    LaunchResult,
    MemberRead,
    StratumCount,
)
from loyalist.customers import hooks
from loyalist.errors import InvalidState, LimitExceeded, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.messaging import service as messaging
from loyalist.offers import service as offers
from loyalist.types import SYSTEM, Actor, MoneyType, UTCDateTime

_PURCHASES = table("purchases", column("id"), column("customer_id"), column("occurred_at", UTCDateTime()),
                   column("net_amount", MoneyType()), column("refunded_amount", MoneyType()))
_CUSTOMERS = table("customers", column("id"), column("status"))
_SCORES = table("customer_scores", column("customer_id"), column("rfm_segment"))
_CUSTOMER_TIERS = table("customer_tiers", column("customer_id"), column("tier_id"))
_TIERS = table("tiers", column("id"), column("code"))

CENT = Decimal("0.01")


def _utc(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return clock.ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: must include a timezone", field=name) from exc


def _chunks(ids: list[int], size: int = 1000) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _snapshot(row: Campaign) -> dict[str, Any]:
    return CampaignRead.model_validate(row).model_dump(exclude={"created_at", "updated_at", "customer_ids"})


def _row(session: Session, campaign_id: int, *, lock: bool = False) -> Campaign:
    row = (session.get(Campaign, campaign_id, with_for_update=lock, populate_existing=lock)
           if 0 < campaign_id <= MAX_ID else None)
    if row is None:
        raise NotFound(f"campaign {campaign_id} not found", field="campaign_id")
    return row


def _check(session: Session, row: Campaign) -> None:
    if (row.segment_id is None) == (row.customer_ids is None):
        raise ValidationFailed("segment_id: give a segment_id or customer_ids (exactly one)", field="segment_id")
    if row.segment_id is not None:
        from loyalist.segments import service as segments  # built in parallel; imported when used

        try:
            segments.get_segment(session, row.segment_id)
        except NotFound as exc:
            raise ValidationFailed(f"segment_id: segment {row.segment_id} not found", field="segment_id") from exc
    if row.customer_ids is not None and not row.customer_ids:
        raise ValidationFailed("customer_ids: the audience is empty", field="customer_ids")
    if row.offer_id is not None:
        try:
            offers.get_offer(session, row.offer_id)
        except NotFound as exc:
            raise ValidationFailed(f"offer_id: offer {row.offer_id} not found", field="offer_id") from exc
    if row.template is not None and not messaging.list_templates(session, key=row.template):
        raise ValidationFailed(f"template: no message template {row.template!r}", field="template")
    if row.offer_id is None and row.template is None:
        raise ValidationFailed("offer_id: a campaign needs an offer, a message template or both", field="offer_id")
    if row.starts_at is not None and row.ends_at is not None and row.ends_at <= row.starts_at:
        raise ValidationFailed("ends_at: must be after starts_at", field="ends_at")


def create_campaign(session: Session, *, data: CampaignCreate, actor: Actor) -> CampaignRead:
    now = clock.now()
    values = data.model_dump()
    values["starts_at"] = _utc(values["starts_at"], "starts_at")
    values["ends_at"] = _utc(values["ends_at"], "ends_at")
    if values["customer_ids"] is not None:
        values["customer_ids"] = sorted(set(values["customer_ids"]))
    values["seed"] = (values["seed"] or "").strip() or secrets.token_hex(8)
    row = Campaign(**values, status="scheduled" if values["starts_at"] else "draft", committed=Decimal("0"),
                   created_at=now, updated_at=now)
    with session.no_autoflush:
        _check(session, row)
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(session, actor=actor, action="campaign.create", target_type="campaign", target_id=row.id,
                 after=_snapshot(row))
    return CampaignRead.model_validate(row)


def get_campaign(session: Session, campaign_id: int) -> CampaignRead:
    return CampaignRead.model_validate(_row(session, campaign_id))


def list_campaigns(session: Session, *, status: str | None = None, limit: int | None = None,
                   offset: int = 0) -> list[CampaignRead]:
    """Newest first; `limit`/`offset` page the list (the console shows 25 at a time)."""
    q = select(Campaign).order_by(Campaign.id.desc())
    if status is not None:
        q = q.where(Campaign.status == status)
    if limit is not None:
        q = q.limit(limit).offset(offset)
    return [CampaignRead.model_validate(r) for r in session.scalars(q)]


def update_campaign(session: Session, *, campaign_id: int, data: CampaignUpdate, actor: Actor) -> CampaignRead:
    """Change a campaign before launch (after launch the design is frozen; only the name,
    description, end and margin of the ROI calculation may change)."""
    row = _row(session, campaign_id, lock=True)
    changes = data.model_dump(exclude_unset=True)
    frozen = {"starts_at", "budget", "control_percent", "attribution_days"}
    if row.status not in ("draft", "scheduled") and frozen & changes.keys():
        name = sorted(frozen & changes.keys())[0]
        raise InvalidState(f"{name}: campaign {campaign_id} is {row.status}; its design cannot change",
                           field=name)
    for name in ("name", "description", "control_percent", "attribution_days", "margin"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(f"{name}: may not be null", field=name)
    before = _snapshot(row)
    with session.no_autoflush:
        for name, value in changes.items():
            if name in ("starts_at", "ends_at"):
                value = _utc(value, name)
            setattr(row, name, value)
        if "starts_at" in changes and row.status in ("draft", "scheduled"):
            row.status = "scheduled" if row.starts_at else "draft"
        try:
            _check(session, row)
        except ValidationFailed:
            session.expire(row)
            raise
    row.updated_at = clock.now()
    session.flush()
    session.refresh(row)
    audit.record(session, actor=actor, action="campaign.update", target_type="campaign", target_id=row.id,
                 before=before, after=_snapshot(row))
    return CampaignRead.model_validate(row)


def cancel_campaign(session: Session, *, campaign_id: int, actor: Actor) -> CampaignRead:
    row = _row(session, campaign_id, lock=True)
    if row.status not in ("draft", "scheduled"):
        raise InvalidState(f"campaign_id: campaign {campaign_id} is {row.status}; only a campaign not yet "
                           "launched can be cancelled", field="campaign_id")
    before = row.status
    row.status, row.updated_at = "cancelled", clock.now()
    session.flush()
    audit.record(session, actor=actor, action="campaign.cancel", target_type="campaign", target_id=row.id,
                 before={"status": before}, after={"status": "cancelled"})
    return CampaignRead.model_validate(row)


# ---------------------------------------------------------------------------------------------
# Launch
# ---------------------------------------------------------------------------------------------


def _audience(session: Session, row: Campaign) -> list[int]:
    if row.segment_id is not None:
        from loyalist.segments import service as segments

        return sorted(set(segments.member_ids(session, segment_id=row.segment_id)))
    ids = sorted({int(i) for i in row.customer_ids or []})
    active: set[int] = set()
    for chunk in _chunks(ids):
        active |= set(session.scalars(select(_CUSTOMERS.c.id).where(_CUSTOMERS.c.id.in_(chunk),
                                                                   _CUSTOMERS.c.status == "active")))
    return [i for i in ids if i in active]


def strata_for(session: Session, customer_ids: list[int]) -> tuple[str, dict[int, str]]:
    """(stratified_by, customer -> stratum): RFM segment if any member has one, else tier, else all."""
    rfm: dict[int, str] = {}
    for chunk in _chunks(customer_ids):
        rfm.update({int(r.customer_id): str(r.rfm_segment) for r in session.execute(
            select(_SCORES.c.customer_id, _SCORES.c.rfm_segment).where(_SCORES.c.customer_id.in_(chunk)))})
    if rfm:
        return "rfm", {c: f"rfm:{rfm.get(c, 'none')}" for c in customer_ids}
    tier: dict[int, str] = {}
    for chunk in _chunks(customer_ids):
        tier.update({int(r.customer_id): str(r.code) for r in session.execute(
            select(_CUSTOMER_TIERS.c.customer_id, _TIERS.c.code)
            .join(_TIERS, _TIERS.c.id == _CUSTOMER_TIERS.c.tier_id)
            .where(_CUSTOMER_TIERS.c.customer_id.in_(chunk)))})
    if tier:
        return "tier", {c: f"tier:{tier.get(c, 'none')}" for c in customer_ids}
    return "none", {c: "all" for c in customer_ids}


def _launch_summary(session: Session, row: Campaign, *, already: bool) -> LaunchResult:
    members = list(session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == row.id)))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"treatment": 0, "control": 0})
    for m in members:
        counts[m.stratum][m.group] += 1
    return LaunchResult(
        campaign=CampaignRead.model_validate(row), audience=len(members),
        treatment=sum(1 for m in members if m.group == "treatment"),
        control=sum(1 for m in members if m.group == "control"),
        sent=sum(1 for m in members if m.outcome == "sent"),
        budget_stopped=sum(1 for m in members if m.outcome == "budget"),
        strata=[StratumCount(stratum=s, **c) for s, c in sorted(counts.items())], already_launched=already)


def _message_context(issue: Any, campaign: Campaign) -> dict[str, Any]:
    ctx: dict[str, Any] = {"campaign": campaign.name}
    if issue is not None:
        ctx["offer"] = {"headline": issue.headline, "body": issue.body, "code": issue.code,
                        "expires_at": issue.expires_at.strftime("%Y-%m-%d"), "variant": issue.variant}
    return ctx


def launch(session: Session, *, campaign_id: int, actor: Actor, as_of: dt.datetime | None = None) -> LaunchResult:
    """Snapshot the audience, draw the holdout, give the treatment group the offer and message.
    Idempotent: a launched campaign returns its first launch's figures."""
    row = _row(session, campaign_id, lock=True)
    if row.status in ("running", "finished"):
        return _launch_summary(session, row, already=True)
    if row.status == "cancelled":
        raise InvalidState(f"campaign_id: campaign {campaign_id} is cancelled", field="campaign_id")
    now = _utc(as_of, "as_of") or clock.now()
    if row.ends_at is not None and now >= row.ends_at:
        raise InvalidState(f"campaign_id: campaign {campaign_id} ended at {row.ends_at.isoformat()}",
                           field="campaign_id")
    ids = _audience(session, row)
    if not ids:
        raise InvalidState(f"campaign_id: the audience of campaign {campaign_id} is empty", field="campaign_id")
    by, strata = strata_for(session, ids)
    groups = holdout.assign(ids, seed=row.seed, control_percent=row.control_percent, strata=strata)
    # every member's outcome is decided first; the snapshot is then written in one batch
    outcome = {cid: "held_out" if groups[cid] == "control" else "pending" for cid in ids}
    unit = (offers.unit_cost(session, row.offer_id) if row.offer_id is not None else Decimal("0"))
    unit += row.message_cost if row.template is not None or row.offer_id is not None else Decimal("0")
    treated = sorted((c for c in ids if groups[c] == "treatment"), key=lambda c: (holdout.rank_key(row.seed, c), c))
    # Served in the seed's order while the budget lasts: a refused offer ('not_issued') spends
    # nothing; everyone after the last one the budget pays for is 'budget'.
    if row.budget is None:
        affordable = len(treated)
    elif unit == 0:
        affordable = len(treated) if row.budget >= 0 else 0
    else:
        affordable = max(0, int(row.budget // unit))
    issues: dict[int, Any] = {}
    served: list[int] = []
    if row.offer_id is None:
        served = treated[:affordable]
    else:
        results = offers.issue_offers(
            session, offer_id=row.offer_id, requests=[(c, f"campaign:{row.id}:{c}") for c in treated],
            actor=actor, campaign_id=row.id, check_audience=False, as_of=now, limit=affordable)
        for cid, issued in zip(treated, results, strict=True):
            if isinstance(issued, (LimitExceeded, InvalidState)):
                outcome[cid] = "not_issued"
            elif issued is not None:
                issues[cid] = issued
                served.append(cid)
    messages = messaging.enqueue_many(session, actor=actor, items=[
        dict(channel=row.channel, customer_id=cid, dedupe_key=f"campaign:{row.id}:{cid}", template=row.template,
             context=_message_context(issues.get(cid), row), category="marketing", source_type="campaign",
             source_id=str(row.id)) if row.template is not None else
        dict(channel=row.channel, customer_id=cid, dedupe_key=f"campaign:{row.id}:{cid}",
             subject=issues[cid].headline, text=issues[cid].body, category="marketing", source_type="campaign",
             source_id=str(row.id))
        for cid in served])
    message_of = {cid: msg.id for cid, msg in zip(served, messages, strict=True)}
    for cid in treated:
        if cid in message_of:
            outcome[cid] = "sent"
        elif outcome[cid] == "pending":
            outcome[cid] = "budget"
    session.execute(insert(CampaignMember).execution_options(render_nulls=True), [
        dict(campaign_id=row.id, customer_id=cid, group=groups[cid], stratum=strata[cid], outcome=outcome[cid],
             issue_id=issues[cid].id if cid in issues else None, message_id=message_of.get(cid), added_at=now)
        for cid in ids])
    committed = sum((unit for _ in served), Decimal("0"))
    interactions.record_many(session, [
        dict(customer_id=cid, kind="campaign", channel="system", direction="outbound", occurred_at=now, actor=actor,
             summary=f"Campaign {row.name}: offer and message sent", source_type="campaign", source_id=str(row.id),
             data={"campaign_id": row.id, "issue_id": issues[cid].id if cid in issues else None,
                   "message_id": message_of[cid]})
        for cid in served])
    row.status, row.launched_at, row.stratified_by = "running", now, by
    row.committed, row.updated_at = committed, now
    session.flush()
    result = _launch_summary(session, row, already=False)
    audit.record(session, actor=actor, action="campaign.launch", target_type="campaign", target_id=row.id,
                 before={"status": "draft/scheduled"},
                 after={"status": "running", "audience": result.audience, "treatment": result.treatment,
                        "control": result.control, "sent": result.sent, "budget_stopped": result.budget_stopped,
                        "stratified_by": by, "committed": committed, "seed": row.seed})
    return result


def list_members(session: Session, campaign_id: int, *, group: str | None = None, limit: int = 100,
                 offset: int = 0) -> list[MemberRead]:
    _row(session, campaign_id)
    if group is not None and group not in ("treatment", "control"):
        raise ValidationFailed("group: treatment or control", field="group")
    if not 1 <= limit <= 1000 or offset < 0:
        raise ValidationFailed("limit: 1-1000 (offset 0 or more)", field="limit")
    q = select(CampaignMember).where(CampaignMember.campaign_id == campaign_id).order_by(CampaignMember.customer_id)
    if group is not None:
        q = q.where(CampaignMember.group == group)
    return [MemberRead.model_validate(m) for m in session.scalars(q.limit(limit).offset(offset))]


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _group_outcome(ids: list[int], revenue: dict[int, Decimal], retained: set[int]) -> GroupOutcome:
    n = len(ids)
    total = sum((revenue.get(c, Decimal("0")) for c in ids), Decimal("0"))
    converted = sum(1 for c in ids if c in revenue)
    kept = sum(1 for c in ids if c in retained)
    return GroupOutcome(customers=n, converted=converted, conversion_rate=converted / n if n else 0.0,
                        revenue=total.quantize(CENT),
                        revenue_per_customer=(total / n).quantize(CENT) if n else Decimal("0.00"),
                        retained=kept, retention_rate=kept / n if n else 0.0)


def _est(interval: uplift.Interval, digits: int = 6) -> Estimate:
    return Estimate(estimate=round(interval.estimate, digits), low=round(interval.low, digits),
                    high=round(interval.high, digits))


def results(session: Session, *, campaign_id: int, as_of: dt.datetime | None = None) -> CampaignResults:
    """Outcome of treatment (served members) vs control from real purchases (see module doc)."""
    row = _row(session, campaign_id)
    if row.launched_at is None:
        raise InvalidState(f"campaign_id: campaign {campaign_id} has not been launched", field="campaign_id")
    now = _utc(as_of, "as_of") or clock.now()
    start = row.launched_at
    full_end = start + dt.timedelta(days=row.attribution_days)
    end = min(full_end, max(now, start))
    members = list(session.scalars(select(CampaignMember).where(CampaignMember.campaign_id == campaign_id)))
    treat = sorted(m.customer_id for m in members if m.group == "treatment" and m.outcome == "sent")
    control = sorted(m.customer_id for m in members if m.group == "control")
    everyone = treat + control

    revenue: dict[int, Decimal] = {}
    retained: set[int] = set()
    since = end - dt.timedelta(days=row.retention_days)
    for chunk in _chunks(everyone):
        for r in session.execute(
            select(_PURCHASES.c.customer_id, _PURCHASES.c.net_amount, _PURCHASES.c.refunded_amount)
            .where(_PURCHASES.c.customer_id.in_(chunk), _PURCHASES.c.occurred_at >= start,
                   _PURCHASES.c.occurred_at < end)
        ):
            cid = int(r.customer_id)
            revenue[cid] = revenue.get(cid, Decimal("0")) + Decimal(r.net_amount) - Decimal(r.refunded_amount or 0)
        retained |= {int(c) for c in session.scalars(
            select(_PURCHASES.c.customer_id).join(_CUSTOMERS, _CUSTOMERS.c.id == _PURCHASES.c.customer_id)
            .where(_PURCHASES.c.customer_id.in_(chunk), _CUSTOMERS.c.status == "active",
                   _PURCHASES.c.occurred_at > since, _PURCHASES.c.occurred_at < end).distinct())}
    t_out = _group_outcome(treat, revenue, retained)
    c_out = _group_outcome(control, revenue, retained)

    notes: list[str] = []
    conv = rev_pc = rev_total = ret = None
    if treat and control:
        conv = _est(uplift.diff_of_proportions(t_out.converted, len(treat), c_out.converted, len(control)))
        per, _df = uplift.welch([float(revenue.get(c, 0)) for c in treat], [float(revenue.get(c, 0)) for c in control])
        rev_pc = _est(per, 4)
        rev_total = _est(uplift.scaled(per, len(treat)), 2)
        ret = _est(uplift.diff_of_proportions(t_out.retained, len(treat), c_out.retained, len(control)))
    else:
        notes.append("no control group (or no treated customers): incrementality cannot be measured")
    if now < full_end:
        notes.append(f"attribution window still open until {full_end.isoformat()}; figures are provisional")

    offer_cost = offers.campaign_cost(session, campaign_id=campaign_id)
    sent = 0
    for m in members:
        if m.message_id is not None and messaging.get_message(session, m.message_id).status == "sent":
            sent += 1
    msg_cost = (row.message_cost * sent).quantize(CENT)
    cost = (offer_cost + msg_cost).quantize(CENT)
    roi_value = None
    if rev_total is not None:
        raw = uplift.roi(rev_total.estimate, float(row.margin), float(cost))
        roi_value = None if raw is None else round(raw, 6)
        if raw is None:
            notes.append("nothing was spent yet: ROI is undefined")
    return CampaignResults(
        campaign_id=campaign_id, window_start=start, window_end=end, complete=now >= full_end,
        treatment=t_out, control=c_out, budget_stopped=sum(1 for m in members if m.outcome == "budget"),
        incremental_conversion=conv, incremental_revenue_per_customer=rev_pc, incremental_revenue=rev_total,
        incremental_retention=ret, offer_cost=offer_cost, messages_sent=sent, message_cost=msg_cost, cost=cost,
        margin=row.margin, roi=roi_value, notes=notes)


# ---------------------------------------------------------------------------------------------
# Schedule job
# ---------------------------------------------------------------------------------------------


def run_schedule(session: Session, *, as_of: dt.datetime | None = None, actor: Actor = SYSTEM) -> dict[str, int]:
    """Job: launch scheduled campaigns whose start has come; finish running ones past their end."""
    now = _utc(as_of, "as_of") or clock.now()
    launched = finished = 0
    due = list(session.scalars(select(Campaign.id).where(Campaign.status == "scheduled",
                                                         Campaign.starts_at <= now).order_by(Campaign.id)))
    for cid in due:
        result = launch(session, campaign_id=cid, actor=actor, as_of=now)
        launched += 0 if result.already_launched else 1
    for row in list(session.scalars(select(Campaign).where(Campaign.status == "running",
                                                           Campaign.ends_at.is_not(None),
                                                           Campaign.ends_at <= now))):
        row.status, row.finished_at, row.updated_at = "finished", now, now
        finished += 1
        audit.record(session, actor=actor, action="campaign.finish", target_type="campaign", target_id=row.id,
                     before={"status": "running"}, after={"status": "finished"})
    session.flush()
    return {"launched": launched, "finished": finished}


# ---------------------------------------------------------------------------------------------
# Customer hooks
# ---------------------------------------------------------------------------------------------


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Memberships follow the customer; where both were in one campaign the survivor's row stays
    (the duplicate's row would double-count one person)."""
    both = set(session.scalars(select(CampaignMember.campaign_id).where(CampaignMember.customer_id == survivor_id)))
    for m in list(session.scalars(select(CampaignMember).where(CampaignMember.customer_id == duplicate_id))):
        if m.campaign_id in both:
            session.delete(m)
        else:
            m.customer_id = survivor_id
    session.flush()


def _export_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(CampaignMember, Campaign.name)
                           .join(Campaign, Campaign.id == CampaignMember.campaign_id)
                           .where(CampaignMember.customer_id == customer_id).order_by(CampaignMember.id)).all()
    return [{"campaign_id": m.campaign_id, "campaign": name, "group": m.group, "stratum": m.stratum,
             "outcome": m.outcome, "added_at": m.added_at.isoformat()} for m, name in rows]


def _register_hooks() -> None:
    """No erasure handler: memberships carry no personal data (campaign, group, stratum) and are
    kept so past results stay reproducible for the anonymised customer row."""
    hooks.register_merge_handler(_merge_handler)
    hooks.register_export_section("campaigns", _export_section)


_register_hooks()

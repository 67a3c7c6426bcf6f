"""Campaign launch (holdout snapshot, idempotency, budget) and results from real purchases."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from tests.campaigns.conftest import T0, amount_offer, make_campaign, make_customers, spend

from loyalist import clock
from loyalist.campaigns import service
from loyalist.campaigns.models import Campaign, CampaignMember
from loyalist.campaigns.schemas import CampaignCreate
from loyalist.errors import InvalidState, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.messaging.models import Message
from loyalist.offers import service as offers
from loyalist.offers.models import IssuedOffer
from loyalist.scores.models import CustomerScore


def _n(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _groups(session, campaign_id):
    return {m.customer_id: m.group for m in service.list_members(session, campaign_id, limit=1000)}


def test_create_validation_names_the_field_and_writes_nothing(session, actor):
    ids = make_customers(session, actor, 2)
    offer = amount_offer(session, actor)
    cases = [
        ({}, "segment_id"),
        ({"customer_ids": ids, "segment_id": 1, "offer_id": offer.id}, "segment_id"),
        ({"customer_ids": ids}, "offer_id"),
        ({"customer_ids": ids, "offer_id": 999999}, "offer_id"),
        ({"customer_ids": ids, "template": "nope"}, "template"),
        ({"customer_ids": ids, "offer_id": offer.id, "starts_at": T0, "ends_at": T0}, "ends_at"),
        ({"segment_id": 999999, "offer_id": offer.id}, "segment_id"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationFailed) as exc:
            make_campaign(session, actor, **fields)
        assert exc.value.field == field, fields
    assert _n(session, Campaign) == 0


def test_launch_snapshots_groups_treatment_gets_offer_and_message_control_nothing(session, actor):
    ids = make_customers(session, actor, 10)
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id)
    with clock.frozen_at(T0):
        result = service.launch(session, campaign_id=camp.id, actor=actor)
    assert (result.audience, result.treatment, result.control, result.sent) == (10, 5, 5, 5)
    assert result.campaign.status == "running" and result.campaign.stratified_by == "none"
    groups = _groups(session, camp.id)
    treated = sorted(c for c, g in groups.items() if g == "treatment")
    control = sorted(c for c, g in groups.items() if g == "control")
    keys = set(session.scalars(select(Message.dedupe_key).where(Message.source_id == str(camp.id))))
    assert keys == {f"campaign:{camp.id}:{c}" for c in treated}
    issued = set(session.scalars(select(IssuedOffer.customer_id).where(IssuedOffer.campaign_id == camp.id)))
    assert issued == set(treated)
    for c in control:
        assert [r for r in interactions.list_timeline(session, c).items if r.kind in ("offer", "campaign")] == []
    assert [r.kind for r in interactions.list_timeline(session, treated[0]).items
            if r.kind in ("offer", "campaign")] == ["campaign", "offer"]

    # idempotent: a second launch (a retried job) sends nothing more and reports the same
    with clock.frozen_at(T0 + timedelta(hours=1)):
        again = service.launch(session, campaign_id=camp.id, actor=actor)
    assert again.already_launched is True
    assert (again.treatment, again.control, again.sent) == (5, 5, 5)
    assert _n(session, IssuedOffer) == 5
    assert _n(session, Message) == 5
    assert _n(session, CampaignMember) == 10


def test_same_seed_same_groups_different_seed_different_groups(session, actor):
    ids = make_customers(session, actor, 20)
    offer = amount_offer(session, actor)
    a = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, seed="s1", name="A")
    b = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, seed="s1", name="B")
    c = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, seed="s2", name="C")
    for camp in (a, b, c):
        service.launch(session, campaign_id=camp.id, actor=actor)
    assert _groups(session, a.id) == _groups(session, b.id)
    assert _groups(session, a.id) != _groups(session, c.id)
    assert sum(1 for g in _groups(session, c.id).values() if g == "control") == 10


def test_stratified_by_rfm_segment_balanced(session, actor):
    ids = make_customers(session, actor, 20)
    for i, cid in enumerate(ids):
        session.add(CustomerScore(
            customer_id=cid, recency_days=5, purchase_days=3, last_purchase_on=T0, rfm_r=5, rfm_f=5, rfm_m=5,
            rfm_score="555", rfm_segment="champions" if i < 12 else "at_risk", churn_source="none",
            churn_reasons=[], historical_clv=Decimal("100"), model="test", computed_at=T0))
    session.flush()
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, control_percent=25)
    result = service.launch(session, campaign_id=camp.id, actor=actor)
    assert result.campaign.stratified_by == "rfm"
    # 12 x 25 % = 3 and 8 x 25 % = 2, exactly
    assert [(s.stratum, s.treatment, s.control) for s in result.strata] == [
        ("rfm:at_risk", 6, 2), ("rfm:champions", 9, 3)]


def test_budget_stops_issuing(session, actor):
    ids = make_customers(session, actor, 10)
    offer = amount_offer(session, actor, value="5")
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, control_percent=0,
                         budget=Decimal("20"), message_cost=Decimal("1"))
    result = service.launch(session, campaign_id=camp.id, actor=actor)
    # each treated member commits 5 (offer) + 1 (message): 3 x 6 = 18; a 4th would make 24 > 20
    assert (result.sent, result.budget_stopped) == (3, 7)
    assert result.campaign.committed == Decimal("18.00")
    assert _n(session, IssuedOffer) == 3
    assert _n(session, Message) == 3
    from loyalist.campaigns import holdout

    first_three = sorted(ids, key=lambda c: holdout.rank_key("may-2026", c))[:3]
    sent = {m.customer_id for m in service.list_members(session, camp.id) if m.outcome == "sent"}
    assert sent == set(first_three)


def test_results_from_real_purchases_hand_computed(session, actor):
    ids = make_customers(session, actor, 10)
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, margin=Decimal("0.5"),
                         message_cost=Decimal("0.5"), attribution_days=30, retention_days=90)
    with clock.frozen_at(T0):
        service.launch(session, campaign_id=camp.id, actor=actor)
    groups = _groups(session, camp.id)
    t = sorted(c for c, g in groups.items() if g == "treatment")
    c = sorted(c for c, g in groups.items() if g == "control")
    day = timedelta(days=1)
    spend(session, t[0], "100", T0 + 2 * day)
    spend(session, t[1], "50", T0 + 3 * day)
    spend(session, t[2], "30", T0 + 29 * day)
    spend(session, t[3], "70", T0 - 5 * day)   # before launch: not revenue, but active (retention)
    spend(session, c[0], "40", T0 + 10 * day)
    spend(session, c[1], "90", T0 + 31 * day)  # after the window: ignored
    code = offers.list_customer_offers(session, t[0])[0].issue.code
    with clock.frozen_at(T0 + 2 * day):
        offers.redeem_code(session, code=code, actor=actor)

    r = service.results(session, campaign_id=camp.id, as_of=T0 + 40 * day)
    assert r.complete is True and r.window_end == T0 + 30 * day
    assert (r.treatment.customers, r.treatment.converted, r.treatment.revenue) == (5, 3, Decimal("180.00"))
    assert (r.control.customers, r.control.converted, r.control.revenue) == (5, 1, Decimal("40.00"))
    assert (r.treatment.revenue_per_customer, r.control.revenue_per_customer) == (Decimal("36.00"), Decimal("8.00"))
    assert (r.treatment.retained, r.control.retained) == (4, 1)
    # conversion 3/5 - 1/5 = 0.4; se = sqrt(.6*.4/5 + .2*.8/5) = sqrt(0.08) = 0.282843
    se = math.sqrt(0.08)
    assert r.incremental_conversion.estimate == pytest.approx(0.4)
    assert r.incremental_conversion.low == pytest.approx(0.4 - 1.959964 * se, abs=1e-5)
    assert r.incremental_conversion.high == pytest.approx(0.4 + 1.959964 * se, abs=1e-5)
    # revenue per customer: t = [100, 50, 30, 0, 0] mean 36, s^2 = 6920/4 = 1730;
    # c = [40, 0, 0, 0, 0] mean 8, s^2 = 1280/4 = 320; d = 28; se = sqrt(346 + 64) = sqrt(410) = 20.248457
    # df = 410^2 / (346^2/4 + 64^2/4) = 168100 / 30953 = 5.43081
    # -> t(0.975, 5.43081) = 2.51044 (between t_6 = 2.447 and t_5 = 2.571), half-width 50.8326
    assert r.incremental_revenue_per_customer.estimate == pytest.approx(28.0)
    half = r.incremental_revenue_per_customer.high - 28.0
    assert half == pytest.approx(50.8326, abs=1e-3)
    # incremental revenue = 28 x 5 treated = 140
    assert r.incremental_revenue.estimate == pytest.approx(140.0)
    assert r.incremental_retention.estimate == pytest.approx(0.6)
    # cost: the 10 off actually redeemed; no message has been sent yet (queued) -> 0 x 0.5
    assert (r.offer_cost, r.messages_sent, r.message_cost, r.cost) == (Decimal("10.00"), 0, Decimal("0.00"),
                                                                       Decimal("10.00"))
    # ROI = (140 x 0.5 - 10) / 10 = 6.0
    assert r.roi == pytest.approx(6.0)


def test_results_before_launch_refused_and_provisional_note(session, actor):
    ids = make_customers(session, actor, 4)
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id)
    with pytest.raises(InvalidState):
        service.results(session, campaign_id=camp.id)
    with clock.frozen_at(T0):
        service.launch(session, campaign_id=camp.id, actor=actor)
    r = service.results(session, campaign_id=camp.id, as_of=T0 + timedelta(days=3))
    assert r.complete is False
    assert any("provisional" in n for n in r.notes)


def test_segment_audience_and_schedule_job(session, actor):
    from loyalist.campaigns import jobs
    from loyalist.customers import service as customers
    from loyalist.segments import service as segments
    from loyalist.segments.schemas import SegmentCreate

    ids = make_customers(session, actor, 6)
    for cid in ids[:4]:
        customers.add_tag(session, customer_id=cid, tag="vip", actor=actor)
    seg = segments.create_segment(session, data=SegmentCreate(
        name="VIPs", rule={"field": "tag", "op": "eq", "value": "vip"}), actor=actor)
    offer = amount_offer(session, actor)
    camp = service.create_campaign(session, data=CampaignCreate(
        name="VIP night", segment_id=seg.id, offer_id=offer.id, control_percent=25, seed="vip",
        starts_at=T0, ends_at=T0 + timedelta(days=7)), actor=actor)
    assert camp.status == "scheduled"
    with clock.frozen_at(T0 - timedelta(minutes=1)):
        assert jobs.JOBS["campaigns.run_schedule"](session) == {"launched": 0, "finished": 0}
    with clock.frozen_at(T0):
        assert jobs.JOBS["campaigns.run_schedule"](session) == {"launched": 1, "finished": 0}
        assert jobs.JOBS["campaigns.run_schedule"](session) == {"launched": 0, "finished": 0}
    assert set(_groups(session, camp.id)) == set(ids[:4])
    with clock.frozen_at(T0 + timedelta(days=7)):
        assert jobs.JOBS["campaigns.run_schedule"](session) == {"launched": 0, "finished": 1}
    assert service.get_campaign(session, camp.id).status == "finished"


def test_cancel_and_frozen_design(session, actor):
    ids = make_customers(session, actor, 2)
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id)
    service.launch(session, campaign_id=camp.id, actor=actor)
    from loyalist.campaigns.schemas import CampaignUpdate

    with pytest.raises(InvalidState) as exc:
        service.update_campaign(session, campaign_id=camp.id, data=CampaignUpdate(control_percent=30), actor=actor)
    assert exc.value.field == "control_percent"
    assert service.get_campaign(session, camp.id).control_percent == 50
    with pytest.raises(InvalidState):
        service.cancel_campaign(session, campaign_id=camp.id, actor=actor)
    assert service.get_campaign(session, camp.id).status == "running"


def test_template_message_carries_the_personal_offer_and_sent_messages_cost(session, actor):
    from loyalist.messaging import service as messaging
    from loyalist.messaging.schemas import TemplateCreate

    messaging.create_template(session, data=TemplateCreate(
        key="winback", subject="{{ offer.headline }}", text="{{ offer.body }} Valid until {{ offer.expires_at }}."),
        actor=actor)
    ids = make_customers(session, actor, 4, values=["early_access"])
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=ids, offer_id=offer.id, template="winback",
                         message_cost=Decimal("0.25"))
    with clock.frozen_at(T0):
        service.launch(session, campaign_id=camp.id, actor=actor)
    members = [m for m in service.list_members(session, camp.id) if m.group == "treatment"]
    assert len(members) == 2
    first = session.get(Message, members[0].message_id)
    issue = offers.get_issue(session, members[0].issue_id)
    from loyalist.customers import service as customers

    name = customers.get_customer(session, members[0].customer_id).first_name
    assert first.subject == f"{name}, you are first in line" == issue.headline
    assert first.text_body == f"{issue.body} Valid until {(T0 + timedelta(days=30)):%Y-%m-%d}."
    assert issue.code in first.text_body
    # only messages actually sent are a cost: mark one as delivered
    first.status = "sent"
    session.flush()
    r = service.results(session, campaign_id=camp.id, as_of=T0 + timedelta(days=1))
    assert (r.messages_sent, r.message_cost, r.cost) == (1, Decimal("0.25"), Decimal("0.25"))
    # no revenue either side: ROI = (0 x 0.3 - 0.25) / 0.25 = -1
    assert r.roi == pytest.approx(-1.0)

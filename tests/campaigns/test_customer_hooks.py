"""Merge, GDPR export and erasure include issued offers, RSVPs and campaign memberships."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.campaigns.conftest import T0, amount_offer, make_campaign, make_customers

from loyalist import clock
from loyalist.campaigns import service
from loyalist.customers import service as customers
from loyalist.offers import service as offers
from loyalist.offers.schemas import OfferCreate


def test_merge_moves_offers_rsvps_and_memberships(session, actor):
    survivor, duplicate = make_customers(session, actor, 2)
    event = offers.create_offer(session, data=OfferCreate(
        name="Launch party", kind="event_invitation", event_at=datetime(2026, 9, 1, tzinfo=UTC), capacity=5),
        actor=actor)
    with clock.frozen_at(T0):
        offers.issue_offer(session, offer_id=event.id, customer_id=duplicate, actor=actor, issue_key="inv-d")
        offers.rsvp(session, offer_id=event.id, customer_id=duplicate, response="yes", actor=actor)
    offer = amount_offer(session, actor)
    camp = make_campaign(session, actor, customer_ids=[duplicate], offer_id=offer.id, control_percent=0)
    with clock.frozen_at(T0):
        service.launch(session, campaign_id=camp.id, actor=actor)
    customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    mine = offers.list_customer_offers(session, survivor)
    assert sorted(o.kind for o in mine) == ["event_invitation", "generic"]
    assert {o.rsvp for o in mine if o.kind == "event_invitation"} == {"confirmed"}
    assert [m.customer_id for m in service.list_members(session, camp.id)] == [survivor]


def test_export_and_erasure(session, actor):
    (cid,) = make_customers(session, actor, 1)
    offer = amount_offer(session, actor, value="7")
    camp = make_campaign(session, actor, customer_ids=[cid], offer_id=offer.id, control_percent=0)
    with clock.frozen_at(T0):
        service.launch(session, campaign_id=camp.id, actor=actor)
    export = customers.export_customer(session, cid)
    sections = export["sections"]
    assert len(sections["offers"]["issued"]) == 1
    assert sections["campaigns"] == [{"campaign_id": camp.id, "campaign": "Win-back May", "group": "treatment",
                                      "stratum": "all", "outcome": "sent", "added_at": T0.isoformat()}]
    issue = offers.list_customer_offers(session, cid)[0].issue
    assert issue.cost is None and issue.status == "issued"
    customers.erase_customer(session, customer_id=cid, actor=actor)
    after = offers.get_issue(session, issue.id)
    assert (after.status, after.headline, after.body) == ("void", "[erased]", "[erased]")
    # the membership stays (no personal data) so the campaign's results remain reproducible
    assert [m.group for m in service.list_members(session, camp.id)] == ["treatment"]
    assert offers.campaign_cost(session, campaign_id=camp.id) == Decimal("0.00")

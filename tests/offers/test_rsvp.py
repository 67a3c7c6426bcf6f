"""Closed-event invitations: capacity, waitlist in order of the yes, promotion when a seat frees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.offers.conftest import count_rows, make_customer, make_offer

from loyalist import clock
from loyalist.errors import InvalidState
from loyalist.interactions import service as interactions
from loyalist.offers import service
from loyalist.offers.models import Rsvp

EVENT = datetime(2026, 4, 1, 18, tzinfo=UTC)


@pytest.fixture
def event(session, actor):
    offer = make_offer(session, actor, name="Private tasting", kind="event_invitation", event_at=EVENT,
                       location="Main store", capacity=2)
    guests = [make_customer(session, actor, first_name=n) for n in ("Ann", "Bo", "Cy", "Di", "Ed")]
    with clock.frozen_at(datetime(2026, 3, 1, tzinfo=UTC)):
        for g in guests[:4]:
            service.issue_offer(session, offer_id=offer.id, customer_id=g, actor=actor, issue_key=f"inv-{g}")
    return offer, guests


def _answer(session, actor, offer, cid, response, minute):
    with clock.frozen_at(datetime(2026, 3, 2, 10, minute, tzinfo=UTC)):
        return service.rsvp(session, offer_id=offer.id, customer_id=cid, response=response, actor=actor)


def test_capacity_waitlist_and_promotion(session, actor, event):
    offer, (ann, bo, cy, di, _ed) = event
    assert _answer(session, actor, offer, ann, "yes", 1).status == "confirmed"
    assert _answer(session, actor, offer, bo, "yes", 2).status == "confirmed"
    third = _answer(session, actor, offer, cy, "yes", 3)
    fourth = _answer(session, actor, offer, di, "yes", 4)
    assert (third.status, third.waitlist_position) == ("waitlisted", 1)
    assert (fourth.status, fourth.waitlist_position) == ("waitlisted", 2)

    assert _answer(session, actor, offer, ann, "no", 5).status == "declined"
    summary = service.rsvp_summary(session, offer.id)
    status = {r.customer_id: (r.status, r.waitlist_position) for r in summary.rsvps}
    assert status == {ann: ("declined", None), bo: ("confirmed", None), cy: ("confirmed", None),
                      di: ("waitlisted", 1)}
    assert (summary.confirmed, summary.waitlisted, summary.declined, summary.maybe) == (2, 1, 1, 0)
    promoted = [r for r in interactions.list_timeline(session, cy).items if r.data and r.data.get("promoted")]
    assert len(promoted) == 1 and promoted[0].kind == "invitation"

    # a confirmed guest saying maybe frees the seat too
    assert _answer(session, actor, offer, bo, "maybe", 6).status == "maybe"
    assert service.rsvp_summary(session, offer.id).confirmed == 2
    assert {r.customer_id for r in service.rsvp_summary(session, offer.id).rsvps if r.status == "confirmed"} == {cy, di}


def test_not_invited_or_after_start_refused_and_nothing_written(session, actor, event):
    offer, guests = event
    with pytest.raises(InvalidState) as exc:
        _answer(session, actor, offer, guests[4], "yes", 1)
    assert exc.value.field == "customer_id"
    with clock.frozen_at(EVENT), pytest.raises(InvalidState) as exc:
        service.rsvp(session, offer_id=offer.id, customer_id=guests[0], response="yes", actor=actor)
    assert exc.value.field == "offer_id"
    assert count_rows(session, Rsvp) == 0


def test_same_answer_twice_is_a_no_op_and_portal_listing(session, actor, event):
    offer, (ann, *_rest) = event
    first = _answer(session, actor, offer, ann, "yes", 1)
    again = _answer(session, actor, offer, ann, "yes", 9)
    assert again.responded_at == first.responded_at
    listed = service.list_customer_offers(session, ann)
    assert [(o.kind, o.rsvp, o.location) for o in listed] == [("event_invitation", "confirmed", "Main store")]
    assert listed[0].issue.expires_at == EVENT
    assert "You are invited to Private tasting on 2026-04-01 18:00 UTC at Main store." in listed[0].issue.body

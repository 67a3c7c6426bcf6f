"""Real commits from parallel threads on both backends: one launch, seats never overbooked."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select
from tests.campaigns.conftest import amount_offer, make_campaign, make_customers
from tests.parallel import run_in_parallel

from loyalist.campaigns import service
from loyalist.campaigns.models import CampaignMember
from loyalist.db import make_session_factory, unit_of_work
from loyalist.messaging.models import Message
from loyalist.offers import service as offers
from loyalist.offers.models import IssuedOffer
from loyalist.offers.schemas import OfferCreate


def test_racing_launches_send_once(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        ids = make_customers(s, actor, 10)
        camp = make_campaign(s, actor, customer_ids=ids, offer_id=amount_offer(s, actor).id)

    def launch(i: int) -> bool:
        with unit_of_work(factory) as s:
            return service.launch(s, campaign_id=camp.id, actor=actor).already_launched

    assert Counter(run_in_parallel(4, launch)) == {True: 3, False: 1}
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(CampaignMember)) == 10
        assert s.scalar(select(func.count()).select_from(IssuedOffer)) == 5
        assert s.scalar(select(func.count()).select_from(Message)) == 5


def test_parallel_yes_never_overbooks(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        ids = make_customers(s, actor, 8)
        event = offers.create_offer(s, data=OfferCreate(name="Tasting", kind="event_invitation", capacity=3,
                                                        event_at=datetime(2099, 6, 1, tzinfo=UTC)), actor=actor)
        for cid in ids:
            offers.issue_offer(s, offer_id=event.id, customer_id=cid, actor=actor, issue_key=f"i-{cid}")

    def yes(i: int) -> str:
        with unit_of_work(factory) as s:
            return offers.rsvp(s, offer_id=event.id, customer_id=ids[i], response="yes", actor=actor).status

    assert Counter(run_in_parallel(8, yes)) == {"confirmed": 3, "waitlisted": 5}
    with unit_of_work(factory) as s:
        summary = offers.rsvp_summary(s, event.id)
        assert (summary.confirmed, summary.waitlisted) == (3, 5)
        assert sorted(r.waitlist_position for r in summary.rsvps if r.status == "waitlisted") == [1, 2, 3, 4, 5]

"""Complaints from the portal: opened as cases, followed by their owner only."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.portal.conftest import csrf_of

from loyalist.cases import service as cases
from loyalist.cases.models import Case


def test_a_complaint_becomes_a_case_the_customer_can_follow(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/complaints")
    assert page.status_code == 200 and 'for="description"' in page.text
    r = client.post("/portal/complaints", data={"csrf": csrf_of(page.text), "category": "delivery",
                                                "subject": "Late parcel", "description": "It came a week late."},
                    follow_redirects=False)
    assert r.status_code == 303
    detail = client.get(r.headers["location"])
    assert "Late parcel" in detail.text and "Received" in detail.text
    with session_factory() as s:
        [case] = cases.list_cases_for_customer(s, world.alice)
        assert (case.category, case.state) == ("delivery", "new")
    assert "Late parcel" in client.get("/portal/complaints").text


def test_a_complaint_without_text_names_the_field_and_opens_nothing(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/complaints")
    r = client.post("/portal/complaints", data={"csrf": csrf_of(page.text), "category": "delivery",
                                                "subject": "Late", "description": "  "})
    assert r.status_code == 422 and 'aria-describedby="description-error"' in r.text
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0


def test_another_customers_case_is_not_found(world, sign_in, session_factory) -> None:
    alice = sign_in("alice@example.com", world.alice)
    page = alice.get("/portal/complaints")
    r = alice.post("/portal/complaints", data={"csrf": csrf_of(page.text), "category": "product",
                                               "subject": "Broken cup", "description": "Handle fell off."},
                   follow_redirects=False)
    case_path = r.headers["location"].split("?")[0]
    bob = sign_in("bob@example.com", world.bob)
    assert bob.get(case_path).status_code == 404
    assert bob.get("/portal/complaints/999999").status_code == 404
    bob_csrf = csrf_of(bob.get("/portal/complaints").text)
    reply = bob.post(f"{case_path}/reply", data={"csrf": bob_csrf, "text": "me too"})
    assert reply.status_code == 404
    assert "Broken cup" not in bob.get("/portal/complaints").text
    with session_factory() as s:
        case_id = int(case_path.rsplit("/", 1)[1])
        assert [e.kind for e in cases.list_events(s, case_id) if e.kind == "customer_reply"] == []


def test_the_customer_replies_to_a_case(world, sign_in, session_factory) -> None:
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/complaints")
    r = client.post("/portal/complaints", data={"csrf": csrf_of(page.text), "category": "service",
                                                "subject": "Rude", "description": "Nobody greeted me."},
                    follow_redirects=False)
    path = r.headers["location"].split("?")[0]
    ok = client.post(f"{path}/reply", data={"csrf": csrf_of(page.text), "text": "It was on Monday."})
    assert ok.status_code == 200 and "Saved." in ok.text
    with session_factory() as s:
        case_id = int(path.rsplit("/", 1)[1])
        assert [e.note for e in cases.list_events(s, case_id) if e.kind == "customer_reply"] == ["It was on Monday."]


def _invite_to_nps(session_factory, customer_id: int) -> int:  # type: ignore[no-untyped-def]
    from loyalist.surveys import service as surveys
    from loyalist.surveys.schemas import FromTemplate
    from loyalist.types import Actor

    staff = Actor(kind="staff", id=None, name="t", role="admin")
    with session_factory() as s, s.begin():
        survey = surveys.create_from_template(s, data=FromTemplate(template="nps"), actor=staff)
        surveys.invite(s, survey_id=survey.id, customer_ids=[customer_id], actor=staff)
    return survey.id


def test_a_survey_is_answered_in_the_portal_with_its_follow_up(world, sign_in, session_factory) -> None:
    from loyalist.surveys import service as surveys

    survey_id = _invite_to_nps(session_factory, world.alice)
    client = sign_in("alice@example.com", world.alice)
    listing = client.get("/portal/surveys")
    assert f"/portal/surveys/{survey_id}" in listing.text
    form = client.get(f"/portal/surveys/{survey_id}")
    assert form.status_code == 200
    questions = surveys.public_survey(session_factory(), survey_id=survey_id, locale="en").questions
    score_q = next(q for q in questions if q.type == "nps")
    follow_ups = [q for q in questions if q.show_if and q.show_if.get("question") == score_q.key]
    csrf = csrf_of(form.text)
    step = client.post(f"/portal/surveys/{survey_id}", data={"csrf": csrf, "presented": score_q.key,
                                                              f"q_{score_q.key}": "3"})
    asked = [q for q in follow_ups if surveys.is_shown(q.show_if, {score_q.key: 3})]
    assert step.status_code == 200 and asked and f'name="q_{asked[0].key}"' in step.text
    presented = ",".join([score_q.key] + [q.key for q in asked])
    done = client.post(f"/portal/surveys/{survey_id}", data={
        "csrf": csrf, "presented": presented, f"q_{score_q.key}": "3", f"q_{asked[0].key}": "Faster delivery"},
        follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/portal/surveys?done=1"
    with session_factory() as s:
        [response] = surveys.list_responses(s, customer_id=world.alice)
        assert response.nps == 3 and response.channel == "portal"
        assert surveys.pending_for_customer(s, customer_id=world.alice) == []
    # the invitation is used up: the page is gone, another customer never had it
    assert client.get(f"/portal/surveys/{survey_id}").status_code == 404
    bob = sign_in("bob@example.com", world.bob)
    assert bob.get(f"/portal/surveys/{survey_id}").status_code == 404


def test_offers_claim_points_and_answer_an_invitation(world, sign_in, session_factory) -> None:
    from datetime import timedelta

    from loyalist import clock
    from loyalist.ledger import service as ledger
    from loyalist.offers import service as offers
    from loyalist.offers.schemas import OfferCreate
    from loyalist.types import Actor

    staff = Actor(kind="staff", id=None, name="t", role="admin")
    with session_factory() as s, s.begin():
        bonus = offers.create_offer(s, actor=staff, data=OfferCreate(name="Welcome back", kind="generic",
                                                                     reward_type="points", points=75))
        party = offers.create_offer(s, actor=staff, data=OfferCreate(
            name="Tasting evening", kind="event_invitation", capacity=10,
            event_at=clock.now() + timedelta(days=10), location="Main store"))
        bonus_issue = offers.issue_offer(s, offer_id=bonus.id, customer_id=world.alice, actor=staff, issue_key="b1")
        offers.issue_offer(s, offer_id=party.id, customer_id=world.alice, actor=staff, issue_key="p1")
    client = sign_in("alice@example.com", world.alice)
    page = client.get("/portal/offers")
    assert page.status_code == 200 and bonus_issue.headline in page.text
    csrf = csrf_of(page.text)
    claimed = client.post(f"/portal/offers/{bonus_issue.id}/claim", data={"csrf": csrf})
    assert claimed.status_code == 200
    again = client.post(f"/portal/offers/{bonus_issue.id}/claim", data={"csrf": csrf})
    assert again.status_code in (200, 409)
    answered = client.post(f"/portal/offers/{party.id}/rsvp", data={"csrf": csrf, "response": "yes"})
    assert answered.status_code == 200 and "You have a seat." in answered.text
    with session_factory() as s:
        assert ledger.get_balance(s, world.alice).available == 575
    # Bob has neither offer: claiming Alice's issue is not found, answering her invitation refused
    bob = sign_in("bob@example.com", world.bob)
    bob_csrf = csrf_of(bob.get("/portal/offers").text)
    assert bob.post(f"/portal/offers/{bonus_issue.id}/claim", data={"csrf": bob_csrf}).status_code == 404
    assert bob.post(f"/portal/offers/{party.id}/rsvp", data={"csrf": bob_csrf, "response": "yes"}).status_code == 409
    with session_factory() as s:
        assert ledger.get_balance(s, world.bob).available == 900


def test_another_customer_enumerating_ids_reaches_nothing(world, sign_in, session_factory) -> None:
    """Bob walks every id-bearing portal route over a range of ids: all of Alice's objects stay
    out of reach (404, or 409 for an invitation he does not hold) and nothing of hers changes."""
    from datetime import timedelta

    from loyalist import clock
    from loyalist.ledger import service as ledger
    from loyalist.offers import service as offers
    from loyalist.offers.schemas import OfferCreate
    from loyalist.surveys import service as surveys
    from loyalist.types import Actor

    staff = Actor(kind="staff", id=None, name="t", role="admin")
    survey_id = _invite_to_nps(session_factory, world.alice)
    with session_factory() as s, s.begin():
        bonus = offers.create_offer(s, actor=staff, data=OfferCreate(name="Bonus", kind="generic",
                                                                     reward_type="points", points=75))
        party = offers.create_offer(s, actor=staff, data=OfferCreate(
            name="Party", kind="event_invitation", capacity=5, event_at=clock.now() + timedelta(days=3)))
        offers.issue_offer(s, offer_id=bonus.id, customer_id=world.alice, actor=staff, issue_key="e1")
        offers.issue_offer(s, offer_id=party.id, customer_id=world.alice, actor=staff, issue_key="e2")
    alice = sign_in("alice@example.com", world.alice)
    page = alice.get("/portal/complaints")
    alice.post("/portal/complaints", data={"csrf": csrf_of(page.text), "category": "service",
                                           "subject": "Private", "description": "Alice's own story"})
    bob = sign_in("bob@example.com", world.bob)
    csrf = csrf_of(bob.get("/portal/offers").text)
    for i in range(1, 8):
        assert bob.get(f"/portal/complaints/{i}").status_code == 404
        assert bob.post(f"/portal/complaints/{i}/reply", data={"csrf": csrf, "text": "x"}).status_code == 404
        assert bob.post(f"/portal/offers/{i}/claim", data={"csrf": csrf}).status_code == 404
        assert bob.post(f"/portal/offers/{i}/rsvp", data={"csrf": csrf, "response": "yes"}).status_code in (404, 409)
        assert bob.get(f"/portal/surveys/{i}").status_code == 404
    assert "Private" not in bob.get("/portal/complaints").text
    with session_factory() as s:
        assert ledger.get_balance(s, world.alice).available == 500
        assert ledger.get_balance(s, world.bob).available == 900
        [mine] = cases.list_cases_for_customer(s, world.alice)
        assert [e.kind for e in cases.list_events(s, mine.id) if e.kind == "customer_reply"] == []
        assert offers.rsvp_summary(s, party.id).rsvps == []
        assert [p.survey_id for p in surveys.pending_for_customer(s, customer_id=world.alice)] == [survey_id]


def test_offers_are_paged_newest_first(world, sign_in, session_factory) -> None:
    """A customer with many offers gets them a page at a time from the database, newest first."""
    from loyalist.offers import service as offers
    from loyalist.offers.schemas import OfferCreate
    from loyalist.portal.care_routes import OFFERS_PAGE
    from loyalist.types import Actor

    staff = Actor(kind="staff", id=None, name="t", role="admin")
    count = OFFERS_PAGE + 3
    with session_factory() as s, s.begin():
        offer = offers.create_offer(s, actor=staff, data=OfferCreate(name="Weekly treat", kind="generic",
                                                                     reward_type="points", points=5,
                                                                     per_customer_limit=100))
        issued = [offers.issue_offer(s, offer_id=offer.id, customer_id=world.alice, actor=staff,
                                     issue_key=f"w{i}") for i in range(count)]
    client = sign_in("alice@example.com", world.alice)
    first = client.get("/portal/offers")
    assert first.status_code == 200
    assert first.text.count('action="/portal/offers/') == OFFERS_PAGE  # one claim form per shown offer
    assert f"/portal/offers/{issued[-1].id}/claim" in first.text  # newest first
    assert f"/portal/offers/{issued[0].id}/claim" not in first.text
    assert "/portal/offers?page_no=2" in first.text
    second = client.get("/portal/offers?page_no=2")
    assert second.text.count('action="/portal/offers/') == 3
    assert f"/portal/offers/{issued[0].id}/claim" in second.text
    assert "/portal/offers?page_no=3" not in second.text and "/portal/offers?page_no=1" in second.text

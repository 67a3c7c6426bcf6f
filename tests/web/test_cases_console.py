"""The service-recovery flow through the console: each checklist step is a form, a wrong step is
refused with its error beside the form and nothing written, compensation reaches the balance."""

from __future__ import annotations

from tests.conftest import STAFF_ACTOR
from tests.web.conftest import csrf_of

from loyalist.cases import service as cases
from loyalist.cases.schemas import CaseCreate
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.ledger import service as ledger


def _case(session_factory) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with session_factory() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Olga", last_name="Berg"),
                                        actor=STAFF_ACTOR).id
        case = cases.create_case(s, data=CaseCreate(customer_id=cid, channel="phone", category="delivery",
                                                    subject="Parcel arrived broken",
                                                    description="The vase was in pieces."), actor=STAFF_ACTOR)
    return cid, case.id


def test_agent_recovers_a_complaint_end_to_end(console_as, session_factory) -> None:
    customer_id, case_id = _case(session_factory)
    c = console_as("agent")
    queue = c.get("/console/cases", params={"state": "new"})
    assert f'href="/console/cases/{case_id}"' in queue.text and "data-due=" in queue.text
    page = c.get(f"/console/cases/{case_id}")
    token = csrf_of(page.text)

    # Resolving before the apology is refused, shown at the resolve form, and changes nothing.
    early = c.post(f"/console/cases/{case_id}/resolve", data={"resolution": "done", "csrf_token": token})
    assert early.status_code == 400
    assert "error-summary" in early.text
    with session_factory() as s:
        assert cases.get_case(s, case_id).state == "new"

    def post(step: str, **data: str) -> None:
        r = c.post(f"/console/cases/{case_id}/{step}", data={**data, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303, r.text

    post("acknowledge", text="We are very sorry about the broken vase.")
    post("actions", description="Replacement dispatched by courier")
    compensation = c.get(f"/console/cases/{case_id}").text
    comp_id = compensation.split('name="compensation_id" value="')[1].split('"')[0]
    missing = c.post(f"/console/cases/{case_id}/compensation",
                     data={"kind": "points", "points": "", "description": "Goodwill", "compensation_id": comp_id,
                           "csrf_token": token})
    assert missing.status_code == 400 and 'id="e-comp-points"' in missing.text
    post("compensation", kind="points", points="200", description="Goodwill points", compensation_id=comp_id)
    post("compensation", kind="points", points="200", description="Goodwill points", compensation_id=comp_id)
    post("resolve", resolution="Replacement delivered")
    post("follow-up", csat="5", comment="Very happy now")
    post("transition", to="closed")
    with session_factory() as s:
        assert cases.get_case(s, case_id).state == "closed"
        assert ledger.get_balance(s, customer_id).available == 200  # the retry credited nothing twice
    person = c.get(f"/console/customers/{customer_id}").text
    assert '<span class="value" data-testid="balance">200</span>' in person


def test_analyst_cannot_open_the_case_queue(console_as, session_factory) -> None:
    _, case_id = _case(session_factory)
    c = console_as("analyst")
    assert c.get("/console/cases").status_code == 403
    assert c.get(f"/console/cases/{case_id}").status_code == 403


def test_a_case_from_a_public_review_without_a_customer_opens(console_as, session_factory) -> None:
    from loyalist.feedback import service as feedback
    from loyalist.feedback.schemas import MentionIn

    with session_factory() as s, s.begin():
        feedback.ingest_mentions(s, actor=STAFF_ACTOR, mentions=[MentionIn(
            kind="review", source="google", external_id="g-1", rating=1,
            text="Terrible service, the barista was rude and nobody answered my email.")])
        [case] = cases.list_cases(s).items
    assert case.customer_id is None
    page = console_as("agent").get(f"/console/cases/{case.id}")
    assert page.status_code == 200 and "not linked to a customer" in page.text

"""Cases and flags take part in merge, GDPR export and erasure; the portal functions."""

from __future__ import annotations

import pytest

from loyalist.cases import service
from loyalist.customers import service as customers
from loyalist.errors import InvalidState, NotFound
from loyalist.types import Actor

from .conftest import drive_to, make_customer, make_staff, new_case

CUSTOMER = Actor(kind="customer", id=None, name="portal", role=None)


def test_merge_moves_cases_and_flags(session, actor) -> None:
    survivor, duplicate = make_customer(session, actor), make_customer(session, actor)
    case = new_case(session, actor, customer_id=duplicate)
    service.flag_customer(session, customer_id=duplicate, reason_code="price", staff_id=make_staff(session, actor),
                          actor=actor)
    customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    assert service.get_case(session, case.id).customer_id == survivor
    assert service.open_flags_count(session, survivor) == 1
    assert service.open_flags_count(session, duplicate) == 0


def test_export_and_erasure(session, actor) -> None:
    cid = drive_to(session, actor, "closed")
    customer_id = service.get_case(session, cid).customer_id
    service.flag_customer(session, customer_id=customer_id, reason_code="quality", note="Complained loudly",
                          staff_id=make_staff(session, actor), actor=actor)
    exported = customers.export_customer(session, customer_id)["sections"]["cases"]
    assert [c["id"] for c in exported["cases"]] == [cid]
    assert exported["cases"][0]["description"] == "The vase was in pieces."
    assert len(exported["cases"][0]["events"]) == 10
    assert [f["note"] for f in exported["staff_flags"]] == ["Complained loudly"]
    customers.erase_customer(session, customer_id=customer_id, actor=actor)
    case = service.get_case(session, cid)
    assert (case.subject, case.description, case.ack_text, case.resolution, case.csat_comment) == (
        "[erased]", "[erased]", None, None, None)
    assert {e.note for e in service.list_events(session, cid)} <= {None, "[erased]"}
    assert {a.description for a in service.list_actions(session, cid)} == {"[erased]"}
    assert [f.note for f in service.list_flags(session, customer_id=customer_id).items] == [None]


def test_portal_functions(session, actor) -> None:
    customer_id = make_customer(session, actor)
    someone_else = make_customer(session, actor)
    opened = service.open_case(session, customer_id=customer_id, channel="portal", category="billing",
                               severity="normal", subject="Charged twice", description="Two charges", actor=CUSTOMER)
    assert opened.state == "new"
    [mine] = service.list_cases_for_customer(session, customer_id)
    assert (mine.id, mine.subject, mine.waiting_for_you) == (opened.id, "Charged twice", False)
    assert service.list_cases_for_customer(session, someone_else) == []
    with pytest.raises(NotFound):
        service.get_customer_case(session, case_id=opened.id, customer_id=someone_else)
    with pytest.raises(NotFound):
        service.customer_reply(session, case_id=opened.id, customer_id=someone_else, text="hi", actor=CUSTOMER)
    service.acknowledge(session, case_id=opened.id, text="Sorry, checking", actor=actor)
    service.transition(session, case_id=opened.id, to="waiting_for_customer", actor=actor)
    assert service.get_customer_case(session, case_id=opened.id, customer_id=customer_id).waiting_for_you
    view = service.customer_reply(session, case_id=opened.id, customer_id=customer_id, text="Statement attached",
                                  actor=CUSTOMER)
    assert (view.state, view.apology) == ("in_progress", "Sorry, checking")
    closed = drive_to(session, actor, "closed", customer_id=customer_id)
    with pytest.raises(InvalidState):
        service.customer_reply(session, case_id=closed, customer_id=customer_id, text="late", actor=CUSTOMER)

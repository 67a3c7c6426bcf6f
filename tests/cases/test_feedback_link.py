"""Complaint texts are analysed by feedback; a review/mention needing an answer opens a case."""

from __future__ import annotations

import pytest

from loyalist import clock
from loyalist.cases import service
from loyalist.cases.schemas import CompensationRequest
from loyalist.errors import InvalidState
from loyalist.feedback import service as feedback

from .conftest import at, make_customer, new_case


def test_case_text_is_analysed_and_stored(session, actor) -> None:
    case = new_case(session, actor, description="The courier was late again and the box was damaged.")
    [item] = feedback.list_items(session, source_type="case", customer_id=case.customer_id).items
    assert (item.source_id, item.language, item.sentiment) == (str(case.id), "en", "negative")
    assert "delivery" in [t.code for t in item.tags]


def test_review_needing_an_answer_opens_a_case_once(session, actor) -> None:
    customer = make_customer(session, actor)
    with clock.frozen_at(at(2, 9)):
        item = feedback.record_text(session, customer_id=customer, text="Terrible service, the delivery was late "
                                    "and nobody answered my emails. Why?", source_type="review", source_id="r-1",
                                    channel="social", platform="trustpilot", actor=actor)
    assert item.needs_answer
    [case] = service.list_customer_cases(session, customer)
    assert (case.source_type, case.source_id, case.sla_policy, case.channel) == (
        "feedback", str(item.id), "public_response", "social")
    assert case.first_response_due_at == at(2, 10)  # public_response: 60 business minutes
    assert case.category in ("delivery", "service")
    assert case.subject == "Public review on trustpilot needs an answer"
    # Recording the same review again does not open a second case; nor does calling the hook.
    feedback.record_text(session, customer_id=customer, text="Terrible service", source_type="review",
                         source_id="r-1", channel="social", actor=actor)
    assert service.open_case_for_feedback(session, item=item, actor=actor).id == case.id
    assert len(service.list_customer_cases(session, customer)) == 1


def test_mention_by_an_unknown_author_is_linked_later(session, actor) -> None:
    item = feedback.record_text(session, customer_id=None, text="Worst shop ever, my order never arrived!",
                                source_type="mention", source_id="m-9", channel="social", author="@kim",
                                actor=actor)
    page = service.list_cases(session, category=None)
    [case] = [c for c in page.items if c.source_id == str(item.id)]
    assert case.customer_id is None and case.subject.endswith("by @kim needs an answer")
    with pytest.raises(InvalidState):
        service.compensate(session, case_id=case.id, actor=actor, data=CompensationRequest(
            kind="points", points=10, compensation_id="c", description="sorry"))
    customer = make_customer(session, actor)
    linked = service.link_customer(session, case_id=case.id, customer_id=customer, actor=actor)
    assert linked.customer_id == customer
    with pytest.raises(InvalidState):
        service.link_customer(session, case_id=case.id, customer_id=customer, actor=actor)

"""The five parts feed each other, end to end through the services (no mocks):

know (profile, timeline) -> reward (a purchase earns points) -> listen (a detractor's NPS answer,
its text analysed; a complaint handled as a case with an apology, an action and compensation)
-> act (an automation gives staff a call task for the detractor; a segment finds detractors
with open cases) -> measure (scores from the purchases; the ledger reconciles).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalist import clock
from loyalist.automation import service as automation
from loyalist.automation.schemas import ActionSpec, AutomationCreate, TriggerSpec
from loyalist.cases import service as cases
from loyalist.cases.schemas import CaseCreate, CompensationRequest
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.events import service as events
from loyalist.events.schemas import EventIn, RuleCreate
from loyalist.feedback import service as feedback
from loyalist.interactions import service as interactions
from loyalist.ledger import service as ledger
from loyalist.scores import service as scores
from loyalist.segments import service as segments
from loyalist.surveys import service as surveys
from loyalist.surveys.schemas import FromTemplate
from loyalist.tasks import service as tasks

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def test_a_detractor_is_heard_recovered_and_measured(session, actor) -> None:
    with clock.frozen_at(NOW - timedelta(days=200)):
        events.create_rule(session, data=RuleCreate(name="1 point per EUR", kind="points_per_amount"), actor=actor)
        olga = customers.create_customer(session, actor=actor, data=CustomerCreate(
            external_id="OLGA", first_name="Ольга", email="olga@example.com", locale="uk",
            timezone="Europe/Kyiv")).id
        others = customers.create_customers(session, actor=actor, items=[
            CustomerCreate(external_id=f"N{i}", email=f"n{i}@example.com") for i in range(6)])
    for n, cid in enumerate([olga, *others]):
        ext = customers.get_customer(session, cid).external_id
        for k in range(3 + n % 3):
            when = NOW - timedelta(days=180 - 40 * k - n)
            with clock.frozen_at(when):
                events.ingest(session, actor=actor, data=EventIn(
                    type="purchase", idempotency_key=f"p-{cid}-{k}", customer_external_id=ext,
                    order_ref=f"O-{cid}-{k}", occurred_at=when, net_amount="20.00", currency="EUR"))
    assert ledger.get_balance(session, olga).available == 60

    with clock.frozen_at(NOW):
        call_back = automation.create_automation(session, actor=actor, data=AutomationCreate(
            name="Detractor call-back", trigger=TriggerSpec(type="nps_detractor"),
            actions=[ActionSpec(type="create_task", task_kind="call", title="Call back the detractor")]))
        nps = surveys.create_from_template(session, data=FromTemplate(template="nps"), actor=actor)
        response = surveys.submit_response(
            session, survey_id=nps.id, customer_id=olga, channel="email", locale="uk", actor=actor,
            answers={"score": 2, "better": "Доставка запізнилася на годину, кава приїхала холодною."})
    assert response.nps == 2
    # listen: the free text is analysed in the customer's language, with its reason shown
    [item] = feedback.list_items(session, customer_id=olga, source_type="survey_answer").items
    assert item.language == "uk" and item.sentiment == "negative"
    assert "delivery" in {tag.code for tag in item.tags}

    # act: the automation turns the detractor answer into a call for staff, once
    with clock.frozen_at(NOW + timedelta(minutes=1)):
        automation.run_all(session, kinds=frozenset({"nps_detractor"}))
        automation.run_all(session, kinds=frozenset({"nps_detractor"}))
    calls = tasks.list_tasks(session, customer_id=olga).items
    assert [(t.kind, t.title) for t in calls] == [("call", "Call back the detractor")]
    assert automation.list_runs(session, automation_id=call_back.id).total == 1

    # listen: the complaint is a case; the recovery checklist is followed; compensation lands once
    with clock.frozen_at(NOW + timedelta(minutes=5)):
        case = cases.create_case(session, actor=actor, data=CaseCreate(
            customer_id=olga, channel="phone", category="delivery", subject="Late, cold delivery",
            description="The courier was an hour late."))
        segment = {"all": [{"field": "nps_category", "op": "eq", "value": "detractor"},
                           {"field": "open_cases", "op": "ge", "value": 1}]}
        assert segments.member_ids(session, rule=segment) == [olga]
        cases.acknowledge(session, case_id=case.id, text="Вибачте, будь ласка!", actor=actor)
        cases.transition(session, case_id=case.id, to="in_progress", actor=actor)
        cases.add_action(session, case_id=case.id, description="Spoke to the courier company", actor=actor)
        for _ in range(2):  # a retried compensation posts once
            cases.compensate(session, case_id=case.id, actor=actor, data=CompensationRequest(
                kind="points", compensation_id="sorry", points=150, description="150 points as an apology"))
        cases.resolve(session, case_id=case.id, resolution="Refunded the delivery fee", actor=actor)
    assert ledger.get_balance(session, olga).available == 60 + 150
    assert segments.member_ids(session, rule=segment) == []  # no open case any more

    # know: the whole story is on one timeline
    kinds = {row.kind for row in interactions.list_timeline(session, olga, limit=200).items}
    assert {"purchase", "points_change", "survey_answer", "automation", "complaint", "case_update"} <= kinds

    # measure: scores from the purchases; the books balance
    with clock.frozen_at(NOW + timedelta(hours=1)):
        scores.refresh(session, as_of=NOW + timedelta(hours=1))
    mine = scores.get_scores(session, olga)
    assert mine.rfm_segment is not None and 0.0 <= float(mine.p_alive) <= 1.0
    assert ledger.reconcile(session).ok

"""Service recovery: actions, compensation posted exactly once (points, voucher), gestures."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalist.cases import service
from loyalist.cases.schemas import CompensationRequest
from loyalist.errors import IdempotencyConflict, InvalidState, LimitExceeded, ValidationFailed
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerEntry
from loyalist.rewards import service as rewards
from loyalist.rewards.schemas import RewardCreate

from .conftest import drive_to, new_case, snapshot


def _entries(session, customer_id: int) -> list[tuple[str, int, str]]:
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
                           .order_by(LedgerEntry.id))
    return [(r.kind, r.points, r.idempotency_key) for r in rows]


def test_points_compensation_posts_exactly_once(session, actor) -> None:
    case = new_case(session, actor)
    request = CompensationRequest(kind="points", points=250, compensation_id="c1", description="Sorry for the wait")
    first = service.compensate(session, case_id=case.id, data=request, actor=actor)
    again = service.compensate(session, case_id=case.id, data=request, actor=actor)
    assert again == first
    assert (first.kind, first.points, first.compensation_key) == ("points", 250, "c1")
    assert _entries(session, case.customer_id) == [("compensation", 250, f"case-{case.id}-comp-c1")]
    assert ledger.get_balance(session, case.customer_id).available == 250
    entry = session.get(LedgerEntry, first.ledger_entry_id)
    assert (entry.source, entry.reference_type, entry.reference_id) == ("service_recovery", "case", str(case.id))
    assert len(service.list_actions(session, case.id)) == 1


def test_same_compensation_id_with_other_content_is_a_conflict(session, actor) -> None:
    case = new_case(session, actor)
    service.compensate(session, case_id=case.id, actor=actor,
                       data=CompensationRequest(kind="points", points=100, compensation_id="x", description="a"))
    before = snapshot(session, case.id)
    with pytest.raises(IdempotencyConflict) as err:
        service.compensate(session, case_id=case.id, actor=actor,
                           data=CompensationRequest(kind="points", points=999, compensation_id="x", description="a"))
    assert err.value.field == "compensation_id"
    assert snapshot(session, case.id) == before
    assert ledger.get_balance(session, case.customer_id).available == 100


def test_another_compensation_id_compensates_again(session, actor) -> None:
    case = new_case(session, actor)
    for key in ("a", "b"):
        service.compensate(session, case_id=case.id, actor=actor,
                           data=CompensationRequest(kind="points", points=50, compensation_id=key, description="x"))
    assert ledger.get_balance(session, case.customer_id).available == 100


def test_points_and_voucher_need_a_compensation_id(session, actor) -> None:
    case = new_case(session, actor)
    before = snapshot(session, case.id)
    with pytest.raises(ValidationFailed) as err:
        service.compensate(session, case_id=case.id, actor=actor,
                           data=CompensationRequest(kind="points", points=50, description="x"))
    assert err.value.field == "compensation_id"
    with pytest.raises(ValidationFailed) as err:
        service.compensate(session, case_id=case.id, actor=actor,
                           data=CompensationRequest(kind="voucher", compensation_id="v", description="x"))
    assert err.value.field == "reward_id"
    assert snapshot(session, case.id) == before


def test_voucher_compensation_issues_a_catalogue_voucher_once(session, actor) -> None:
    reward = rewards.create_reward(session, actor=actor, data=RewardCreate(
        kind="gift", name="Flowers", description="A bouquet", cost_points=400, stock=3))
    case = new_case(session, actor)
    request = CompensationRequest(kind="voucher", reward_id=reward.id, compensation_id="v1", description="Flowers")
    first = service.compensate(session, case_id=case.id, data=request, actor=actor)
    again = service.compensate(session, case_id=case.id, data=request, actor=actor)
    assert again == first
    assert first.voucher_code is not None and first.redemption_id is not None
    vouchers = rewards.list_vouchers(session, case.customer_id)
    assert [(v.code, v.status) for v in vouchers] == [(first.voucher_code, "issued")]
    # Credited as compensation, spent on the reward: net zero, cost on the compensation account.
    assert _entries(session, case.customer_id) == [
        ("compensation", 400, f"case-{case.id}-comp-v1"), ("redeem", -400, f"case-{case.id}-comp-v1-voucher"),
    ]
    assert ledger.get_balance(session, case.customer_id).available == 0
    assert rewards.get_reward(session, reward.id).stock == 2


def test_voucher_out_of_stock_leaves_nothing(session, actor) -> None:
    reward = rewards.create_reward(session, actor=actor, data=RewardCreate(
        kind="gift", name="Mug", description="A mug", cost_points=100, stock=0))
    case = new_case(session, actor)
    before = snapshot(session, case.id)
    with pytest.raises(LimitExceeded):
        service.compensate(session, case_id=case.id, actor=actor, data=CompensationRequest(
            kind="voucher", reward_id=reward.id, compensation_id="v", description="Mug"))
    assert snapshot(session, case.id) == before
    assert _entries(session, case.customer_id) == []


def test_gesture_is_recorded_and_on_the_timeline(session, actor) -> None:
    case = new_case(session, actor)
    action = service.compensate(session, case_id=case.id, actor=actor, data=CompensationRequest(
        kind="gesture", description="Handwritten apology card"))
    assert (action.kind, action.points, action.ledger_entry_id) == ("gesture", None, None)
    row = session.scalars(select(Interaction).where(Interaction.customer_id == case.customer_id,
                                                    Interaction.kind == "complaint")
                          .order_by(Interaction.id.desc())).first()
    assert row.data == {"case_id": case.id, "compensation": "gesture", "action_id": action.id}
    assert _entries(session, case.customer_id) == []


def test_a_compensation_counts_as_the_action_taken(session, actor) -> None:
    case = new_case(session, actor)
    service.acknowledge(session, case_id=case.id, text="Sorry", actor=actor)
    service.compensate(session, case_id=case.id, actor=actor, data=CompensationRequest(
        kind="gesture", description="Free gift wrap next time"))
    assert service.resolve(session, case_id=case.id, resolution="Compensated", actor=actor).state == "resolved"


def test_a_closed_case_takes_no_actions(session, actor) -> None:
    cid = drive_to(session, actor, "closed")
    before = snapshot(session, cid)
    with pytest.raises(InvalidState):
        service.add_action(session, case_id=cid, description="late", actor=actor)
    with pytest.raises(InvalidState):
        service.compensate(session, case_id=cid, actor=actor, data=CompensationRequest(
            kind="points", points=10, compensation_id="late", description="late"))
    assert snapshot(session, cid) == before
    count = session.scalar(select(func.count()).select_from(LedgerEntry)
                           .where(LedgerEntry.idempotency_key == f"case-{cid}-comp-late"))
    assert count == 0

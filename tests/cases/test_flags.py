"""Staff flags: raise, confirm/dismiss by a manager, recognition leaderboard, customer summary."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.cases import service
from loyalist.cases.models import StaffFlag, StaffRecognition
from loyalist.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from loyalist.interactions.models import Interaction
from loyalist.staff.schemas import Role
from loyalist.types import Actor

from .conftest import at, make_customer, make_staff


def _state(session) -> tuple:
    session.flush()
    session.expire_all()
    flags = [(f.id, f.status, f.decided_by) for f in session.scalars(select(StaffFlag).order_by(StaffFlag.id))]
    recog = session.scalar(select(func.count()).select_from(StaffRecognition))
    timeline = session.scalar(select(func.count()).select_from(Interaction))
    return flags, recog, timeline


def test_flag_confirm_and_leaderboard(session, actor) -> None:
    anna = make_staff(session, actor, name="Anna")
    bo = make_staff(session, actor, name="Bo")
    customer = make_customer(session, actor)
    other = make_customer(session, actor)
    with clock.frozen_at(at(10, 12)):
        f1 = service.flag_customer(session, customer_id=customer, reason_code="angry_or_upset", note="Shouted",
                                   staff_id=anna, actor=actor)
        f2 = service.flag_customer(session, customer_id=other, reason_code="price", staff_id=anna, actor=actor)
        f3 = service.flag_customer(session, customer_id=customer, reason_code="slow_response", staff_id=bo,
                                   actor=actor)
        assert service.open_flags_count(session, customer) == 2
        assert [f.id for f in service.list_flags(session, status="open").items] == [f1.id, f2.id, f3.id]
        confirmed = service.confirm_flag(session, flag_id=f1.id, note="Agreed", actor=actor)
        service.confirm_flag(session, flag_id=f2.id, actor=actor)
        service.dismiss_flag(session, flag_id=f3.id, note="Misread", actor=actor)
    assert (confirmed.status, confirmed.decided_by, confirmed.decision_note) == ("confirmed", actor.label, "Agreed")
    assert service.open_flags_count(session, customer) == 0
    assert [(r.staff_id, r.name, r.points, r.confirmed_flags) for r in service.leaderboard(session, period="2026-03")] \
        == [(anna, "Anna", 20, 2)]
    assert service.leaderboard(session, period="2026-04") == []
    summary = service.customer_summary(session, customer)
    assert (summary.open_flags, summary.confirmed_flags, summary.dismissed_flags, summary.last_flag_at) == (
        0, 1, 1, at(10, 12))
    kinds = [i.data["status"] for i in session.scalars(
        select(Interaction).where(Interaction.customer_id == customer, Interaction.kind == "staff_flag")
        .order_by(Interaction.id))]
    assert kinds == ["open", "open", "confirmed", "dismissed"]


def test_decided_flags_cannot_be_decided_again(session, actor) -> None:
    anna = make_staff(session, actor)
    flag = service.flag_customer(session, customer_id=make_customer(session, actor), reason_code="quality",
                                 staff_id=anna, actor=actor)
    service.confirm_flag(session, flag_id=flag.id, actor=actor)
    before = _state(session)
    with pytest.raises(InvalidState):
        service.confirm_flag(session, flag_id=flag.id, actor=actor)
    with pytest.raises(InvalidState):
        service.dismiss_flag(session, flag_id=flag.id, actor=actor)
    assert _state(session) == before


def test_nobody_confirms_their_own_flag(session, actor) -> None:
    boss = make_staff(session, actor, Role.manager)
    me = Actor(kind="staff", id=boss, name="boss", role="manager")
    flag = service.flag_customer(session, customer_id=make_customer(session, actor), reason_code="other", actor=me)
    assert flag.staff_id == boss
    before = _state(session)
    with pytest.raises(PermissionDenied):
        service.confirm_flag(session, flag_id=flag.id, actor=me)
    assert _state(session) == before


def test_bad_flags_are_refused(session, actor) -> None:
    anna = make_staff(session, actor)
    customer = make_customer(session, actor)
    service.flag_customer(session, customer_id=customer, reason_code="price", staff_id=anna, actor=actor)
    before = _state(session)
    with pytest.raises(Conflict) as err:
        service.flag_customer(session, customer_id=customer, reason_code="price", staff_id=anna, actor=actor)
    assert err.value.field == "reason_code"
    with pytest.raises(ValidationFailed) as err:
        service.flag_customer(session, customer_id=customer, reason_code="bored", staff_id=anna, actor=actor)
    assert err.value.field == "reason_code"
    with pytest.raises(ValidationFailed) as err:  # an actor with no staff user behind it must say who
        service.flag_customer(session, customer_id=customer, reason_code="quality", actor=actor)
    assert err.value.field == "staff_id"
    with pytest.raises(ValidationFailed) as err:
        service.flag_customer(session, customer_id=customer, reason_code="quality", staff_id=987654, actor=actor)
    assert err.value.field == "staff_id"
    assert _state(session) == before
    with pytest.raises(ValidationFailed) as err:
        service.leaderboard(session, period="March")
    assert err.value.field == "period"
